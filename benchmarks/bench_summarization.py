"""Throughput of `summarization` next to pptrain 0.3.0's `summarization` family, same process.

Tokens per second of generated examples, single process, per preset. Ours: sequential
reads of a :class:`~pptrain_core.data.VirtualDataset` (blocks of 32 examples, the way a
DataLoader worker reads). pptrain 0.3.0: its own per-example sampler
(``_sample_bounded_example``, what its ``build_datasets`` loops over), with every 0.3.0
preset run; a preset that raises is recorded as a row with the error.

Ours and the matching 0.3.0 preset are timed interleaved: ``--repeats`` times, ours for
``--seconds`` then 0.3.0's for ``--seconds``. The table gives each side's median tokens/s
and the speed-up as the median of the per-repeat ratios, so load drift on a shared machine
hits both columns alike.

pptrain 0.3.0's import name ``pptrain`` clashes with our meta-package, so install it
into its own directory first:

    pip install --no-deps --target /tmp/pptrain030 pptrain==0.3.0
    python benchmarks/bench_summarization.py [--seconds 0.3] [--repeats 5] [--old /tmp/pptrain030]

Prints a markdown table (paste it into docs/tasks/summarization.md with machine, date
and command). Nothing here is a test.
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
from pptrain_summarization.specs import SUMMARIZATION, SummarizationConfig

#: our preset -> the pptrain 0.3.0 preset generating the same task (its sizes and semantics differ)
OLD_MATCH = {
    "paper_ourtasks": "paper_ourtasks_subset_100k",
    "paper_step_sentence_reordering": "paper_sentence_reordering_100k",
    "paper_step_next_sentence": "paper_next_sentence_100k",
    "paper_step_masked_document": "paper_masked_document_100k",
    "paper_step_mixture": "paper_step_tasks_100k",
    "ourtasks_copy_keyword_one": "paper_copy_keyword_sentence_100k",
    "ourtasks_copy_keyword_multiple": "paper_copy_keyword_multiple_in_order_100k",
    "ourtasks_copy_keyword_shuffled": "paper_copy_keyword_multiple_shuffled_100k",
    "ourtasks_copy_keyword_sorted": "paper_copy_keyword_multiple_sorted_100k",
    "ourtasks_copy_quoted": "paper_copy_quoted_100k",
    "ourtasks_copy_bulleted": "paper_copy_bulleted_100k",
    "ourtasks_truncate_sentence": "paper_truncate_sentence_100k",
    "smoke": "smoke",
}


class Ours:
    """Sequential reads of one preset's dataset; :meth:`run` continues where it stopped."""

    def __init__(self, preset_name: str):
        cfg = structure(dict(SUMMARIZATION.preset(preset_name).values), SummarizationConfig)
        self.ds = VirtualDataset(SUMMARIZATION.build(cfg), seed=0, split="train", length=10**12)
        self.i = 0

    def run(self, seconds: float) -> float:
        ds, i, tokens = self.ds, self.i, 0
        t0 = time.perf_counter()
        while True:
            for _ in range(64):
                tokens += len(ds[i])
                i += 1
            dt = time.perf_counter() - t0
            if dt >= seconds:
                self.i = i
                return tokens / dt


class Old:
    """pptrain 0.3.0's per-example sampler for one of its presets; :meth:`run` continues."""

    def __init__(self, family, rng):
        self.family, self.spec, self.rng = family, family.tokenizer_spec(), rng

    def run(self, seconds: float) -> float:
        tokens = 0
        t0 = time.perf_counter()
        while True:
            for _ in range(16):
                toks, _meta = self.family._sample_bounded_example(self.rng, self.spec)
                tokens += len(toks) - 1  # 0.3.0 trains on tokens[:-1]
            dt = time.perf_counter() - t0
            if dt >= seconds:
                return tokens / dt


def old_samplers(path: str) -> dict[str, Old | str]:
    """A sampler, or 'crash: ...' when building or sampling fails, for every 0.3.0 preset."""
    sys.path.insert(0, path)
    import numpy as np
    from pptrain.tasks.summarization.config import SUMMARIZATION_PRESETS
    from pptrain.tasks.summarization.config import SummarizationConfig as OldConfig
    from pptrain.tasks.summarization.task import SummarizationTaskFamily

    out: dict[str, Old | str] = {}
    for preset in SUMMARIZATION_PRESETS:
        try:
            sampler = Old(SummarizationTaskFamily(OldConfig(**preset.config)), np.random.default_rng(0))
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
    with tee_section(args.doc, "summarization", args.old, __doc__):
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
        f"Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC. Command: `python benchmarks/bench_summarization.py "
        f"--seconds {args.seconds} --repeats {args.repeats}`.\n"
    )
    print("| preset (ours) | ours tokens/s | pptrain 0.3.0 preset | 0.3.0 tokens/s | speed-up |")
    print("|---|---:|---|---:|---:|")

    def fmt(rate: float | None) -> str:
        return "-" if rate is None else f"{rate:,.0f}"

    used = set()
    for preset in SUMMARIZATION.presets:
        if args.only is not None and preset.name not in args.only:
            continue
        mine = Ours(preset.name)
        mine.run(0.0)  # warm up
        match = OLD_MATCH.get(preset.name)
        if match is None and f"{preset.name}_100k" in old:
            match = f"{preset.name}_100k"
        theirs = old.get(match) if match else None
        used.add(match)
        if isinstance(theirs, str):  # crashed
            rate, _, _ = interleaved(mine, None, args.seconds, args.repeats)
            print(f"| {preset.name} | {fmt(rate)} | {match} | {theirs} | - |")
            continue
        rate, old_rate, ratio = interleaved(mine, theirs, args.seconds, args.repeats)
        speed = "-" if ratio is None else f"{ratio:.1f}x"
        print(f"| {preset.name} | {fmt(rate)} | {match if theirs else '-'} | {fmt(old_rate)} | {speed} |")
    for name, sampler in old.items():
        if name not in used and args.only is None:
            if isinstance(sampler, str):
                print(f"| - | - | {name} | {sampler} | - |")
            else:
                _, old_rate, _ = interleaved(None, sampler, args.seconds, args.repeats)
                print(f"| - | - | {name} | {fmt(old_rate)} | - |")


if __name__ == "__main__":
    main()
