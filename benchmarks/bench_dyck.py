"""Throughput of `dyck` next to pptrain 0.3.0's `dyck` family, same process.

Tokens per second of generated examples, single process, per preset. Ours: sequential
reads of a ``VirtualDataset`` (the path training uses). pptrain 0.3.0: its own per-example
sampler (``_sample_bounded_example``, what its ``build_datasets`` loops over, counting the
``tokens[:-1]`` it trains on), for every one of its presets; a preset that raises is a row
with the error. Each 0.3.0 preset is also checked: the share of its sequences (brackets
between its BOS and EOS) that are balanced Dyck words, since a generator that emits
unbalanced strings would be wrong however fast it is.

Ours and the matching 0.3.0 preset are timed interleaved, ``--repeats`` times ``--seconds``
each; medians and the median of the per-repeat ratios. The two do not draw the same
lengths: ours the paper's fixed lengths (2048 tokens for k=64, 256 for small_k8), 0.3.0
a random number of pairs in its preset's range; tokens/s is the fair unit for a loader.

    pip install --no-deps --target /tmp/pptrain030 pptrain==0.3.0
    python benchmarks/bench_dyck.py [--seconds 0.5] [--repeats 5] [--ref-path /tmp/pptrain030]

The table's layout is `_family_bench.py`'s; this script adds the balanced share.
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
