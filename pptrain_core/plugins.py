"""Plugin discovery and loading, one plugin at a time.

Every entry point in the group ``pptrain`` is a plugin. The loader wraps each one, so a
plugin that fails to import, calls ``sys.exit()`` or hangs while importing, targets an
incompatible ``pptrain-core``, misspells a hook, or raises while registering is reported
(``pptrain plugins`` shows it as broken, with the reason) and never takes the others
down.

Names are first come, never first served: when two distributions register the same name
(a task, a metric, a command...), neither provides it until the user chooses one with
``PPTRAIN_PREFER``; both keep every other name. The core's own names (its built-in
policies and tokenizer, its commands) are reserved.

Environment variables:

* ``PPTRAIN_LOAD_PLUGINS``: load only these plugins (comma-separated entry-point or
  distribution names; the core's built-ins always load). A name that is not installed is
  an error, with the closest installed names.
* ``PPTRAIN_DISABLE_PLUGINS``: load everything but these.
* ``PPTRAIN_PREFER``: ``NAME=DISTRIBUTION`` pairs, comma-separated: which distribution
  provides a name that several register, e.g. ``PPTRAIN_PREFER=dyck=pptrain-dyck``.
* ``PPTRAIN_PLUGIN_TIMEOUT``: seconds one plugin may spend importing or in one hook before
  it is stopped and reported as broken (default 30; ``0`` waits forever). After 5 seconds
  a note on stderr names the plugin. The stop needs ``SIGALRM`` (POSIX, main thread);
  elsewhere only the note is given, and Ctrl-C names the plugin it interrupted.

What cannot be contained in-process: a plugin that kills the process (``os._exit``, a
crash in C code) or blocks in C code that ignores signals. ``PPTRAIN_LOAD_PLUGINS=core
pptrain plugins`` always works, and ``PPTRAIN_DISABLE_PLUGINS`` then skips the culprit.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from importlib import metadata
from typing import Any

import attrs
import pluggy

from pptrain_core import hookspecs
from pptrain_core.errors import UserError, did_you_mean
from pptrain_core.specs import KINDS

CORE_DISTRIBUTION = "pptrain-core"
CORE_MODULE = "pptrain_core.builtins"
ENTRY_POINT_GROUP = "pptrain"
COMMANDS = "register_commands"
HOOK_NAMES = tuple(KINDS) + (COMMANDS,)
WORDS = {**{hook: word for hook, (_, word) in KINDS.items()}, COMMANDS: "command"}

LOADED, BROKEN, DISABLED = "loaded", "broken", "disabled"

#: Seconds a plugin may spend in one import or hook call (``PPTRAIN_PLUGIN_TIMEOUT``).
DEFAULT_TIMEOUT = 30.0
#: Seconds after which a note on stderr names the plugin still being loaded.
NOTE_AFTER = 5.0
#: The longest plugin error message quoted in a reason.
_REASON_LIMIT = 300


def normalize(name: str) -> str:
    """A plugin or distribution name as compared: lower case, ``-``, ``_`` and ``.`` alike."""
    return re.sub(r"[-_.]+", "-", name.strip()).lower()


class PluginInterrupted(KeyboardInterrupt):
    """Ctrl-C while a plugin was being loaded; the message names the plugin and the fix."""


class _Timeout(BaseException):
    """Raised in the main thread when plugin code runs past its limit.

    A ``BaseException``, so a plugin's ``except Exception`` cannot swallow it.
    """


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
    """What happened to one plugin: ``loaded``, ``broken`` (with the reason) or ``disabled``.

    A loaded plugin may still have lost names to a conflict (see ``Registry.conflicts``);
    its other names are unaffected.
    """

    name: str
    distribution: str | None
    version: str | None
    module: str
    status: str = LOADED
    reason: str = ""
    provides: dict[str, list[str]] = attrs.Factory(dict)
    obj: Any = attrs.field(default=None, repr=False)
    core: bool = False
    seconds: float = 0.0
    conflicts: list[Conflict] = attrs.field(factory=list, repr=False)
    staged: dict[str, list[Any]] = attrs.field(factory=dict, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "module": self.module,
            "status": self.status,
            "reason": self.reason,
            "provides": {k: sorted(v) for k, v in self.provides.items() if v},
            "conflicts": [c.to_json() for c in self.conflicts],
            "seconds": round(self.seconds, 3),
        }

    def label(self) -> str:
        dist = self.distribution or self.name
        return f"{dist} {self.version}" if self.version else dist

    def choice(self) -> str:
        """What to write after ``NAME=`` in ``PPTRAIN_PREFER`` to pick this plugin."""
        return self.distribution or self.name

    def keys(self) -> set[str]:
        """The names ``PPTRAIN_*`` variables may use for this plugin (normalised)."""
        return {normalize(self.name), normalize(self.distribution or self.name)}


@attrs.define
class Conflict:
    """A name registered by more than one distribution, or a plugin claiming a core name."""

    hook: str
    name: str
    claimants: list[PluginRecord]
    provider: PluginRecord | None
    reserved: bool = False  # the core owns the name

    def message(self) -> str:
        word, name = WORDS[self.hook], self.name
        others = [r for r in self.claimants if r is not self.provider]
        if self.reserved:
            who = " and ".join(r.label() for r in others)
            return f"{word} '{name}' is reserved by {CORE_DISTRIBUTION}, so {who}'s {word} of that name is ignored"
        both = " and ".join(r.label() for r in self.claimants)
        if self.provider is not None:
            return (
                f"{word} '{name}' is registered by {both}; {self.provider.label()} provides it "
                f"(PPTRAIN_PREFER={name}={self.provider.choice()})"
            )
        return (
            f"{word} '{name}' is registered by {both}, so neither provides it; choose one with "
            f"PPTRAIN_PREFER={name}={self.claimants[0].choice()} (or ={self.claimants[-1].choice()}), "
            f"or disable one with PPTRAIN_DISABLE_PLUGINS"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": WORDS[self.hook],
            "name": self.name,
            "claimants": [r.distribution or r.name for r in self.claimants],
            "provider": self.provider.distribution or self.provider.name if self.provider else None,
            "reserved": self.reserved,
            "message": self.message(),
        }


def _core_version() -> str:
    from pptrain_core import __version__

    return __version__


def _split_env(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _short(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= _REASON_LIMIT else text[: _REASON_LIMIT - 3] + "..."


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
            load=lambda: importlib.import_module(CORE_MODULE),
            distribution=CORE_DISTRIBUTION,
            version=_core_version(),
            module=CORE_MODULE,
        )
    ]


def _timeout_from(env: Mapping[str, str], notices: list[str]) -> float | None:
    text = env.get("PPTRAIN_PLUGIN_TIMEOUT", "").strip()
    if not text:
        return DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        notices.append(
            f"PPTRAIN_PLUGIN_TIMEOUT must be a number of seconds (0: no limit), got {text!r}; using {DEFAULT_TIMEOUT:g}"
        )
        return DEFAULT_TIMEOUT
    return value or None


def _prefer_from(env: Mapping[str, str], notices: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for entry in _split_env(env.get("PPTRAIN_PREFER")):
        name, sep, dist = entry.partition("=")
        if not sep or not name.strip() or not dist.strip():
            notices.append(
                f"PPTRAIN_PREFER entry {entry!r} is not NAME=DISTRIBUTION "
                f"(e.g. PPTRAIN_PREFER=dyck=pptrain-dyck), so it is ignored"
            )
            continue
        out[name.strip()] = dist.strip()
    return out


class Registry:
    """Everything the installed plugins registered, and what happened to each plugin."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: list[PluginRecord] = []
        self.specs: dict[str, dict[str, Any]] = {hook: {} for hook in KINDS}
        self.conflicts: list[Conflict] = []
        #: Problems with the ``PPTRAIN_*`` variables; the CLI prints them as warnings.
        self.notices: list[str] = []
        self.prefer: dict[str, str] = {}
        self.timeout: float | None = DEFAULT_TIMEOUT
        self._owner: dict[tuple[str, str], PluginRecord] = {}
        self._claims: dict[tuple[str, str], list[PluginRecord]] = {}

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
        reg.timeout = _timeout_from(env, reg.notices)
        reg.prefer = _prefer_from(env, reg.notices)
        only = _split_env(env.get("PPTRAIN_LOAD_PLUGINS"))
        disabled = _split_env(env.get("PPTRAIN_DISABLE_PLUGINS"))
        if candidates is None:
            candidates = entry_point_candidates()
        cands = (builtin_candidates() if builtins else []) + list(candidates)
        known = {normalize(k): k for c in cands for k in (c.name, c.distribution or c.name)}
        unknown = [n for n in only if normalize(n) not in known]
        if unknown:
            raise UserError(
                f"PPTRAIN_LOAD_PLUGINS names '{unknown[0]}', which is not an installed plugin"
                f"{did_you_mean(unknown[0], known.values())}; fix or unset it (`pptrain plugins` lists them without it)."
            )
        for name in disabled:
            if normalize(name) not in known:
                reg.notices.append(
                    f"PPTRAIN_DISABLE_PLUGINS names '{name}', which is not an installed plugin"
                    f"{did_you_mean(name, known.values())}; nothing was disabled for it"
                )
        only_keys, disabled_keys = {normalize(n) for n in only}, {normalize(n) for n in disabled}
        for cand in cands:
            record = PluginRecord(cand.name, cand.distribution, cand.version, cand.module)
            record.core = cand.distribution == CORE_DISTRIBUTION and cand.module == CORE_MODULE
            reg.plugins.append(record)
            keys = record.keys()
            if not record.core and ((only_keys and not keys & only_keys) or keys & disabled_keys):
                record.status, record.reason = DISABLED, "disabled by PPTRAIN_LOAD_PLUGINS / PPTRAIN_DISABLE_PLUGINS"
                continue
            started = time.monotonic()
            reg._load_one(cand, record)
            if record.status == LOADED:
                reg._stage(record)
            record.seconds = time.monotonic() - started
        reg._resolve()
        return reg

    def _broken(self, record: PluginRecord, reason: str) -> None:
        record.status, record.reason = BROKEN, reason
        if record.obj is not None and self.pm.is_registered(record.obj):
            self.pm.unregister(record.obj)
        record.provides, record.staged = {}, {}

    def _call(self, record: PluginRecord, what: str, fn: Callable[[], Any]) -> tuple[bool, Any]:
        """Run plugin code: ``(True, result)``, or ``(False, reason)`` for any failure.

        Contains exceptions, ``sys.exit()`` and a ``KeyboardInterrupt`` the plugin raises
        itself; stops code that runs past the timeout where ``SIGALRM`` allows; prints what
        the plugin prints on stderr (stdout belongs to ``--json``). A real Ctrl-C raises
        :class:`PluginInterrupted` naming the plugin.
        """
        limit = self.timeout
        state = {"armed": True, "interrupted": False}
        started = time.monotonic()
        main = threading.current_thread() is threading.main_thread()
        use_alarm = (
            main
            and limit is not None
            and hasattr(signal, "setitimer")
            and signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, None)
            and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
        )
        catch_int = main and signal.getsignal(signal.SIGINT) is signal.default_int_handler
        note_at = NOTE_AFTER if limit is None or limit > NOTE_AFTER else None

        def note() -> None:
            if not state["armed"]:
                return
            stop = (
                f"it is stopped after {limit:g} s (PPTRAIN_PLUGIN_TIMEOUT)" if use_alarm else "press Ctrl-C if it hangs"
            )
            with contextlib.suppress(Exception):
                sys.__stderr__.write(
                    f"pptrain: {what} of plugin '{record.name}' ({record.label()}) is still running after "
                    f"{time.monotonic() - started:.0f} s; {stop}, or skip it with PPTRAIN_DISABLE_PLUGINS={record.name}\n"
                )
                sys.__stderr__.flush()

        def on_alarm(signum: int, frame: Any) -> None:
            if not state["armed"]:
                return
            left = limit - (time.monotonic() - started)
            if left > 0.01:
                note()
                signal.setitimer(signal.ITIMER_REAL, left)
                return
            signal.setitimer(signal.ITIMER_REAL, 1.0)  # again, if the plugin swallows it
            raise _Timeout

        def on_int(signum: int, frame: Any) -> None:
            if state["armed"]:
                state["interrupted"] = True
            raise KeyboardInterrupt

        watchdog = None
        if use_alarm:
            previous_alarm = signal.signal(signal.SIGALRM, on_alarm)
            signal.setitimer(signal.ITIMER_REAL, note_at if note_at is not None else limit)
        elif note_at is not None:
            watchdog = threading.Timer(note_at, note)
            watchdog.daemon = True
            watchdog.start()
        if catch_int:
            signal.signal(signal.SIGINT, on_int)
        try:
            with contextlib.redirect_stdout(sys.stderr):
                return True, fn()
        except _Timeout:
            return False, (
                f"{what} did not finish within {limit:g} s, so it was stopped; fix or uninstall "
                f"{record.choice()}, or raise PPTRAIN_PLUGIN_TIMEOUT"
            )
        except KeyboardInterrupt as exc:
            # a real Ctrl-C came through our handler; without it (SIGINT not the default, e.g.
            # under a runner that ignores it) a KeyboardInterrupt can only be the plugin's own
            if state["interrupted"]:
                raise PluginInterrupted(
                    f"interrupted during {what} of plugin '{record.name}' ({record.label()}) after "
                    f"{time.monotonic() - started:.1f} s; if it hangs, skip it with "
                    f"PPTRAIN_DISABLE_PLUGINS={record.name}"
                ) from exc
            return False, f"{what} raised KeyboardInterrupt"
        except SystemExit as exc:
            return False, f"{what} called sys.exit({_short(repr(exc.code))})"
        except BaseException as exc:  # a broken plugin never breaks the CLI
            return False, f"{what} failed: {type(exc).__name__}: {_short(str(exc))}"
        finally:
            state["armed"] = False
            if use_alarm:
                signal.setitimer(signal.ITIMER_REAL, 0)
                if signal.getsignal(signal.SIGALRM) is on_alarm:
                    signal.signal(signal.SIGALRM, previous_alarm)
            if watchdog is not None:
                watchdog.cancel()
            if catch_int and signal.getsignal(signal.SIGINT) is on_int:
                signal.signal(signal.SIGINT, signal.default_int_handler)

    def _load_one(self, cand: Candidate, record: PluginRecord) -> None:
        reason = _incompatible(cand)
        if reason:
            self._broken(record, reason)
            return
        ok, obj = self._call(record, "import", cand.load)
        if not ok:
            self._broken(record, obj)
            return

        def misspelled() -> list[str]:
            return [
                name
                for name in dir(obj)
                if name not in HOOK_NAMES and self.pm.parse_hookimpl_opts(obj, name) is not None
            ]

        ok, names = self._call(record, "hook discovery", misspelled)
        if not ok:
            self._broken(record, names)
            return
        if names:
            name = names[0]
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
        except ValueError as exc:  # registered twice under the same name
            self._broken(record, str(exc))
        except BaseException as exc:  # an object whose attributes raise, exit, ...
            self._broken(record, f"registering failed: {type(exc).__name__}: {_short(str(exc))}")

    def _impls(self, hook: str, record: PluginRecord) -> list[Any]:
        caller = getattr(self.pm.hook, hook)
        return [impl for impl in caller.get_hookimpls() if impl.plugin is record.obj]

    def _stage(self, record: PluginRecord) -> None:
        """Call the plugin's collector hooks; keep what they register for :meth:`_resolve`."""
        for hook, (spec_cls, word) in KINDS.items():
            staged: list[Any] = []

            def register(spec: Any, hook: str = hook, spec_cls: type = spec_cls, staged: list = staged) -> None:
                if not isinstance(spec, spec_cls):
                    raise TypeError(f"{hook} registered {type(spec).__name__}, expected {spec_cls.__name__}")
                staged.append(spec)

            for impl in self._impls(hook, record):
                ok, reason = self._call(
                    record, hook, lambda impl=impl, register=register: impl.function(register=register)
                )
                if not ok:
                    self._broken(record, reason)
                    return
            names = [spec.name for spec in staged]
            twice = sorted({n for n in names if names.count(n) > 1})
            if twice:
                self._broken(record, f"{word} '{twice[0]}' is registered twice by {record.label()}")
                return
            if staged:
                record.staged[hook] = staged

    def _choose(
        self, hook: str, name: str, records: list[PluginRecord], *, core_name: bool = False
    ) -> PluginRecord | None:
        """Who provides a name: the only claimant, the core, the user's choice, or nobody."""
        if len(records) == 1 and not core_name:
            return records[0]
        core = next((r for r in records if r.core), None)
        if core_name or core is not None:
            conflict = Conflict(hook, name, records, provider=core, reserved=True)
        else:
            wanted = self.prefer.get(name)
            chosen = next((r for r in records if wanted and normalize(wanted) in r.keys()), None)
            conflict = Conflict(hook, name, records, provider=chosen)
        self.conflicts.append(conflict)
        for record in records:
            if not record.core:
                record.conflicts.append(conflict)
        return conflict.provider

    def _resolve(self) -> None:
        """Give every registered name to its provider, from what the loaded plugins staged."""
        self.specs = {hook: {} for hook in KINDS}
        self._owner = {}
        self.conflicts = [c for c in self.conflicts if c.hook == COMMANDS]
        claims: dict[tuple[str, str], list[tuple[PluginRecord, Any]]] = {}
        for record in self.plugins:
            record.conflicts = [c for c in record.conflicts if c.hook == COMMANDS]
            for hook in KINDS:
                record.provides.pop(hook, None)
            if record.status != LOADED:
                continue
            for hook, specs in record.staged.items():
                for spec in specs:
                    claims.setdefault((hook, spec.name), []).append((record, spec))
        self._claims = {k: [r for r, _ in v] for k, v in claims.items() if k[0] != COMMANDS} | {
            k: v for k, v in self._claims.items() if k[0] == COMMANDS
        }
        for (hook, name), claimants in claims.items():
            if len(claimants) > 1 and all(_same(spec, claimants[0][1]) for _, spec in claimants):
                claimants = claimants[:1]  # the very same spec twice (a test re-registering it): nothing to choose
            provider = self._choose(hook, name, [r for r, _ in claimants])
            if provider is None:
                continue
            self.specs[hook][name] = next(spec for r, spec in claimants if r is provider)
            self._owner[(hook, name)] = provider
            provider.provides.setdefault(hook, []).append(name)
        self._check_prefer()

    def _check_prefer(self) -> None:
        self.notices = [n for n in self.notices if not n.startswith("PPTRAIN_PREFER asks")]
        for name, wanted in self.prefer.items():
            claimants = [r for (_, n), records in self._claims.items() if n == name for r in records]
            if not claimants:
                names = {n for _, n in self._claims}
                self.notices.append(
                    f"PPTRAIN_PREFER asks for '{name}' from '{wanted}', but no loaded plugin registers "
                    f"'{name}'{did_you_mean(name, names)}; the entry is ignored"
                )
            elif not any(normalize(wanted) in r.keys() for r in claimants):
                choices = sorted({r.choice() for r in claimants})
                self.notices.append(
                    f"PPTRAIN_PREFER asks for '{name}' from '{wanted}', which does not register it"
                    f"{did_you_mean(wanted, choices)}; the entry is ignored"
                )

    def add_commands(self, app: Any) -> None:
        """Let every loaded plugin add sub-commands, without replacing a core command.

        Each plugin registers into a scratch Typer app; its commands are built (so a bad
        signature breaks only that plugin), named, checked against the core's commands and
        the other plugins', and only then added to ``app``.
        """
        import typer

        core_names = _command_names(app)
        self.conflicts = [c for c in self.conflicts if c.hook != COMMANDS]
        for record in self.plugins:
            record.conflicts = [c for c in record.conflicts if c.hook != COMMANDS]
            record.provides.pop(COMMANDS, None)
        claims: dict[str, list[tuple[PluginRecord, Any, bool]]] = {}
        newly_broken = False
        for record in self.plugins:
            if record.status != LOADED:
                continue
            impls = self._impls(COMMANDS, record)
            if not impls:
                continue
            scratch = typer.Typer()

            def run(impls: list = impls, scratch: Any = scratch) -> list[tuple[str, Any, bool]]:
                for impl in impls:
                    impl.function(app=scratch)
                return _named_items(scratch)

            ok, items = self._call(record, COMMANDS, run)
            if ok:
                names = [name for name, _, _ in items]
                twice = sorted({n for n in names if names.count(n) > 1})
                if twice:
                    ok, items = False, f"command '{twice[0]}' is registered twice by {record.label()}"
            if not ok:
                self._broken(record, items)
                newly_broken = True
                continue
            for name, info, is_group in items:
                claims.setdefault(name, []).append((record, info, is_group))
        if newly_broken:  # its other names go, and no longer block anyone else's
            self._resolve()
        self._claims = {k: v for k, v in self._claims.items() if k[0] != COMMANDS}
        for name, entries in claims.items():
            records = [r for r, _, _ in entries]
            self._claims[(COMMANDS, name)] = records
            provider = self._choose(COMMANDS, name, records, core_name=name in core_names)
            if provider is None:
                continue
            _, info, is_group = next(e for e in entries if e[0] is provider)
            (app.registered_groups if is_group else app.registered_commands).append(info)
            provider.provides.setdefault(COMMANDS, []).append(name)
        self._check_prefer()

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

    def unresolved(self) -> list[Conflict]:
        """Conflicts that left a name without a provider (the user has to choose)."""
        return [c for c in self.conflicts if c.provider is None and not c.reserved]

    def get(self, hook: str, name: str) -> Any:
        """The spec registered under ``name``, or a :class:`UserError` with the closest names."""
        table = self.specs[hook]
        if name in table:
            return table[name]
        for conflict in self.unresolved():
            if conflict.hook == hook and conflict.name == name:
                raise UserError(conflict.message() + ".")
        word = KINDS[hook][1]
        hint = did_you_mean(name, table)
        broken = [r.label() for r in self.plugins if r.status == BROKEN]
        extra = f"; broken plugins: {', '.join(broken)} (see `pptrain plugins`)" if broken else ""
        disabled = [r.label() for r in self.plugins if r.status == DISABLED]
        if disabled:
            extra += f"; disabled by PPTRAIN_LOAD_PLUGINS / PPTRAIN_DISABLE_PLUGINS: {', '.join(disabled)}"
        listing = "`pptrain list-tasks`" if hook == "register_tasks" else "`pptrain plugins`"
        raise UserError(f"unknown {word} '{name}'{hint}; {listing} shows what is installed{extra}.")

    def task(self, name: str) -> Any:
        return self.get("register_tasks", name)


def _same(a: Any, b: Any) -> bool:
    """Whether two registered specs are one and the same (identical, or equal frozen specs)."""
    if a is b:
        return True
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:
        return False


def _command_names(app: Any) -> set[str]:
    """The names an app's commands and groups answer to, as the command line will see them."""
    from typer.main import get_command_name

    names = set()
    for info in app.registered_commands:
        name = info.name or (get_command_name(info.callback.__name__) if info.callback else None)
        if name:
            names.add(name)
    for info in app.registered_groups:
        name = info.name or (info.typer_instance.info.name if info.typer_instance else None)
        if name:
            names.add(name)
    return names


def _named_items(scratch: Any) -> list[tuple[str, Any, bool]]:
    """``(name, info, is_group)`` for what a plugin added to its scratch app, each built once.

    Building the click command here raises on a bad signature, while the plugin's own
    code is still being guarded, instead of when the whole command line starts.
    """
    import typer
    from typer.main import get_group

    out = []
    for info, is_group in [(i, False) for i in scratch.registered_commands] + [
        (i, True) for i in scratch.registered_groups
    ]:
        probe = typer.Typer()
        (probe.registered_groups if is_group else probe.registered_commands).append(info)
        names = list(get_group(probe).commands)
        if len(names) != 1 or not names[0] or names[0] == "None":
            raise ValueError("every command and command group needs a name")
        out.append((names[0], info, is_group))
    return out


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
