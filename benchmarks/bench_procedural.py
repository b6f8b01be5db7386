"""Throughput of the procedural programs (pptrain-procedural) next to pptrain 0.3.0's, in one run.

Tokens per second, single process, per preset: ours read sequentially through a
``VirtualDataset`` (block generation, ``Example`` objects and the block cache included);
pptrain 0.3.0's ``procedural`` family through its own ``_generate_examples`` (per-example
sampling, its bounded-length resampling and label lists included) for its preset of the
same program and length (``paper_<program>_len<L>``). Programs 0.3.0 does not have
(stack, ECA rule 110, ww, the mixture) get a "-" there; a 0.3.0 preset that raises is
recorded as a crash row.

pptrain 0.3.0 is imported from a separate directory (it shares the import name
``pptrain`` with our meta-package)::

    pip install --no-deps --target /tmp/pptrain030 pptrain==0.3.0
    python benchmarks/bench_procedural.py --ref-path /tmp/pptrain030

Note that the two do not generate the same data: 0.3.0 writes character-level text
(``sort:abc=>abc``, strings of 4..L/2 letters), we write the paper's integer layout
(about 2L tokens). Tokens/s is the fair unit for a data loader either way.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import date

from _common import add_doc_arg, tee_section

from pptrain_core.config import structure
from pptrain_core.data import VirtualDataset
from pptrain_procedural.specs import PROCEDURAL, ProceduralConfig


def ours(preset: str, n: int, seed: int = 0) -> tuple[float, int]:
    cfg = structure(dict(PROCEDURAL.preset(preset).values), ProceduralConfig)
    ds = VirtualDataset(PROCEDURAL.build(cfg), seed=seed, split="train", length=n)
    t0 = time.perf_counter()
    tokens = sum(len(ds[i]) for i in range(n))
    return tokens / (time.perf_counter() - t0), tokens


def theirs(preset_name: str, n: int, seed: int = 0):
    """(tokens/s, tokens) or (None, reason) for pptrain 0.3.0's preset of that name."""
    import numpy as np
    from pptrain.tasks import procedural as ref

    presets = {p.name: p for p in ref.PROCEDURAL_PRESETS}
    if preset_name not in presets:
        return None, "no such preset"
    config = dict(presets[preset_name].config)
    config.pop("sequence_count", None)
    config.pop("eval_sequence_count", None)
    try:
        family = ref.ProceduralTaskFamily(ref.ProceduralConfig(**config))
        spec = family.tokenizer_spec()
        rng = np.random.default_rng(seed)
        t0 = time.perf_counter()
        inputs, _, _ = family._generate_examples(rng, spec, n)
        dt = time.perf_counter() - t0
    except Exception as exc:  # record the crash as a row
        return None, f"crash: {type(exc).__name__}: {str(exc)[:80]}"
    tokens = sum(len(x) for x in inputs)
    return tokens / dt, tokens


def ref_name(ours_name: str) -> str:
    """Our preset name -> 0.3.0's preset of the same program and length."""
    parts = ours_name.split("_")
    if parts[0] == "paper":
        parts = parts[1:]
    return "paper_" + "_".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ref-path", default="/tmp/pptrain030", help="where pptrain 0.3.0 was pip-installed")
    ap.add_argument("-n", type=int, default=20_000, help="examples per preset (ours)")
    ap.add_argument("--ref-n", type=int, default=5_000, help="examples per preset (0.3.0)")
    ap.add_argument("--presets", nargs="*", help="only these presets (default: all but smoke)")
    add_doc_arg(ap)
    args = ap.parse_args()
    with tee_section(args.doc, "procedural", args.ref_path, __doc__):
        _main(args)


def _main(args) -> None:
    sys.path.insert(0, args.ref_path)

    names = args.presets or [p.name for p in PROCEDURAL.presets if p.name != "smoke"]
    lines = [
        "| preset | ours tokens/s | pptrain 0.3.0 preset | 0.3.0 tokens/s | speed-up |",
        "|---|---:|---|---:|---:|",
    ]
    for name in names:
        ours_tps, _ = ours(name, args.n)
        rname = ref_name(name)
        ref_tps, info = theirs(rname, args.ref_n)
        if ref_tps is None:
            shown = "-" if info == "no such preset" else info
            lines.append(f"| `{name}` | {ours_tps:,.0f} | {'-' if shown == '-' else f'`{rname}`'} | {shown} | - |")
        else:
            lines.append(f"| `{name}` | {ours_tps:,.0f} | `{rname}` | {ref_tps:,.0f} | {ours_tps / ref_tps:.1f}x |")
        print(lines[-1], flush=True)
    # 0.3.0's presets that we have no row for (its smoke preset)
    from pptrain.tasks import procedural as ref

    covered = {ref_name(n) for n in names}
    for p in ref.PROCEDURAL_PRESETS:
        if p.name not in covered:
            ref_tps, info = theirs(p.name, args.ref_n)
            shown = f"{ref_tps:,.0f}" if ref_tps is not None else info
            lines.append(f"| - | - | `{p.name}` | {shown} | - |")
    print()
    print(
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}; {date.today().isoformat()}; single process; "
        f"ours {args.n:,} examples per preset read in order, 0.3.0 {args.ref_n:,}."
    )
    print("Command: python benchmarks/bench_procedural.py --ref-path /tmp/pptrain030")
    print()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
