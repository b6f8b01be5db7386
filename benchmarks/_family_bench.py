"""The table the per-family benchmarks next to pptrain 0.3.0 share (`dyck`, `simpler_tasks`,
`lime`, `summarization`): generation throughput of every preset of ours beside the 0.3.0
preset that generates the same task.

Ours: sequential reads of the preset's :class:`~pptrain_core.data.VirtualDataset` (the path
training uses; the clock is read every 16 examples). pptrain 0.3.0: its own per-example
sampler (``_sample_bounded_example``, what its ``build_datasets`` loops over), counting the
``tokens[:-1]`` it trains on, for every one of its presets; a preset that raises while it is
built or sampled is a row with the error, never the end of the run. Both are timed
interleaved (:func:`_common.interleaved`): medians, and the median of the per-repeat ratios.
Examples differ in size between the libraries, so tokens per example is shown for both;
tokens/s is the fair unit for a loader.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterable
from typing import Any

from _common import DEFAULT_REF, add_doc_arg, fmt_rate, import_ref, interleaved, tee_section

from pptrain_core.data import VirtualDataset
from pptrain_core.tasks import create_task

_BLOCK = 16  # examples between two reads of the clock


class _Timed:
    """A sampler timed in blocks of examples; :meth:`run` continues where it stopped and counts
    the examples and tokens it has drawn since :meth:`reset`."""

    examples = tokens = 0

    def one(self) -> int:  # the tokens of the next example
        raise NotImplementedError

    def reset(self) -> None:
        self.examples = self.tokens = 0

    def run(self, seconds: float) -> float:
        tokens, t0 = 0, time.perf_counter()
        while True:
            for _ in range(_BLOCK):
                tokens += self.one()
            self.examples += _BLOCK
            dt = time.perf_counter() - t0
            if dt >= seconds:
                self.tokens += tokens
                return tokens / dt

    def per_example(self) -> str:
        return f"{self.tokens / self.examples:.0f}" if self.examples else "-"


class Ours(_Timed):
    """Sequential reads of one preset's dataset (``ref``: ``family:preset``)."""

    def __init__(self, ref: str):
        self.ds = VirtualDataset(create_task(ref).build(), seed=0, split="train", length=10**12)
        self.i = 0

    def one(self) -> int:
        self.i += 1
        return len(self.ds[self.i - 1])


class Old(_Timed):
    """pptrain 0.3.0's per-example sampler for one of its task families."""

    def __init__(self, family: Any, rng: Any):
        self.family, self.spec, self.rng = family, family.tokenizer_spec(), rng

    def sample(self) -> list[int]:
        toks, _meta = self.family._sample_bounded_example(self.rng, self.spec)
        return toks

    def one(self) -> int:
        return len(self.sample()) - 1  # 0.3.0 trains on tokens[:-1]


def old_samplers(ref_path: str, families: Callable[[], Iterable[tuple[str, Callable[[], Any]]]]) -> dict[str, Any]:
    """A warmed-up :class:`Old` per 0.3.0 preset, or ``'crash: ...'`` where building or sampling it
    fails. ``families``: called once 0.3.0 is importable; yields (preset name, a function building
    that preset's 0.3.0 task family)."""
    import numpy as np

    import_ref(ref_path)
    out: dict[str, Any] = {}
    for name, build in families():
        try:
            sampler = Old(build(), np.random.default_rng(0))
            sampler.run(0.0)
            out[name] = sampler
        except Exception as exc:  # a crash is a row
            out[name] = f"crash: {type(exc).__name__}: {str(exc)[:80]}"
    return out


def main(
    *,
    section: str,
    family: Any,
    match: dict[str, str],
    old_families: Callable[[], Iterable[tuple[str, Callable[[], Any]]]],
    docstring: str,
    seconds: float = 0.3,
    check: tuple[str, Callable[[Old], str]] | None = None,
) -> None:
    """The script: ``family`` (our spec: its presets), ``match`` (our preset -> the 0.3.0 preset
    generating the same task; a preset without one looks for ``<name>_100k``), ``check`` (a
    column name and what to show for each 0.3.0 sampler, e.g. whether its output is valid)."""
    ap = argparse.ArgumentParser(description=docstring.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=seconds, help="time per repeat, preset and library")
    ap.add_argument("--repeats", type=int, default=5, help="alternating repeats per preset (median)")
    ap.add_argument("--only", nargs="*", default=None, help="time only these presets of ours (and their matches)")
    ap.add_argument("--ref-path", "--old", dest="ref_path", default=DEFAULT_REF, help="directory holding pptrain 0.3.0")
    add_doc_arg(ap)
    args = ap.parse_args()
    with tee_section(args.doc, section, args.ref_path, _with_method(docstring)):
        _table(args, family, match, old_samplers(args.ref_path, old_families), check)


def _with_method(docstring: str) -> str:
    """A script's docstring with this module's account of the method after its title paragraph
    (the description its section of docs/benchmarks.md shows)."""
    title, _, rest = docstring.partition("\n\n")
    method = __doc__.split("\n\n", 1)[1].strip()
    return f"{title}\n\n{method}\n\n{rest}"


def _table(args: Any, family: Any, match: dict[str, str], old: dict[str, Any], check: Any) -> None:
    extra = f" {check[0]} |" if check else ""
    print(
        "| preset (ours) | ours tokens/s | ours tokens/example | pptrain 0.3.0 preset | 0.3.0 tokens/s "
        f"| 0.3.0 tokens/example | speed-up (tokens/s) |{extra}"
    )
    print("|---|---:|---:|---|---:|---:|---:|" + ("---:|" if check else ""))

    def row(ours: str, mine: Ours | None, rate: Any, name: str, theirs: Any, old_rate: Any, ratio: Any) -> None:
        if isinstance(theirs, str):  # 0.3.0 crashed on this preset
            cells = [theirs, "-", "-"] + (["-"] if check else [])
        else:
            cells = [
                fmt_rate(old_rate),
                theirs.per_example() if theirs else "-",
                "-" if ratio is None else f"{ratio:.1f}x",
            ]
            cells += [check[1](theirs) if theirs else "-"] if check else []
        print(
            f"| {ours} | {fmt_rate(rate)} | {mine.per_example() if mine else '-'} | {name} | "
            + " | ".join(cells)
            + " |",
            flush=True,
        )

    used = set()
    for preset in family.presets:
        if args.only is not None and preset.name not in args.only:
            continue
        mine = Ours(f"{family.name}:{preset.name}")
        mine.run(0.0)  # warm up
        mine.reset()
        name = match.get(preset.name) or (f"{preset.name}_100k" if f"{preset.name}_100k" in old else None)
        theirs = old.get(name) if name else None
        used.add(name)
        if theirs is None or isinstance(theirs, str):
            rate, _, _ = interleaved(mine, None, args.seconds, args.repeats)
            row(f"`{preset.name}`", mine, rate, f"`{name}`" if theirs else "-", theirs, None, None)
            continue
        theirs.reset()
        rate, old_rate, ratio = interleaved(mine, theirs, args.seconds, args.repeats)
        row(f"`{preset.name}`", mine, rate, f"`{name}`", theirs, old_rate, ratio)
    if args.only is not None:
        return
    for name, sampler in old.items():
        if name in used:
            continue
        old_rate = None
        if not isinstance(sampler, str):
            sampler.reset()
            _, old_rate, _ = interleaved(None, sampler, args.seconds, args.repeats)
        row("-", None, None, f"`{name}`", sampler, old_rate, None)
