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
"""

from __future__ import annotations

import argparse
import time

from _common import DEFAULT_REF, add_doc_arg, fmt_rate, import_ref, interleave, median, tee_section

from pptrain_core.data import VirtualDataset
from pptrain_core.tasks import create_task

#: our preset -> 0.3.0's closest preset (same k; 0.3.0 has no Hu et al. variant, no k=4 smoke)
MATCH = {"paper_k64": "paper_k64", "paper_hu_k64": "paper_k64", "small_k8": "paper_k8", "smoke": "smoke"}


class Ours:
    def __init__(self, preset: str):
        self.ds = VirtualDataset(create_task(f"dyck:{preset}").build(), seed=0, split="train", length=10**12)
        self.i = 0

    def run(self, seconds: float) -> float:
        tokens, t0 = 0, time.perf_counter()
        while True:
            for _ in range(16):
                tokens += len(self.ds[self.i])
                self.i += 1
            dt = time.perf_counter() - t0
            if dt >= seconds:
                return tokens / dt


class Old:
    def __init__(self, family, rng):
        self.family, self.spec, self.rng = family, family.tokenizer_spec(), rng

    def run(self, seconds: float) -> float:
        tokens, t0 = 0, time.perf_counter()
        while True:
            for _ in range(16):
                toks, _ = self.family._sample_bounded_example(self.rng, self.spec)
                tokens += len(toks) - 1
            dt = time.perf_counter() - t0
            if dt >= seconds:
                return tokens / dt

    def balanced_share(self, n: int = 200) -> float:
        k = self.family.config.num_bracket_types
        ok = 0
        for _ in range(n):
            toks, _ = self.family._sample_bounded_example(self.rng, self.spec)
            stack: list[int] = []
            good = toks[0] == self.spec.bos_token_id and toks[-1] == self.spec.eos_token_id
            for t in toks[1:-1]:
                if t < k:
                    stack.append(t)
                elif not stack or stack.pop() != t - k:
                    good = False
                    break
            ok += good and not stack
        return ok / n


def old_samplers(ref_path: str) -> dict[str, Old | str]:
    import numpy as np

    import_ref(ref_path)
    from pptrain.core.registry import create_task as old_create
    from pptrain.core.registry import registered_presets

    out: dict[str, Old | str] = {}
    for preset in registered_presets("dyck"):
        try:
            sampler = Old(old_create("dyck", {"preset": preset.name}), np.random.default_rng(0))
            sampler.run(0.0)
            out[preset.name] = sampler
        except Exception as exc:  # a crash is a row
            out[preset.name] = f"crash: {type(exc).__name__}: {str(exc)[:80]}"
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=0.5)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--ref-path", default=DEFAULT_REF)
    add_doc_arg(ap)
    args = ap.parse_args()
    with tee_section(args.doc, "dyck", args.ref_path, __doc__):
        _main(args)


def _main(args) -> None:
    old = old_samplers(args.ref_path)
    print("| preset (ours) | ours tokens/s | pptrain 0.3.0 preset | 0.3.0 tokens/s | speed-up | 0.3.0 balanced |")
    print("|---|---:|---|---:|---:|---:|")
    used = set()
    for preset, match in MATCH.items():
        mine = Ours(preset)
        mine.run(0.0)
        theirs = old.get(match)
        used.add(match)
        if isinstance(theirs, str) or theirs is None:
            rate = median(interleave([lambda m=mine: m.run(args.seconds)], args.repeats)[0])
            print(f"| `{preset}` | {fmt_rate(rate)} | `{match}` | {theirs or '-'} | - | - |")
            continue
        a, b = interleave([lambda m=mine: m.run(args.seconds), lambda o=theirs: o.run(args.seconds)], args.repeats)
        ratio = median([x / y for x, y in zip(a, b, strict=True)])
        print(
            f"| `{preset}` | {fmt_rate(median(a))} | `{match}` | {fmt_rate(median(b))} | {ratio:.1f}x "
            f"| {theirs.balanced_share():.0%} |",
            flush=True,
        )
    for name, sampler in old.items():
        if name in used:
            continue
        if isinstance(sampler, str):
            print(f"| - | - | `{name}` | {sampler} | - | - |")
        else:
            rate = median(interleave([lambda s=sampler: s.run(args.seconds)], args.repeats)[0])
            print(f"| - | - | `{name}` | {fmt_rate(rate)} | - | {sampler.balanced_share():.0%} |")


if __name__ == "__main__":
    main()
