"""The report a transfer policy returns: every parameter, what was done to it, and why.

Light module: neither torch nor rich is imported at module level (rich only inside
:meth:`TransferReport.render`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import attrs

from pptrain_core.errors import UserError

__all__ = ["ACTIONS", "FORMAT_VERSION", "TransferError", "TransferReport", "TransferRow"]

#: What can happen to a parameter, with the meaning shown in ``docs/transfer.md``.
ACTIONS: tuple[str, ...] = (
    "copied",  # the whole tensor was copied from the source
    "partially_copied",  # the first rows were copied (position embeddings of another length)
    "mean_initialised",  # every row set to the mean of the source rows
    "reinitialised",  # the policy leaves it at the target model's fresh initialisation
    "kept",  # not transferable (no source counterpart, unknown role, role differs): target untouched
    "skipped",  # excluded by the user (skip prefixes): target untouched
    "shape_mismatch",  # the policy would copy it but the shapes differ: target untouched
    "source_only",  # the source has it, the target has no parameter of that name
)

#: Version of the JSON written by :meth:`TransferReport.to_json`.
FORMAT_VERSION = 1

_STYLES = {
    "copied": "green",
    "partially_copied": "yellow",
    "mean_initialised": "cyan",
    "reinitialised": "blue",
    "kept": "magenta",
    "skipped": "dim",
    "shape_mismatch": "bold red",
    "source_only": "dim",
}


class TransferError(UserError):
    """The source and the target cannot be matched (a missing tensor, an inconsistent parameter list)."""


def _json_safe(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _shape(value: Any) -> tuple[int, ...] | None:
    if value is None:
        return None
    return tuple(int(d) for d in value)


def _check_action(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    if value not in ACTIONS:
        raise ValueError(f"unknown transfer action {value!r}; actions are {', '.join(ACTIONS)}")


@attrs.frozen(kw_only=True)
class TransferRow:
    """One parameter of the report."""

    name: str
    role: str | None
    layer: int | None
    action: str = attrs.field(validator=_check_action)
    reason: str
    source_shape: tuple[int, ...] | None = attrs.field(converter=_shape)
    target_shape: tuple[int, ...] | None = attrs.field(converter=_shape)
    frozen: bool = False
    written: int = 0
    """Number of target elements written from the source (copied, partially copied or mean-initialised)."""
    source_name: str | None = None
    """The source parameter that fed this one when it is not the one of the same name
    (``mean_embeddings``: an untied head from the source's token embedding)."""

    @property
    def target_numel(self) -> int:
        return math.prod(self.target_shape) if self.target_shape is not None else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "layer": self.layer,
            "action": self.action,
            "reason": self.reason,
            "source_shape": list(self.source_shape) if self.source_shape is not None else None,
            "target_shape": list(self.target_shape) if self.target_shape is not None else None,
            "frozen": self.frozen,
            "written": self.written,
            "source_name": self.source_name,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TransferRow:
        return cls(**dict(data))


def _shape_text(shape: tuple[int, ...] | None) -> str:
    if shape is None:
        return "-"
    return "(" + ", ".join(map(str, shape)) + ")"


@attrs.frozen(kw_only=True)
class TransferReport:
    """What a policy did (or, with ``dry_run``, would do) to every parameter.

    Rows come in the target's parameter order, then the source-only parameters.
    """

    policy: str
    config: Mapping[str, Any] = attrs.field(factory=dict, converter=lambda v: _json_safe(dict(v)))
    dry_run: bool = False
    rows: tuple[TransferRow, ...] = attrs.field(factory=tuple, converter=tuple)
    notes: tuple[str, ...] = attrs.field(factory=tuple, converter=tuple)

    # ------------------------------------------------------------------ queries

    def __iter__(self):
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def row(self, name: str) -> TransferRow:
        """The row of parameter ``name`` (a target parameter first, else a source-only one)."""
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(name)

    def by_action(self) -> dict[str, list[TransferRow]]:
        """Action -> rows, for the actions that occur, in :data:`ACTIONS` order."""
        out: dict[str, list[TransferRow]] = {}
        for action in ACTIONS:
            rows = [r for r in self.rows if r.action == action]
            if rows:
                out[action] = rows
        return out

    @property
    def counts(self) -> dict[str, int]:
        """Number of parameters per action (only the actions that occur)."""
        return {action: len(rows) for action, rows in self.by_action().items()}

    @property
    def frozen(self) -> list[str]:
        """Names of the parameters the policy froze."""
        return [r.name for r in self.rows if r.frozen]

    @property
    def mismatches(self) -> list[TransferRow]:
        return [r for r in self.rows if r.action == "shape_mismatch"]

    def summary(self) -> dict[str, Any]:
        """Counts per action, elements written from the source and in the target, frozen count."""
        target_rows = [r for r in self.rows if r.action != "source_only"]
        return {
            "parameters": len(target_rows),
            "source_only": sum(1 for r in self.rows if r.action == "source_only"),
            "counts": self.counts,
            "copied_elements": sum(r.written for r in self.rows if r.action in ("copied", "partially_copied")),
            "written_elements": sum(r.written for r in self.rows),
            "target_elements": sum(r.target_numel for r in target_rows),
            "frozen_parameters": sum(1 for r in self.rows if r.frozen),
            "frozen_elements": sum(r.target_numel for r in self.rows if r.frozen),
        }

    # ------------------------------------------------------------------ JSON

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-ready data (``json.dumps(report.to_json())`` works); see :meth:`from_json`."""
        return {
            "format_version": FORMAT_VERSION,
            "policy": self.policy,
            "config": _json_safe(self.config),
            "dry_run": self.dry_run,
            "summary": self.summary(),
            "notes": list(self.notes),
            "parameters": [r.to_json() for r in self.rows],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TransferReport:
        """Rebuild a report from :meth:`to_json` output (the summary is recomputed)."""
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise ValueError(f"transfer report format version {version!r} is not {FORMAT_VERSION}")
        return cls(
            policy=data["policy"],
            config=data.get("config", {}),
            dry_run=bool(data.get("dry_run", False)),
            rows=[TransferRow.from_json(r) for r in data["parameters"]],
            notes=data.get("notes", ()),
        )

    # ------------------------------------------------------------------ display

    def render(self, console: Any = None, *, actions: tuple[str, ...] | None = None) -> None:
        """Print the report as a rich table and a summary line.

        ``actions`` limits the table to those actions (the summary always covers everything).
        """
        from rich.console import Console
        from rich.table import Table

        console = console or Console()
        title = f"transfer policy '{self.policy}'" + (" (dry run: nothing written)" if self.dry_run else "")
        table = Table(title=title, show_lines=False)
        for col, kw in (
            ("parameter", {"overflow": "fold"}),
            ("role", {}),
            ("layer", {"justify": "right"}),
            ("action", {}),
            ("source shape", {"justify": "right"}),
            ("target shape", {"justify": "right"}),
            ("frozen", {}),
            ("reason", {"overflow": "fold"}),
        ):
            table.add_column(col, **kw)
        for r in self.rows:
            if actions is not None and r.action not in actions:
                continue
            style = _STYLES.get(r.action, "")
            table.add_row(
                r.name,
                r.role or "unknown",
                "" if r.layer is None else str(r.layer),
                f"[{style}]{r.action}[/]" if style else r.action,
                _shape_text(r.source_shape),
                _shape_text(r.target_shape),
                "yes" if r.frozen else "",
                r.reason,
            )
        console.print(table)
        console.print(self.summary_line())
        for note in self.notes:
            console.print(f"note: {note}")

    def summary_line(self) -> str:
        """One sentence: counts per action and elements written."""
        s = self.summary()
        counts = ", ".join(f"{n} {a}" for a, n in s["counts"].items()) or "no parameters"
        frac = s["written_elements"] / s["target_elements"] if s["target_elements"] else 0.0
        line = (
            f"{s['parameters']} target parameters: {counts}; "
            f"{s['written_elements']:,} of {s['target_elements']:,} target elements "
            f"({frac:.1%}) written from the source"
        )
        if s["frozen_parameters"]:
            line += f"; {s['frozen_parameters']} parameters ({s['frozen_elements']:,} elements) frozen"
        return line + "."
