"""Every way to install, test, lint, benchmark and demo pptrain.

    nox                 # every test session and lint (what CI runs)
    nox -s demo         # install everything and run the main job on the embedded default
    nox -s bench        # benchmarks; writes docs/benchmarks.md and the family pages' tables
    nox -s "plugin(dyck)"  # one plugin, with only the core installed beside it

Each plugin is tested in an environment that holds only pptrain-core and the plugin
itself, so a dependency the plugin uses but does not declare fails its session.
"""

from __future__ import annotations

from pathlib import Path

import nox

ROOT = Path(__file__).parent
PLUGINS = sorted(
    p.name.removeprefix("pptrain-") for p in (ROOT / "plugins").glob("pptrain-*") if (p / "pyproject.toml").exists()
)
CONSTRAINTS = ("-c", str(ROOT / "constraints.txt"))
TEST_ENV = {"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}

nox.options.sessions = ["lint", "core", "plugin", "template", "integration"]
nox.options.reuse_existing_virtualenvs = False


def _install(session: nox.Session, *paths: str) -> None:
    session.install(*CONSTRAINTS, *paths)


def _pytest(session: nox.Session, *targets: str) -> None:
    session.run("python", "-m", "pytest", "--import-mode=importlib", "-q", *targets, *session.posargs, env=TEST_ENV)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting."""
    session.install("ruff>=0.17,<0.18")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def core(session: nox.Session) -> None:
    """The core alone, with no plugin installed."""
    _install(session, "-e", ".[test,train]")
    _pytest(session, "tests", "--ignore=tests/integration")


#: In-repo plugins installed beside a plugin in its session: its runtime dependencies on
#: other in-repo plugins (not on PyPI yet) and the plugins its tests borrow tasks from.
COMPANIONS = {"analytics": ("hf", "dyck", "nca")}


@nox.session
@nox.parametrize("name", PLUGINS, ids=PLUGINS)
def plugin(session: nox.Session, name: str) -> None:
    """One plugin with only the core (and its named companions) beside it: undeclared dependencies fail here."""
    companions = [arg for other in COMPANIONS.get(name, ()) for arg in ("-e", f"plugins/pptrain-{other}")]
    _install(session, "-e", ".", *companions, "-e", f"plugins/pptrain-{name}[test]")
    _pytest(session, f"plugins/pptrain-{name}/tests")


@nox.session
def template(session: nox.Session) -> None:
    """The copy-me plugin skeleton passes the conformance suite as it stands."""
    _install(session, "-e", ".", "-e", "plugins/_template[test]")
    _pytest(session, "plugins/_template/tests")


def _install_everything(session: nox.Session, *extra: str) -> None:
    paths = ["-e", ".[test,train]"]
    for name in PLUGINS:
        paths += ["-e", f"plugins/pptrain-{name}"]
    paths += ["-e", "plugins/pptrain"]  # the batteries-included meta-distribution and import facade
    _install(session, *paths, *extra)


@nox.session
def integration(session: nox.Session) -> None:
    """Every in-repo plugin installed together: cross-plugin and CLI checks."""
    _install_everything(session)
    _pytest(session, "tests/integration", "plugins/pptrain/tests")


@nox.session
def demo(session: nox.Session) -> None:
    """Install everything and run the main job on the embedded default (no network)."""
    _install_everything(session)
    session.run("python", "examples/demo.py", env=TEST_ENV)
    session.log(
        f"The CLI is installed in {session.virtualenv.location}; activate it with "
        f"`source {session.virtualenv.location}/bin/activate` and try `pptrain --help`."
    )


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks: CLI start-up and generation throughput; writes docs/benchmarks.md."""
    _install_everything(session)
    session.run("python", "benchmarks/bench.py", *session.posargs, env=TEST_ENV)
    # family benchmarks next to pptrain 0.3.0 (each installs it into its own --target folder)
    for script in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        session.run("python", str(script.relative_to(ROOT)), env=TEST_ENV)
