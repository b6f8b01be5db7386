"""Throughput of `lime` next to pptrain 0.3.0's `lime` family, same process.

Examples differ in size between the two (0.3.0 draws 3-5 of 26 letters, 8-26 lower and
3-7 of 7 math characters per example; ours the reference's 68 symbols), hence the
tokens-per-example columns.

pptrain 0.3.0's import name ``pptrain`` clashes with our meta-package, so install it
into its own directory first:

    pip install --no-deps --target /tmp/pptrain030 pptrain==0.3.0
    python benchmarks/bench_lime.py [--seconds 0.3] [--repeats 5] [--ref-path /tmp/pptrain030]

How ours and 0.3.0 are timed, and the table: `_family_bench.py`. Nothing here is a test.
"""

from __future__ import annotations

import _family_bench

from pptrain_lime.specs import LIME

#: our preset -> the pptrain 0.3.0 preset generating the same mode mix (its sizes differ)
OLD_MATCH = {
    "paper_mixed_5m": "paper_mixed_5m",
    "paper_mixed_1m": "paper_benchmark_1m",
    "paper_mixed_100k": "paper_benchmark_100k",
    "paper_induct": "paper_individual_1m_induct",
    "paper_deduct": "paper_individual_1m_deduct",
    "paper_abduct": "paper_individual_1m_abduct",
    "smoke": "smoke",
}


def old_families():
    from pptrain.tasks.lime import LIME_PRESETS, LIMEConfig, LIMETaskFamily

    keys = set(LIMEConfig.__dataclass_fields__)  # 0.3.0's presets carry keys its config rejects
    for preset in LIME_PRESETS:
        yield (
            preset.name,
            lambda p=preset: LIMETaskFamily(LIMEConfig(**{k: v for k, v in p.config.items() if k in keys})),
        )


if __name__ == "__main__":
    _family_bench.main(section="lime", family=LIME, match=OLD_MATCH, old_families=old_families, docstring=__doc__)
