"""The loader: discovery through entry points, and per-plugin isolation of every failure."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pptrain_core import plugins as plugins_module
from pptrain_core.errors import UserError
from pptrain_core.plugins import BROKEN, DISABLED, LOADED, Registry, entry_point_candidates

_spec = importlib.util.spec_from_file_location("fake_dists", Path(__file__).with_name("fake_dists.py"))
fake_dists = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fake_dists)
GOOD_TASK, TWO_TASKS, COMMANDS, make_dist = (
    fake_dists.GOOD_TASK,
    fake_dists.TWO_TASKS,
    fake_dists.COMMANDS,
    fake_dists.make_dist,
)

FAKES = (
    "fake-good",
    "fake-import",
    "fake-old",
    "fake-typo",
    "fake-raises",
    "fake-zz-dupe",
    "fake-wrongtype",
    "fake-badsig",
    "fake-exit",
    "fake-kbd",
    "fake-print",
    "fake-hijack",
)


@pytest.fixture
def fake_site(tmp_path, monkeypatch):
    root = tmp_path / "site"
    make_dist(root, "fake-good", "fake_good", TWO_TASKS.format(task="good_task", own="good_only", module="fake_good"))
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
    make_dist(
        root,
        "fake-zz-dupe",
        "fake_zz_dupe",
        TWO_TASKS.format(task="good_task", own="dupe_only", module="fake_zz_dupe"),
    )
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
    make_dist(root, "fake-exit", "fake_exit", "import sys\nsys.exit(3)\n")
    make_dist(root, "fake-kbd", "fake_kbd", "raise KeyboardInterrupt\n")
    make_dist(
        root,
        "fake-print",
        "fake_print",
        "print('noise from fake_print')\n" + GOOD_TASK.format(task="print_task", module="fake_print"),
    )
    make_dist(root, "fake-hijack", "fake_hijack", COMMANDS.format(names="sample,hijack-extra", module="fake_hijack"))
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
    assert {"good_task", "good_only"} <= set(reg.tasks)
    assert reg.owner("register_tasks", "good_task") is rec


def test_each_failure_is_isolated_and_explained(fake_site):
    reg = load()
    assert record(reg, "fake-good").status == LOADED
    assert "good_only" in reg.tasks and "print_task" in reg.tasks
    reasons = {r.distribution: (r.status, r.reason) for r in reg.plugins if r.distribution in FAKES}
    assert reasons["fake-import"][0] == BROKEN and "not_a_module_anywhere" in reasons["fake-import"][1]
    assert reasons["fake-old"][0] == BROKEN and ">=9.0" in reasons["fake-old"][1]
    assert "old_task" not in reg.tasks
    assert reasons["fake-typo"][0] == BROKEN and "register_tasks" in reasons["fake-typo"][1]  # the suggestion
    assert reasons["fake-raises"][0] == BROKEN and "boom" in reasons["fake-raises"][1]
    assert reasons["fake-wrongtype"][0] == BROKEN and "TaskSpec" in reasons["fake-wrongtype"][1]
    assert reasons["fake-badsig"][0] == BROKEN


def test_sys_exit_and_keyboard_interrupt_at_import_break_only_that_plugin(fake_site):
    reg = load(names=("fake-good", "fake-exit", "fake-kbd"))  # today: SystemExit(3) ends the process here
    assert record(reg, "fake-exit").status == BROKEN
    assert record(reg, "fake-exit").reason == "import called sys.exit(3)"
    assert record(reg, "fake-kbd").status == BROKEN
    assert "KeyboardInterrupt" in record(reg, "fake-kbd").reason
    assert record(reg, "fake-good").status == LOADED and "good_task" in reg.tasks


def test_what_a_plugin_prints_while_loading_goes_to_stderr(fake_site, capsys, monkeypatch):
    monkeypatch.delitem(sys.modules, "fake_print", raising=False)  # imported afresh, so it prints
    reg = load(names=("fake-print",))
    out, err = capsys.readouterr()
    assert record(reg, "fake-print").status == LOADED
    assert "noise" not in out  # stdout belongs to --json
    assert "noise from fake_print" in err


def test_a_name_two_distributions_register_is_withheld_until_the_user_chooses(fake_site):
    reg = load(names=("fake-good", "fake-zz-dupe"))
    good, dupe = record(reg, "fake-good"), record(reg, "fake-zz-dupe")
    # both stay loaded with their other names; the contested name goes to neither
    assert good.status == LOADED and dupe.status == LOADED
    assert {"good_only", "dupe_only"} <= set(reg.tasks)
    assert "good_task" not in reg.tasks
    with pytest.raises(UserError) as err:
        reg.task("good_task")
    message = str(err.value)
    assert "fake-good 1.0.0" in message and "fake-zz-dupe 1.0.0" in message
    assert "PPTRAIN_PREFER=good_task=fake-good" in message
    for rec in (good, dupe):
        (conflict,) = rec.to_json()["conflicts"]
        assert conflict["name"] == "good_task" and conflict["provider"] is None
        assert conflict["claimants"] == ["fake-good", "fake-zz-dupe"]

    reg = load({"PPTRAIN_PREFER": "good_task=fake_zz_dupe"}, names=("fake-good", "fake-zz-dupe"))
    assert reg.owner("register_tasks", "good_task").distribution == "fake-zz-dupe"
    assert reg.owner("register_tasks", "good_only").distribution == "fake-good"
    assert reg.tasks["good_task"].summary == "from fake_zz_dupe"
    assert record(reg, "fake-good").to_json()["conflicts"][0]["provider"] == "fake-zz-dupe"
    assert reg.notices == []

    reg = load({"PPTRAIN_DISABLE_PLUGINS": "fake-good"}, names=("fake-good", "fake-zz-dupe"))
    assert record(reg, "fake-good").status == DISABLED
    assert reg.owner("register_tasks", "good_task").distribution == "fake-zz-dupe"
    assert reg.conflicts == []


def test_core_names_are_reserved(pptrain_registry_factory):
    from pptrain_core import TokenizerProviderSpec, hookimpl
    from pptrain_core.tokenizer import NativeTokenizerConfig

    class Squatter:
        @hookimpl
        def register_tokenizers(self, register):
            for name in ("native", "mine"):
                register(TokenizerProviderSpec(name=name, summary="x", config_cls=NativeTokenizerConfig, factory="x:y"))

    for environ in ({}, {"PPTRAIN_PREFER": "native=squatter"}):
        reg = pptrain_registry_factory({"squatter": Squatter()}, environ=environ)
        assert reg.owner("register_tokenizers", "native").distribution == "pptrain-core"
        squatter = next(r for r in reg.plugins if r.name == "squatter")
        assert squatter.status == LOADED and reg.owner("register_tokenizers", "mine") is squatter
        (conflict,) = squatter.conflicts
        assert conflict.reserved and "reserved by pptrain-core" in conflict.message()


def test_a_plugin_that_hangs_at_import_is_stopped_and_named(tmp_path, monkeypatch, capfd):
    root = tmp_path / "site"
    make_dist(root, "fake-hangs", "fake_hangs", "import time\ntime.sleep(60)\n")
    make_dist(
        root,
        "fake-hook-hangs",
        "fake_hook_hangs",
        GOOD_TASK.format(task="x", module="m").replace(
            "def register_tasks(register):", "def register_tasks(register):\n    import time; time.sleep(60)"
        ),
    )
    make_dist(root, "fake-fine", "fake_fine", GOOD_TASK.format(task="fine_task", module="fake_fine"))
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setattr(plugins_module, "NOTE_AFTER", 0.3)
    sigint_before = signal.getsignal(signal.SIGINT)  # the default, or ignored when pytest runs in the background
    started = time.monotonic()
    reg = load({"PPTRAIN_PLUGIN_TIMEOUT": "1"}, names=("fake-hangs", "fake-hook-hangs", "fake-fine"))
    assert time.monotonic() - started < 15  # today: a minute per plugin
    hangs, hook = record(reg, "fake-hangs"), record(reg, "fake-hook-hangs")
    assert hangs.status == BROKEN and hangs.reason.startswith("import did not finish within 1 s")
    assert hook.status == BROKEN and hook.reason.startswith("register_tasks did not finish within 1 s")
    assert record(reg, "fake-fine").status == LOADED and "fine_task" in reg.tasks
    err = capfd.readouterr().err
    assert "plugin 'fake-hangs'" in err and "PPTRAIN_DISABLE_PLUGINS=fake-hangs" in err  # the note while waiting
    # the loader leaves the process's signal handling as it found it
    assert signal.getsignal(signal.SIGALRM) == signal.SIG_DFL
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert signal.getsignal(signal.SIGINT) is sigint_before


def test_environment_typos_are_reported(fake_site):
    names = ("fake-good", "fake-zz-dupe")
    with pytest.raises(UserError, match=r"PPTRAIN_LOAD_PLUGINS names 'fake-god'.*did you mean 'fake-good'"):
        load({"PPTRAIN_LOAD_PLUGINS": "fake-god"}, names=names)
    reg = load({"PPTRAIN_LOAD_PLUGINS": "Fake_Good"}, names=names)  # spelled like a module: same plugin
    assert record(reg, "fake-good").status == LOADED and record(reg, "fake-zz-dupe").status == DISABLED

    def notices(**environ):
        return load(environ, names=names).notices

    (note,) = notices(PPTRAIN_DISABLE_PLUGINS="fake-zz-dup")
    assert "PPTRAIN_DISABLE_PLUGINS names 'fake-zz-dup'" in note and "did you mean 'fake-zz-dupe'" in note
    (note,) = notices(PPTRAIN_PREFER="good_task")
    assert "is not NAME=DISTRIBUTION" in note
    (note,) = notices(PPTRAIN_PREFER="good_tsk=fake-good")
    assert "did you mean 'good_task'" in note
    (note,) = notices(PPTRAIN_PREFER="good_task=fake-gud")
    assert "did you mean 'fake-good'" in note
    (note,) = notices(PPTRAIN_PLUGIN_TIMEOUT="soon")
    assert "PPTRAIN_PLUGIN_TIMEOUT must be a number of seconds" in note


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


def _cli(fake_site, *args, **env):
    full = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(fake_site), os.environ.get("PYTHONPATH", "")]),
        "PPTRAIN_PLUGIN_TIMEOUT": "1",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "pptrain_core", *args], capture_output=True, text=True, env=full, timeout=120
    )


def test_cli_survives_broken_plugins(fake_site):
    make_dist(fake_site, "fake-hangs", "fake_hangs_cli", "import time\ntime.sleep(60)\n")
    listing = _cli(fake_site, "list-tasks", "--json")
    assert listing.returncode == 0, listing.stderr
    names = [t["name"] for t in json.loads(listing.stdout)]
    assert "good_only" in names and "print_task" in names and "good_task" not in names
    plugins = _cli(fake_site, "plugins", "--json")
    assert plugins.returncode == 0, plugins.stderr
    status = {p["distribution"]: (p["status"], p["reason"]) for p in json.loads(plugins.stdout)}
    assert status["fake-import"][0] == "broken" and status["fake-good"][0] == "loaded"
    assert status["fake-exit"] == ("broken", "import called sys.exit(3)")
    assert status["fake-hangs"][0] == "broken" and "did not finish within 1 s" in status["fake-hangs"][1]
    assert "Traceback" not in listing.stderr + plugins.stderr
    table = _cli(fake_site, "plugins")
    assert table.returncode == 0
    assert "conflict: task 'good_task' is registered by fake-good 1.0.0 and fake-zz-dupe 1.0.0" in " ".join(
        table.stdout.split()
    ).replace("│ ", "")


def test_cli_keeps_core_commands_and_reports_variable_typos(fake_site):
    hijacked = _cli(fake_site, "sample", "--help")
    assert hijacked.returncode == 0 and "Print examples" in hijacked.stdout  # the core's own sample
    extra = _cli(fake_site, "hijack-extra")
    assert extra.returncode == 0 and "fake_hijack:hijack-extra" in extra.stdout  # its other command works
    plugins = json.loads(_cli(fake_site, "plugins", "--json").stdout)
    hijack = next(p for p in plugins if p["distribution"] == "fake-hijack")
    assert hijack["status"] == "loaded" and hijack["provides"] == {"register_commands": ["hijack-extra"]}
    assert hijack["conflicts"][0]["name"] == "sample" and hijack["conflicts"][0]["reserved"]

    typo = _cli(fake_site, "list-tasks", PPTRAIN_LOAD_PLUGINS="fake-god")
    assert typo.returncode == 2 and "Traceback" not in typo.stderr
    assert typo.stderr.startswith("error: PPTRAIN_LOAD_PLUGINS names 'fake-god'") and "'fake-good'" in typo.stderr
    warned = _cli(fake_site, "list-tasks", "--json", PPTRAIN_DISABLE_PLUGINS="fake-godo")
    assert warned.returncode == 0 and json.loads(warned.stdout)
    assert "warning: PPTRAIN_DISABLE_PLUGINS names 'fake-godo'" in warned.stderr


def test_ctrl_c_while_a_plugin_hangs_names_it(tmp_path):
    root, marker = tmp_path / "site", tmp_path / "started"
    make_dist(
        root,
        "fake-stuck",
        "fake_stuck",
        f"import pathlib, time\npathlib.Path({str(marker)!r}).touch()\ntime.sleep(120)\n",
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    env["PPTRAIN_PLUGIN_TIMEOUT"] = "0"  # no limit: only the user can stop it
    proc = subprocess.Popen(
        [sys.executable, "-m", "pptrain_core", "list-tasks"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        # a user's terminal delivers Ctrl-C; a test run started in the background (``cmd &``)
        # would hand the child an ignored SIGINT, so restore the default as a terminal has it
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 90
        while not marker.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "the plugin never started importing"
            time.sleep(0.05)
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert "interrupted during import of plugin 'fake-stuck'" in err
    assert "PPTRAIN_DISABLE_PLUGINS=fake-stuck" in err and "Traceback" not in err


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


def test_command_names_core_reserved_and_clashes_withheld(pptrain_registry_factory):
    import typer

    from pptrain_core import hookimpl

    def core_sample():
        pass

    def command(name):
        def run():
            pass

        run.__name__ = name.replace("-", "_")
        return run

    def plugin(*names, group=None):
        class P:
            @hookimpl
            def register_commands(self, app):
                for name in names:
                    app.command()(command(name))  # named after the function
                if group:
                    sub = typer.Typer()
                    sub.command("inner")(command("inner"))
                    app.add_typer(sub, name=group)

        return P()

    class BadSignature:
        @hookimpl
        def register_commands(self, app):
            @app.command("odd")
            def odd(value: NotDefinedAnywhere):  # noqa: F821 (building the command raises NameError)
                pass

    plugs = {
        "hijack": plugin("sample", "own-cmd"),
        "a": plugin("shared", group="grp"),
        "b": plugin("shared", "b-only"),
        "badsig": BadSignature(),
    }

    def build(environ=None):
        reg = pptrain_registry_factory(plugs, environ=environ)
        app = typer.Typer()
        app.command("sample")(core_sample)
        reg.add_commands(app)
        by_name = {c.name or c.callback.__name__.replace("_", "-"): c.callback for c in app.registered_commands}
        groups = [g.name for g in app.registered_groups]
        return reg, by_name, groups

    reg, commands, groups = build()
    assert commands["sample"] is core_sample  # today: replaced by the plugin's
    assert set(commands) == {"sample", "own-cmd", "b-only"} and groups == ["grp"]
    status = {r.name: r for r in reg.plugins}
    assert status["badsig"].status == BROKEN and "odd" not in commands
    assert status["hijack"].status == LOADED and status["hijack"].provides["register_commands"] == ["own-cmd"]
    clash = next(c for c in reg.conflicts if c.name == "shared")
    assert clash.provider is None and "PPTRAIN_PREFER=shared=a" in clash.message()

    reg, commands, _ = build({"PPTRAIN_PREFER": "shared=b"})
    assert "shared" in commands
    assert sorted(next(r for r in reg.plugins if r.name == "b").provides["register_commands"]) == ["b-only", "shared"]
    assert reg.notices == []


def test_the_same_spec_from_two_plugins_is_no_conflict(pptrain_registry_factory):
    """A test re-registering an installed plugin's own specs (as the analytics tests do)."""
    from pptrain_core import TokenizerProviderSpec, hookimpl
    from pptrain_core.tokenizer import NativeTokenizerConfig

    spec = TokenizerProviderSpec(name="shared_tok", summary="x", config_cls=NativeTokenizerConfig, factory="x:y")

    class P:
        @hookimpl
        def register_tokenizers(self, register):
            register(spec)

    reg = pptrain_registry_factory({"first": P(), "second": P()})
    assert reg.owner("register_tokenizers", "shared_tok").name == "first"
    assert reg.conflicts == []
