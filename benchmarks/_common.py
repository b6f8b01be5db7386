"""Shared pieces of the benchmark scripts: machine and version info, loading pptrain 0.3.0,
interleaved timing, and writing one section of ``docs/benchmarks.md`` atomically.

Every script that takes ``--doc PATH`` replaces its own section of that file (between
``<!-- bench-section:NAME -->`` markers), preceded by the machine, the versions of both
libraries, the date, the load average and the exact command, so a partial run still
leaves every other section as it was.
"""

from __future__ import annotations

import os
import platform
import re
import shlex
import statistics
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, redirect_stdout
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
DEFAULT_REF = "/tmp/pptrain030"

#: Section order in docs/benchmarks.md (name -> title); a script fills only its own.
SECTIONS = {
    "generation": "Data generation, every family, single process and DataLoader workers (ours)",
    "dyck": "Data generation next to pptrain 0.3.0: Dyck",
    "nca": "Data generation next to pptrain 0.3.0: NCA",
    "procedural": "Data generation next to pptrain 0.3.0: procedural",
    "simpler_tasks": "Data generation next to pptrain 0.3.0: simpler_tasks",
    "lime": "Data generation next to pptrain 0.3.0: LIME",
    "summarization": "Data generation next to pptrain 0.3.0: summarization",
    "memory": "Peak memory as the dataset grows",
    "training": "Training: time to first step and tokens/s",
    "scaling": "Scaling: DataLoader workers and torchrun",
    "cli": "CLI start-up",
    "accelerator": "Accelerator",
}

PREAMBLE = """# Benchmarks

Written by `nox -s bench`, which builds its own environment (every in-repo package, the CPU
torch of `constraints.txt`) and installs pptrain 0.3.0 from PyPI next to it
(`pip install --no-deps --target DIR pptrain==0.3.0` plus its declared dependencies; it is
imported from DIR because it shares the import name `pptrain` with our meta-package). Both
libraries are measured in the same run on the same machine; timings are medians of several
runs with ours and 0.3.0 interleaved, so load drift hits both alike. Every section says the
machine, the versions, the date, the load average and the command that reproduces it.
Where pptrain 0.3.0 crashes or gives a wrong result, that is a row of the table with the
error. These are measurements, not tests: nothing here fails a build.
"""


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def ours_versions() -> str:
    names = ["pptrain-core"] + sorted(
        d.metadata["Name"]
        for d in metadata.distributions()
        if (d.metadata["Name"] or "").startswith("pptrain-") and d.metadata["Name"] != "pptrain-core"
    )
    out = []
    for name in dict.fromkeys(names):
        try:
            out.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    return ", ".join(out) or "not installed"


def ref_version(ref_path: str) -> str:
    for info in Path(ref_path).glob("pptrain-*.dist-info"):
        return info.name.removeprefix("pptrain-").removesuffix(".dist-info")
    return "not found"


def lib_versions() -> str:
    out = []
    for name in ("torch", "transformers", "accelerate", "numpy"):
        try:
            out.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    return ", ".join(out)


def load_average() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg()) + " (1 / 5 / 15 min)"
    except OSError:
        return "n/a"


def command_line() -> str:
    script = Path(sys.argv[0])
    try:
        script = script.resolve().relative_to(ROOT)
    except ValueError:
        pass
    args = [a.replace(f"{ROOT}{os.sep}", "") for a in sys.argv[1:]]  # paths relative to the repository
    return shlex.join(["python", str(script), *args])


def header(ref_path: str | None, *, loads: Sequence[str] = (), notes: str = "") -> list[str]:
    """The lines that precede every table: machine, versions, date, load average, command."""
    lines = [
        f"- machine: {cpu_name()}, {os.cpu_count()} cores, no GPU used; Python {platform.python_version()} on "
        f"{platform.platform()}",
        f"- ours: {ours_versions()}",
    ]
    if ref_path is not None:
        shown = str(ref_path).replace(f"{ROOT}{os.sep}", "")
        lines.append(f"- pptrain {ref_version(ref_path)} (from PyPI, imported from `{shown}`)")
    lines += [
        f"- libraries: {lib_versions()}",
        f"- date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- load average: {load_average()} at the end" + (f"; {', '.join(loads)}" if loads else ""),
        f"- command: `{command_line()}` (`nox -s bench` runs it)",
    ]
    if notes:
        lines.append(f"- {notes}")
    return lines


def import_ref(ref_path: str):
    """Import pptrain 0.3.0 from ``ref_path`` (first on sys.path) and check it is that one."""
    if ref_path not in sys.path:
        sys.path.insert(0, ref_path)
    for name in [m for m in sys.modules if m == "pptrain" or m.startswith("pptrain.")]:
        del sys.modules[name]
    import pptrain

    where = Path(pptrain.__file__).resolve()
    if not str(where).startswith(str(Path(ref_path).resolve())):
        raise RuntimeError(f"imported pptrain from {where}, not from {ref_path}")
    return pptrain


def interleave(fns: Sequence[Callable[[], float | None]], repeats: int) -> list[list[float]]:
    """Call every function once per repeat, in turn, so load drift hits them alike."""
    out: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            value = fn()
            if value is not None:
                out[i].append(value)
    return out


def interleaved(a, b, seconds: float, repeats: int) -> tuple:
    """Median rates of ``a`` and ``b`` (objects with ``run(seconds) -> rate``, or None) and the median per-repeat ratio.

    Each repeat runs ``a`` then ``b`` for ``seconds`` each (:func:`interleave`), so load drift hits both alike.
    """
    fns = [(lambda s=x: s.run(seconds)) if x is not None else (lambda: None) for x in (a, b)]
    ra, rb = interleave(fns, repeats)
    ratio = statistics.median(x / y for x, y in zip(ra, rb, strict=True)) if ra and rb else None
    return median(ra), median(rb), ratio


def median(xs: Sequence[float]) -> float | None:
    return statistics.median(xs) if xs else None


def fmt_rate(x: float | None) -> str:
    if x is None:
        return "-"
    if x >= 1e6:
        return f"{x / 1e6:.2f} M"
    if x >= 1e4:
        return f"{x / 1e3:.0f} k"
    return f"{x:,.0f}"


def atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _skeleton(text: str) -> str:
    """Make sure every section has its markers, in SECTIONS order; keep what is between them."""
    bodies = {}
    for name in SECTIONS:
        m = re.search(rf"<!-- bench-section:{name} -->\n(.*?)<!-- /bench-section:{name} -->", text, re.S)
        bodies[name] = m.group(1) if m else f"## {SECTIONS[name]}\n\nNot measured yet: run `nox -s bench`.\n\n"
    parts = [PREAMBLE]
    for name in SECTIONS:
        parts.append(f"<!-- bench-section:{name} -->\n{bodies[name]}<!-- /bench-section:{name} -->\n")
    return "\n".join(parts)


def write_section(doc: str | Path | None, name: str, body_lines: Sequence[str]) -> None:
    """Replace section ``name`` of ``doc`` (no-op when ``doc`` is None) with a title and ``body_lines``."""
    if not doc:
        return
    path = Path(doc)
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    text = _skeleton(text)
    body = f"## {SECTIONS[name]}\n\n" + "\n".join(body_lines).rstrip() + "\n\n"
    text = re.sub(
        rf"(<!-- bench-section:{name} -->\n).*?(<!-- /bench-section:{name} -->)",
        lambda m: m.group(1) + body + m.group(2),
        text,
        count=1,
        flags=re.S,
    )
    atomic_write(path, text)
    print(f"wrote section '{name}' of {path}", flush=True)


def add_doc_arg(ap) -> None:
    ap.add_argument("--doc", default=None, help="also write this script's section of this markdown file")


class _Tee:
    def __init__(self, out):
        self.out, self.parts = out, []

    def write(self, s: str) -> int:
        self.parts.append(s)
        return self.out.write(s)

    def flush(self) -> None:
        self.out.flush()


def _description(doc: str) -> str:
    """The docstring's paragraphs up to the install instructions, joined as prose."""
    keep = []
    for para in doc.strip().split("\n\n"):
        low = para.lower()
        if "install" in low or para.rstrip().endswith("::") or para.lstrip().startswith("python "):
            break
        keep.append(" ".join(line.strip() for line in para.splitlines()))
    text = "\n\n".join(keep).replace("``", "`")
    return re.sub(r":\w+:`~?(?:[\w.]+\.)?(\w+)`", r"`\1`", text)


@contextmanager
def tee_section(doc_path: str | None, name: str, ref_path: str | None, docstring: str) -> Iterator[None]:
    """Print as usual; with ``doc_path``, also write the last table printed (and the lines after it)
    as section ``name``, after the header and the script's description."""
    tee = _Tee(sys.stdout)
    with redirect_stdout(tee):
        yield
    if not doc_path:
        return
    lines = "".join(tee.parts).splitlines()
    starts = [i for i, ln in enumerate(lines) if ln.startswith("|") and (i == 0 or not lines[i - 1].startswith("|"))]
    if not starts:
        return
    start = starts[-1]
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    after = [ln for ln in lines[end:] if ln.strip() and not ln.startswith("wrote ")]
    body = header(ref_path) + ["", _description(docstring), "", *lines[start:end]]
    if after:
        body += ["", *after]
    write_section(doc_path, name, body)
