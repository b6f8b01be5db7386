"""pytest fixtures for pptrain plugin authors (loaded through the ``pytest11`` entry point).

* ``pptrain_registry_factory(plugins, *, entry_points=False, builtins=True, environ=None)``:
  build an isolated :class:`~pptrain_core.plugins.Registry` from plugin objects
  (modules, classes or instances with ``@hookimpl`` functions), keyed by name.
* ``pptrain_register(obj, name="test-plugin")``: register a plugin object for one test, on
  top of the installed plugins, as the process-wide registry the CLI uses.
* ``pptrain_clean_registry``: a process-wide registry holding only the core's built-ins.

While pytest runs, ``PPTRAIN_CACHE_DIR`` points at a fresh temporary directory (removed
afterwards), so no test reads from or writes into the user's cache (``~/.cache/pptrain``
or their own ``PPTRAIN_CACHE_DIR``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from typing import Any

import pytest

CACHE_ENV = "PPTRAIN_CACHE_DIR"
_saved_cache: list[tuple[str | None, str]] = []


def pytest_configure(config: pytest.Config) -> None:
    temporary = tempfile.mkdtemp(prefix="pptrain-test-cache-")
    _saved_cache.append((os.environ.get(CACHE_ENV), temporary))
    os.environ[CACHE_ENV] = temporary


def pytest_unconfigure(config: pytest.Config) -> None:
    if not _saved_cache:
        return
    previous, temporary = _saved_cache.pop()
    if previous is None:
        os.environ.pop(CACHE_ENV, None)
    else:
        os.environ[CACHE_ENV] = previous
    shutil.rmtree(temporary, ignore_errors=True)


def _candidates(plugins: Mapping[str, Any] | None):
    from pptrain_core.plugins import Candidate

    out = []
    for name, obj in (plugins or {}).items():
        out.append(
            Candidate(
                name=name,
                load=lambda obj=obj: obj,
                distribution=name,
                version="0.0.0",
                module=getattr(obj, "__name__", type(obj).__name__),
            )
        )
    return out


@pytest.fixture
def pptrain_registry_factory():
    from pptrain_core.plugins import Registry, entry_point_candidates

    def factory(
        plugins: Mapping[str, Any] | None = None,
        *,
        entry_points: bool = False,
        builtins: bool = True,
        environ: Mapping[str, str] | None = None,
    ) -> Registry:
        cands = (entry_point_candidates() if entry_points else []) + _candidates(plugins)
        return Registry.load(cands, environ=environ or {}, builtins=builtins)

    return factory


@pytest.fixture
def pptrain_register(pptrain_registry_factory):
    from pptrain_core import plugins

    previous = plugins._REGISTRY
    registered: dict[str, Any] = {}

    def register(obj: Any, name: str = "test-plugin"):
        registered[name] = obj
        reg = pptrain_registry_factory(registered, entry_points=True)
        plugins.reset_registry(reg)
        return reg

    yield register
    plugins.reset_registry(previous)


@pytest.fixture
def pptrain_clean_registry(pptrain_registry_factory):
    from pptrain_core import plugins

    previous = plugins._REGISTRY
    reg = pptrain_registry_factory({})
    plugins.reset_registry(reg)
    yield reg
    plugins.reset_registry(previous)
