"""Throughput of `dyck` next to pptrain 0.3.0's `dyck` family, same process.

Each 0.3.0 preset is also checked: the share of its sequences (brackets between its BOS and
EOS) that are balanced Dyck words, since a generator that emits unbalanced strings would be
wrong however fast it is. The two do not draw the same lengths: ours the paper's fixed
lengths (2048 tokens for k=64, 256 for small_k8), 0.3.0 a random number of pairs in its
preset's range.

pptrain 0.3.0's import name ``pptrain`` clashes with our meta-package, so install it
into its own directory first:

    pip install --no-deps --target /tmp/pptrain030 pptrain==0.3.0
    python benchmarks/bench_dyck.py [--seconds 0.5] [--repeats 5] [--ref-path /tmp/pptrain030]

How ours and 0.3.0 are timed, and the table: `_family_bench.py`. Nothing here is a test.
"""

from __future__ import annotations

import _family_bench

from pptrain_dyck.dyck_specs import DYCK

#: our preset -> 0.3.0's closest preset (same k; 0.3.0 has no Hu et al. variant, no k=4 smoke)
MATCH = {"paper_k64": "paper_k64", "paper_hu_k64": "paper_k64", "small_k8": "paper_k8", "smoke": "smoke"}


def balanced_share(sampler: _family_bench.Old, n: int = 200) -> str:
    """The share of ``n`` 0.3.0 sequences that are a balanced Dyck word between BOS and EOS."""
    k = sampler.family.config.num_bracket_types
    ok = 0
    for _ in range(n):
        toks = sampler.sample()
        stack: list[int] = []
        good = toks[0] == sampler.spec.bos_token_id and toks[-1] == sampler.spec.eos_token_id
        for t in toks[1:-1]:
            if t < k:
                stack.append(t)
            elif not stack or stack.pop() != t - k:
                good = False
                break
        ok += good and not stack
    return f"{ok / n:.0%}"


def old_families():
    from pptrain.core.registry import create_task as old_create
    from pptrain.core.registry import registered_presets

    for preset in registered_presets("dyck"):
        yield preset.name, lambda name=preset.name: old_create("dyck", {"preset": name})


if __name__ == "__main__":
    _family_bench.main(
        section="dyck", family=DYCK, match=MATCH, old_families=old_families, docstring=__doc__, seconds=0.5,
        check=("0.3.0 balanced", balanced_share),
    )  # fmt: skip
