"""Write real (if tiny) installed distributions into a directory, for loader tests.

Each fake distribution gets a module and a ``*.dist-info`` folder with METADATA and an
``entry_points.txt`` in the ``pptrain`` group, so discovery goes through the real
``importlib.metadata`` code path.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

GOOD_TASK = """
import attrs
from pptrain_core import TaskSpec, hookimpl


@attrs.frozen
class Cfg:
    n: int = 3


@hookimpl
def register_tasks(register):
    register(TaskSpec(name="{task}", summary="a fake task", config_cls=Cfg, factory="{module}_impl:build"))
"""


def make_dist(
    root: Path,
    dist: str,
    module: str,
    source: str,
    *,
    version: str = "1.0.0",
    requires: tuple[str, ...] = ("pptrain-core>=0.1,<0.2",),
    ep_name: str | None = None,
) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    lines = ["Metadata-Version: 2.1", f"Name: {dist}", f"Version: {version}"]
    lines += [f"Requires-Dist: {r}" for r in requires]
    (info / "METADATA").write_text("\n".join(lines) + "\n")
    (info / "entry_points.txt").write_text(f"[pptrain]\n{ep_name or dist} = {module}\n")


#: Two tasks: ``{task}`` (maybe claimed by another distribution too) and ``{own}``.
TWO_TASKS = """
import attrs
from pptrain_core import TaskSpec, hookimpl


@attrs.frozen
class Cfg:
    n: int = 3


@hookimpl
def register_tasks(register):
    for name in ("{task}", "{own}"):
        register(TaskSpec(name=name, summary="from {module}", config_cls=Cfg, factory="{module}_impl:build"))
"""

#: Commands named ``{names}`` (comma-separated); each prints ``{module}:<name>``.
COMMANDS = """
from pptrain_core import hookimpl


def _make(name):
    def command():
        print("{module}:" + name)

    return command


@hookimpl
def register_commands(app):
    for name in "{names}".split(","):
        app.command(name)(_make(name))
"""
