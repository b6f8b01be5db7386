"""Throughput of `lime` next to pptrain 0.3.0's `lime` family, same process.

Tokens per second of generated examples, single process, per preset. Ours: sequential
reads of a :class:`~pptrain_core.data.VirtualDataset` (blocks of 64 examples, the way a
DataLoader worker reads). pptrain 0.3.0: its own per-example sampler
(``_sample_bounded_example``, what its ``build_datasets`` loops over), with every 0.3.0
preset run; a preset that raises is recorded as a row with the error.

Ours and the matching 0.3.0 preset are timed interleaved: ``--repeats`` times, ours for
``--seconds`` then 0.3.0's for ``--seconds``. The table gives each side's median tokens/s
and the speed-up as the median of the per-repeat ratios, so load drift on a shared machine
hits both columns alike. Examples differ in size between the two (0.3.0 draws 3-5 of 26
letters, 8-26 lower and 3-7 of 7 math characters per example; ours the reference's 68
symbols), so the example rate is printed too.

pptrain 0.3.0's import name ``pptrain`` clashes with our meta-package, so install it
into its own directory first:

    pip install --no-deps --target /tmp/pptrain030 pptrain==0.3.0
    python benchmarks/bench_lime.py [--seconds 0.3] [--repeats 5] [--old /tmp/pptrain030]

Prints a markdown table (paste it into docs/tasks/lime.md with machine, date and
command). Nothing here is a test.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import datetime, timezone

from _common import add_doc_arg, interleaved, tee_section

from pptrain_core.config import structure
from pptrain_core.data import VirtualDataset
from pptrain_lime.specs import LIME, LimeConfig

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


class Ours:
    """Sequential reads of one preset's dataset; :meth:`run` continues where it stopped."""

    def __init__(self, preset_name: str):
        cfg = structure(dict(LIME.preset(preset_name).values), LimeConfig)
        self.ds = VirtualDataset(LIME.build(cfg), seed=0, split="train", length=10**12)
        self.i = 0
        self.examples = self.tokens = 0

    def run(self, seconds: float) -> float:
        ds, i, tokens = self.ds, self.i, 0
        t0 = time.perf_counter()
        while True:
            for _ in range(64):
                tokens += len(ds[i])
                i += 1
            dt = time.perf_counter() - t0
            if dt >= seconds:
                self.examples += i - self.i
                self.tokens += tokens
                self.i = i
                return tokens / dt


class Old:
    """pptrain 0.3.0's per-example sampler for one of its presets; :meth:`run` continues."""

    def __init__(self, family, rng):
        self.family, self.spec, self.rng = family, family.tokenizer_spec(), rng
        self.examples = self.tokens = 0

    def run(self, seconds: float) -> float:
        tokens = 0
        t0 = time.perf_counter()
        while True:
            for _ in range(16):
                toks, _meta = self.family._sample_bounded_example(self.rng, self.spec)
                tokens += len(toks) - 1  # 0.3.0 trains on tokens[:-1]
            self.examples += 16
            dt = time.perf_counter() - t0
            if dt >= seconds:
                self.tokens += tokens
                return tokens / dt


def old_samplers(path: str) -> dict[str, Old | str]:
    """A sampler, or 'crash: ...' when building or sampling fails, for every 0.3.0 preset."""
    sys.path.insert(0, path)
    import numpy as np
    from pptrain.tasks.lime import LIME_PRESETS, LIMEConfig, LIMETaskFamily

    keys = set(LIMEConfig.__dataclass_fields__)
    out: dict[str, Old | str] = {}
    for preset in LIME_PRESETS:
        try:
            cfg = LIMEConfig(**{k: v for k, v in preset.config.items() if k in keys})
            sampler = Old(LIMETaskFamily(cfg), np.random.default_rng(0))
            sampler.run(0.0)  # warm up; a preset that raises is recorded, never stops the run
            out[preset.name] = sampler
        except Exception as exc:
            out[preset.name] = f"crash: {type(exc).__name__}: {str(exc)[:80]}"
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=0.3, help="time per repeat, preset and library")
    ap.add_argument("--repeats", type=int, default=5, help="alternating repeats per preset (median)")
    ap.add_argument("--only", nargs="*", default=None, help="time only these presets of ours (and their matches)")
    ap.add_argument("--old", default="/tmp/pptrain030", help="directory holding pptrain 0.3.0")
    add_doc_arg(ap)
    args = ap.parse_args()
    with tee_section(args.doc, "lime", args.old, __doc__):
        _main(args)


def _main(args) -> None:

    old = old_samplers(args.old) if os.path.isdir(os.path.join(args.old, "pptrain")) else {}
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"Machine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}; single process; "
        f"load average {load:.1f} at the start."
    )
    print(
        f"Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC. Command: `python benchmarks/bench_lime.py "
        f"--seconds {args.seconds} --repeats {args.repeats}`.\n"
    )
    print(
        "| preset (ours) | ours tokens/s | ours tokens/example | pptrain 0.3.0 preset | 0.3.0 tokens/s "
        "| 0.3.0 tokens/example | speed-up (tokens/s) |"
    )
    print("|---|---:|---:|---|---:|---:|---:|")

    def fmt(rate: float | None) -> str:
        return "-" if rate is None else f"{rate:,.0f}"

    def per_example(sampler: Ours | Old | None) -> str:
        if sampler is None or not sampler.examples:
            return "-"
        return f"{sampler.tokens / sampler.examples:.0f}"

    used = set()
    for preset in LIME.presets:
        if args.only is not None and preset.name not in args.only:
            continue
        mine = Ours(preset.name)
        mine.run(0.0)  # warm up
        mine.examples = mine.tokens = 0
        match = OLD_MATCH.get(preset.name)
        theirs = old.get(match) if match else None
        used.add(match)
        if isinstance(theirs, str):  # crashed
            rate, _, _ = interleaved(mine, None, args.seconds, args.repeats)
            print(f"| {preset.name} | {fmt(rate)} | {per_example(mine)} | {match} | {theirs} | - | - |")
            continue
        if theirs is not None:
            theirs.examples = theirs.tokens = 0
        rate, old_rate, ratio = interleaved(mine, theirs, args.seconds, args.repeats)
        speed = "-" if ratio is None else f"{ratio:.1f}x"
        print(
            f"| {preset.name} | {fmt(rate)} | {per_example(mine)} | "
            f"{match if theirs else '-'} | {fmt(old_rate)} | {per_example(theirs)} | {speed} |"
        )
    for name, sampler in old.items():
        if name not in used and args.only is None:
            if isinstance(sampler, str):
                print(f"| - | - | - | {name} | {sampler} | - | - |")
            else:
                sampler.examples = sampler.tokens = 0
                _, old_rate, _ = interleaved(None, sampler, args.seconds, args.repeats)
                print(f"| - | - | - | {name} | {fmt(old_rate)} | {per_example(sampler)} | - |")


if __name__ == "__main__":
    main()
