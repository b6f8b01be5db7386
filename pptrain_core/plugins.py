"""Plugin discovery and loading, one plugin at a time.

Every entry point in the group ``pptrain`` is a plugin. The loader wraps each one, so a
plugin that fails to import, targets an incompatible ``pptrain-core``, misspells a hook,
raises while registering, or registers a name another distribution already owns is
reported (``pptrain plugins`` shows it as broken, with the reason) and never takes the
others down.

Environment variables (comma-separated entry-point or distribution names):

* ``PPTRAIN_LOAD_PLUGINS``: load only these (the core's built-ins always load);
* ``PPTRAIN_DISABLE_PLUGINS``: load everything but these.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from importlib import metadata
from typing import Any

import attrs
import pluggy

from pptrain_core import hookspecs
from pptrain_core.errors import UserError, did_you_mean
from pptrain_core.specs import KINDS

CORE_DISTRIBUTION = "pptrain-core"
ENTRY_POINT_GROUP = "pptrain"
HOOK_NAMES = tuple(KINDS) + ("register_commands",)

LOADED, BROKEN, DISABLED = "loaded", "broken", "disabled"


@attrs.define
class Candidate:
    """A plugin waiting to be loaded: where it comes from and how to import it."""

    name: str
    load: Callable[[], Any]
    distribution: str | None = None
    version: str | None = None
    requires: tuple[str, ...] = ()
    module: str = ""


@attrs.define
class PluginRecord:
    """What happened to one plugin: ``loaded``, ``broken`` (with the reason) or ``disabled``."""

    name: str
    distribution: str | None
    version: str | None
    module: str
    status: str = LOADED
    reason: str = ""
    provides: dict[str, list[str]] = attrs.Factory(dict)
    obj: Any = attrs.field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "module": self.module,
            "status": self.status,
            "reason": self.reason,
            "provides": {k: sorted(v) for k, v in self.provides.items() if v},
        }

    def label(self) -> str:
        dist = self.distribution or self.name
        return f"{dist} {self.version}" if self.version else dist


def _core_version() -> str:
    from pptrain_core import __version__

    return __version__


def _split_env(value: str | None) -> set[str]:
    return {part.strip() for part in (value or "").split(",") if part.strip()}


def _incompatible(candidate: Candidate) -> str | None:
    """The reason a plugin cannot run with this core, or None."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name
    from packaging.version import Version

    core = Version(_core_version())
    for text in candidate.requires:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        if canonicalize_name(req.name) != CORE_DISTRIBUTION:
            continue
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        if req.specifier and not req.specifier.contains(core, prereleases=True):
            return (
                f"needs {CORE_DISTRIBUTION}{req.specifier} but {core} is installed; "
                f"install a {candidate.distribution or candidate.name} release made for {CORE_DISTRIBUTION} {core}"
            )
    return None


def entry_point_candidates() -> list[Candidate]:
    """Every installed plugin, sorted by distribution then entry-point name."""
    out = []
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        out.append(
            Candidate(
                name=ep.name,
                load=ep.load,
                distribution=dist.metadata["Name"] if dist is not None else None,
                version=dist.version if dist is not None else None,
                requires=tuple(dist.requires or ()) if dist is not None else (),
                module=ep.value,
            )
        )
    return sorted(out, key=lambda c: ((c.distribution or "").lower(), c.name))


def builtin_candidates() -> list[Candidate]:
    """The core's own built-ins, registered through the same hooks as any plugin."""
    import importlib

    return [
        Candidate(
            name="core",
            load=lambda: importlib.import_module("pptrain_core.builtins"),
            distribution=CORE_DISTRIBUTION,
            version=_core_version(),
            module="pptrain_core.builtins",
        )
    ]


class Registry:
    """Everything the installed plugins registered, and what happened to each plugin."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: list[PluginRecord] = []
        self.specs: dict[str, dict[str, Any]] = {hook: {} for hook in KINDS}
        self._owner: dict[tuple[str, str], PluginRecord] = {}

    # ---------------------------------------------------------------- loading

    @classmethod
    def load(
        cls,
        candidates: Iterable[Candidate] | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        builtins: bool = True,
    ) -> Registry:
        """Load the given plugins (default: the core's built-ins and every entry point)."""
        env = os.environ if environ is None else environ
        reg = cls()
        only = _split_env(env.get("PPTRAIN_LOAD_PLUGINS"))
        disabled = _split_env(env.get("PPTRAIN_DISABLE_PLUGINS"))
        if candidates is None:
            candidates = entry_point_candidates()
        for cand in (builtin_candidates() if builtins else []) + list(candidates):
            record = PluginRecord(cand.name, cand.distribution, cand.version, cand.module)
            reg.plugins.append(record)
            keys = {cand.name, cand.distribution or cand.name}
            is_core = cand.distribution == CORE_DISTRIBUTION and cand.module == "pptrain_core.builtins"
            if not is_core and ((only and not keys & only) or keys & disabled):
                record.status, record.reason = DISABLED, "disabled by PPTRAIN_LOAD_PLUGINS / PPTRAIN_DISABLE_PLUGINS"
                continue
            reg._load_one(cand, record)
        for hook in KINDS:
            for record in reg.plugins:
                if record.status == LOADED:
                    reg._collect(hook, record)
        return reg

    def _broken(self, record: PluginRecord, reason: str) -> None:
        record.status, record.reason = BROKEN, reason
        if record.obj is not None and self.pm.is_registered(record.obj):
            self.pm.unregister(record.obj)
        for hook, names in record.provides.items():
            for name in names:
                self.specs[hook].pop(name, None)
                self._owner.pop((hook, name), None)
        record.provides = {}

    def _load_one(self, cand: Candidate, record: PluginRecord) -> None:
        reason = _incompatible(cand)
        if reason:
            self._broken(record, reason)
            return
        try:
            obj = cand.load()
        except Exception as exc:  # a broken plugin never breaks the CLI
            self._broken(record, f"import failed: {type(exc).__name__}: {exc}")
            return
        misspelled = [
            name for name in dir(obj) if name not in HOOK_NAMES and self.pm.parse_hookimpl_opts(obj, name) is not None
        ]
        if misspelled:
            name = misspelled[0]
            self._broken(
                record, f"'{name}' is marked as a hook but is not a pptrain hook{did_you_mean(name, HOOK_NAMES)}"
            )
            return
        try:
            self.pm.register(obj, name=f"{record.distribution or '?'}::{record.name}")
            record.obj = obj
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            record.obj = obj
            self._broken(record, f"invalid hook: {exc}")
            return
        except ValueError as exc:  # registered twice under the same name
            self._broken(record, str(exc))

    def _impls(self, hook: str, record: PluginRecord) -> list[Any]:
        caller = getattr(self.pm.hook, hook)
        return [impl for impl in caller.get_hookimpls() if impl.plugin is record.obj]

    def _collect(self, hook: str, record: PluginRecord) -> None:
        spec_cls, word = KINDS[hook]
        staged: list[Any] = []

        def register(spec: Any) -> None:
            if not isinstance(spec, spec_cls):
                raise TypeError(f"{hook} registered {type(spec).__name__}, expected {spec_cls.__name__}")
            staged.append(spec)

        for impl in self._impls(hook, record):
            try:
                impl.function(register=register)
            except Exception as exc:
                self._broken(record, f"{hook} failed: {type(exc).__name__}: {exc}")
                return
        for spec in staged:
            key = (hook, spec.name)
            owner = self._owner.get(key)
            if owner is not None and owner is not record:
                self._broken(
                    record,
                    f"{word} '{spec.name}' is registered by both {owner.label()} and {record.label()}; "
                    f"uninstall one, or set PPTRAIN_DISABLE_PLUGINS={record.name}",
                )
                return
            if owner is record:
                self._broken(record, f"{word} '{spec.name}' is registered twice by {record.label()}")
                return
            self._owner[key] = record
            self.specs[hook][spec.name] = spec
            record.provides.setdefault(hook, []).append(spec.name)

    def add_commands(self, app: Any) -> None:
        """Let every loaded plugin add sub-commands; a failing plugin is marked broken."""
        for record in self.plugins:
            if record.status != LOADED:
                continue
            for impl in self._impls("register_commands", record):
                n_cmd = len(app.registered_commands)
                n_grp = len(app.registered_groups)
                try:
                    impl.function(app=app)
                except Exception as exc:
                    del app.registered_commands[n_cmd:]
                    del app.registered_groups[n_grp:]
                    self._broken(record, f"register_commands failed: {type(exc).__name__}: {exc}")
                    break

    # ---------------------------------------------------------------- lookup

    @property
    def tasks(self) -> dict[str, Any]:
        return self.specs["register_tasks"]

    @property
    def tokenizers(self) -> dict[str, Any]:
        return self.specs["register_tokenizers"]

    @property
    def model_adapters(self) -> dict[str, Any]:
        return self.specs["register_model_adapters"]

    @property
    def transfer_policies(self) -> dict[str, Any]:
        return self.specs["register_transfer_policies"]

    @property
    def metrics(self) -> dict[str, Any]:
        return self.specs["register_metrics"]

    def owner(self, hook: str, name: str) -> PluginRecord:
        return self._owner[(hook, name)]

    def get(self, hook: str, name: str) -> Any:
        """The spec registered under ``name``, or a :class:`UserError` with the closest names."""
        table = self.specs[hook]
        if name in table:
            return table[name]
        word = KINDS[hook][1]
        hint = did_you_mean(name, table)
        broken = [r.label() for r in self.plugins if r.status == BROKEN]
        extra = f"; broken plugins: {', '.join(broken)} (see `pptrain plugins`)" if broken else ""
        listing = "`pptrain list-tasks`" if hook == "register_tasks" else "`pptrain plugins`"
        raise UserError(f"unknown {word} '{name}'{hint}; {listing} shows what is installed{extra}.")

    def task(self, name: str) -> Any:
        return self.get("register_tasks", name)


_REGISTRY: Registry | None = None


def get_registry() -> Registry:
    """The process-wide registry, loaded on first use."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = Registry.load()
    return _REGISTRY


def reset_registry(registry: Registry | None = None) -> None:
    """Forget (or replace) the process-wide registry; for tests and long-lived sessions."""
    global _REGISTRY
    _REGISTRY = registry
