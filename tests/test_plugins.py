"""The loader: discovery through entry points, and per-plugin isolation of every failure."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pptrain_core.plugins import BROKEN, DISABLED, LOADED, Registry, entry_point_candidates

_spec = importlib.util.spec_from_file_location("fake_dists", Path(__file__).with_name("fake_dists.py"))
fake_dists = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fake_dists)
GOOD_TASK, make_dist = fake_dists.GOOD_TASK, fake_dists.make_dist

FAKES = (
    "fake-good",
    "fake-import",
    "fake-old",
    "fake-typo",
    "fake-raises",
    "fake-zz-dupe",
    "fake-wrongtype",
    "fake-badsig",
)


@pytest.fixture
def fake_site(tmp_path, monkeypatch):
    root = tmp_path / "site"
    make_dist(root, "fake-good", "fake_good", GOOD_TASK.format(task="good_task", module="fake_good"))
    make_dist(root, "fake-import", "fake_import", "import not_a_module_anywhere\n")
    make_dist(
        root,
        "fake-old",
        "fake_old",
        GOOD_TASK.format(task="old_task", module="fake_old"),
        requires=("pptrain-core>=9.0",),
    )
    make_dist(
        root,
        "fake-typo",
        "fake_typo",
        """
        from pptrain_core import hookimpl

        @hookimpl
        def register_task(register):
            pass
    """,
    )
    make_dist(
        root,
        "fake-raises",
        "fake_raises",
        """
        from pptrain_core import hookimpl

        @hookimpl
        def register_tasks(register):
            raise RuntimeError("boom")
    """,
    )
    make_dist(root, "fake-zz-dupe", "fake_zz_dupe", GOOD_TASK.format(task="good_task", module="fake_zz_dupe"))
    make_dist(
        root,
        "fake-wrongtype",
        "fake_wrongtype",
        """
        from pptrain_core import hookimpl

        @hookimpl
        def register_tasks(register):
            register("not a spec")
    """,
    )
    make_dist(
        root,
        "fake-badsig",
        "fake_badsig",
        """
        from pptrain_core import hookimpl

        @hookimpl
        def register_tasks(reg, extra):
            pass
    """,
    )
    monkeypatch.syspath_prepend(str(root))
    return root


def load(environ=None, names=FAKES) -> Registry:
    cands = [c for c in entry_point_candidates() if c.distribution in names]
    return Registry.load(cands, environ=environ or {})


def record(reg: Registry, dist: str):
    return next(r for r in reg.plugins if r.distribution == dist)


def test_discovers_entry_points_with_distribution_metadata(fake_site):
    reg = load(names=("fake-good",))
    rec = record(reg, "fake-good")
    assert rec.status == LOADED, rec.reason
    assert rec.version == "1.0.0"
    assert "good_task" in reg.tasks
    assert reg.owner("register_tasks", "good_task") is rec


def test_each_failure_is_isolated_and_explained(fake_site):
    reg = load()
    assert record(reg, "fake-good").status == LOADED
    assert "good_task" in reg.tasks
    reasons = {r.distribution: (r.status, r.reason) for r in reg.plugins if r.distribution in FAKES}
    assert reasons["fake-import"][0] == BROKEN and "not_a_module_anywhere" in reasons["fake-import"][1]
    assert reasons["fake-old"][0] == BROKEN and ">=9.0" in reasons["fake-old"][1]
    assert "old_task" not in reg.tasks
    assert reasons["fake-typo"][0] == BROKEN and "register_tasks" in reasons["fake-typo"][1]  # the suggestion
    assert reasons["fake-raises"][0] == BROKEN and "boom" in reasons["fake-raises"][1]
    assert reasons["fake-wrongtype"][0] == BROKEN and "TaskSpec" in reasons["fake-wrongtype"][1]
    assert reasons["fake-badsig"][0] == BROKEN


def test_duplicate_names_name_both_distributions(fake_site):
    reg = load()
    status, reason = record(reg, "fake-zz-dupe").status, record(reg, "fake-zz-dupe").reason
    assert status == BROKEN
    assert "fake-good" in reason and "fake-zz-dupe" in reason
    assert reg.owner("register_tasks", "good_task").distribution == "fake-good"


def test_load_and_disable_environment_variables(fake_site):
    reg = load({"PPTRAIN_LOAD_PLUGINS": "fake-good"})
    assert record(reg, "fake-good").status == LOADED
    assert record(reg, "fake-import").status == DISABLED
    assert record(reg, "pptrain-core").status == LOADED  # built-ins always load
    reg = load({"PPTRAIN_DISABLE_PLUGINS": "fake-good, fake-import"})
    assert record(reg, "fake-good").status == DISABLED
    # with the first owner disabled, the duplicate is no longer a conflict and owns the name
    assert record(reg, "fake-zz-dupe").status == LOADED
    assert reg.owner("register_tasks", "good_task").distribution == "fake-zz-dupe"


def test_cli_survives_broken_plugins(fake_site):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(fake_site), os.environ.get("PYTHONPATH", "")])}

    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "pptrain_core", *args], capture_output=True, text=True, env=env, timeout=120
        )

    listing = run("list-tasks", "--json")
    assert listing.returncode == 0, listing.stderr
    assert "good_task" in [t["name"] for t in json.loads(listing.stdout)]
    plugins = run("plugins", "--json")
    assert plugins.returncode == 0, plugins.stderr
    status = {p["distribution"]: p["status"] for p in json.loads(plugins.stdout)}
    assert status["fake-import"] == "broken" and status["fake-good"] == "loaded"
    assert "Traceback" not in listing.stderr + plugins.stderr


def test_register_commands_failure_is_isolated(pptrain_registry_factory):
    import typer

    from pptrain_core import hookimpl

    class Good:
        @hookimpl
        def register_commands(self, app):
            app.command("hello")(lambda: None)

    class Bad:
        @hookimpl
        def register_commands(self, app):
            app.command("half")(lambda: None)
            raise RuntimeError("fails after adding one command")

    reg = pptrain_registry_factory({"good": Good(), "bad": Bad()})
    app = typer.Typer()
    reg.add_commands(app)
    names = [c.name for c in app.registered_commands]
    assert names == ["hello"]
    assert next(r for r in reg.plugins if r.name == "bad").status == BROKEN
