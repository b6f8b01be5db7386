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
#: pptrain's own cache (tokenizers, token arrays) goes under .nox, never into the user's
#: ~/.cache/pptrain; pytest runs get a fresh temporary one from the core's pytest plugin.
TEST_ENV = {
    "HF_HUB_OFFLINE": "1",
    "OMP_NUM_THREADS": "1",
    "PYTHONHASHSEED": "0",
    "PPTRAIN_CACHE_DIR": str(ROOT / ".nox" / "pptrain-cache"),
}

nox.options.sessions = ["lint", "core", "plugin", "template", "integration"]
nox.options.reuse_existing_virtualenvs = False


def _install(session: nox.Session, *paths: str) -> None:
    session.install(*CONSTRAINTS, *paths)


def _pytest(session: nox.Session, *targets: str) -> None:
    # -rs: say why anything was skipped (a skip in CI is a missing dependency until shown otherwise)
    session.run(
        "python", "-m", "pytest", "--import-mode=importlib", "-q", "-rs", *targets, *session.posargs, env=TEST_ENV
    )


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


#: pptrain 0.3.0, the library we replace, and the dependencies its metadata declares (installed
#: through our constraints, so its loose ``torch>=2.2`` cannot pull a CUDA build).
REF_PPTRAIN = "pptrain==0.3.0"
REF_DEPS = ("accelerate>=0.30", "datasets>=2.18", "matplotlib>=3.8", "pandas>=2.2", "PyYAML>=6.0", "transformers>=4.40")

#: (script, full arguments, quick arguments); ``{ref}`` is 0.3.0's --target folder, ``{doc}`` the page.
BENCHMARKS = (
    ("bench_cli.py", "--repeats 5", "--repeats 1"),
    ("bench.py", "--repeats 3 --seconds 0.5 --worker-seconds 1.0", "--repeats 1 --seconds 0.05 --worker-seconds 0.1"),
    ("bench_dyck.py", "--seconds 0.5 --repeats 5", "--seconds 0.05 --repeats 1"),
    ("bench_nca.py", "--n 512 --n-ref 32 --repeats 3 --workers 2", "--n 16 --n-ref 2 --repeats 1 --workers 2"),
    ("bench_procedural.py", "-n 20000 --ref-n 5000", "-n 200 --ref-n 50"),
    ("bench_simpler_tasks.py", "--seconds 0.3 --repeats 5", "--seconds 0.02 --repeats 1"),
    ("bench_lime.py", "--seconds 0.3 --repeats 5", "--seconds 0.02 --repeats 1"),
    ("bench_summarization.py", "--seconds 0.3 --repeats 5", "--seconds 0.02 --repeats 1"),
    ("bench_memory.py", "--timeout 120", "--sizes 1000 --ours-sizes 10000 --timeout 60"),
    ("bench_training.py", "--steps 100 --repeats 3", "--steps 5 --repeats 1"),
    (
        "bench_scaling.py",
        "--seconds 2 --repeats 3 --steps 150 --train-repeats 2",
        "--seconds 0.2 --repeats 1 --steps 5 --train-repeats 1",
    ),
)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks next to pptrain 0.3.0 (from PyPI); writes docs/benchmarks.md, section by section.

    ``nox -s bench`` runs everything (about half an hour on 2 cores); ``nox -s bench -- quick``
    runs every script with tiny settings into a scratch copy (a smoke test of the session);
    ``nox -s bench -- bench_cli.py bench_memory.py`` runs only those scripts.
    """
    import shutil

    _install_everything(session)
    _install(session, *REF_DEPS)
    ref = (Path(session.create_tmp()) / "pptrain030").resolve()
    if not (ref / "pptrain").is_dir():
        session.run("python", "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(ref), REF_PPTRAIN)
    quick = "quick" in session.posargs
    only = [a for a in session.posargs if a.endswith(".py")]
    doc = ROOT / "docs" / "benchmarks.md"
    if quick:  # never overwrite the real page with smoke-test numbers
        scratch = Path(session.create_tmp()) / "benchmarks-quick.md"
        shutil.copyfile(doc, scratch)
        doc = scratch
    for script, full, short in BENCHMARKS:
        if only and script not in only:
            continue
        args = (short if quick else full).split()
        if script == "bench.py":
            args += ["--doc", str(doc)] + (["--no-family-pages"] if quick else [])
        else:
            args += ["--doc", str(doc)] + (["--ref-path", str(ref)] if script != "bench_scaling.py" else [])
        session.run("python", f"benchmarks/{script}", *args, env=TEST_ENV)
    session.log(f"wrote {doc}")
