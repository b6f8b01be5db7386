"""Resolve ``TASK[:PRESET]`` plus overrides into a validated config and a built task.

Resolution order: the config class's defaults, then the preset's values (the task's
default preset when none is named), then the user's overrides. The result is
structured strictly (see :mod:`pptrain_core.config`), so a wrong type or an unknown key
fails with its path, e.g. ``$.task.params.k``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from pptrain_core.config import structure, unstructure
from pptrain_core.errors import UserError, did_you_mean
from pptrain_core.plugins import Registry, get_registry
from pptrain_core.specs import Preset, TaskSpec

PARAMS_PATH = "$.task.params"


@attrs.frozen
class ResolvedTask:
    """A task spec, the preset applied (if any), and the validated config."""

    spec: TaskSpec
    preset: Preset | None
    config: Any

    @property
    def ref(self) -> str:
        return f"{self.spec.name}:{self.preset.name}" if self.preset else self.spec.name

    def build(self) -> Any:
        return self.spec.build(self.config)

    def describe(self) -> dict[str, Any]:
        """JSON-ready: name, preset, resolved config and the provenance of each preset value."""
        out: dict[str, Any] = {
            "task": self.spec.name,
            "preset": self.preset.name if self.preset else None,
            "summary": self.spec.summary,
            "citation": self.spec.citation,
            "config": unstructure(self.config),
        }
        if self.preset is not None:
            out["preset_summary"] = self.preset.summary
            out["source"] = attrs.asdict(self.preset.source)
            out["provenance"] = {
                k: {"status": p.status, "note": p.note} for k, p in sorted(self.preset.provenance.items())
            }
        return out


def split_ref(ref: str) -> tuple[str, str | None]:
    """``"dyck:paper_k64"`` -> ``("dyck", "paper_k64")``; ``"dyck"`` -> ``("dyck", None)``."""
    name, sep, preset = ref.partition(":")
    if not name or (sep and not preset):
        raise UserError(f"task reference {ref!r} must look like TASK or TASK:PRESET, e.g. dyck:paper_k64.")
    return name, (preset if sep else None)


def find_preset(spec: TaskSpec, name: str) -> Preset:
    try:
        return spec.preset(name)
    except KeyError:
        names = [p.name for p in spec.presets]
        raise UserError(
            f"task '{spec.name}' has no preset '{name}'{did_you_mean(name, names)}; "
            f"`pptrain presets {spec.name}` lists them."
        ) from None


def resolve(
    ref: str,
    params: Mapping[str, Any] | None = None,
    *,
    registry: Registry | None = None,
    path: str = PARAMS_PATH,
) -> ResolvedTask:
    """Look up ``TASK[:PRESET]`` and build its validated config with ``params`` on top."""
    registry = registry or get_registry()
    name, preset_name = split_ref(ref)
    spec = registry.task(name)
    if preset_name is None and spec.default_preset is not None:
        preset_name = spec.default_preset
    preset = find_preset(spec, preset_name) if preset_name else None
    data: dict[str, Any] = dict(preset.values) if preset else {}
    data.update(params or {})
    return ResolvedTask(spec=spec, preset=preset, config=structure(data, spec.config_cls, path))


def create_task(ref: str, *, registry: Registry | None = None, **params: Any) -> ResolvedTask:
    """``create_task("dyck:small_k8", k=4)``: a resolved task, ready for ``PrePreTrainer``."""
    return resolve(ref, params, registry=registry)


DEFAULT_MAX_TOKENS = 160


def default_render(
    task: Any,
    example: Any,
    *,
    max_tokens: int | None = DEFAULT_MAX_TOKENS,
    name: Callable[[int], str] | None = None,
    loss_style: str = "bold green",
    other_style: str = "dim",
) -> Any:
    """The rendering ``pptrain sample`` shows for a task without ``render_rich``, as a rich ``Text``.

    Each token by its display name (``name(token_id)``, default ``task.vocab.name``),
    separated by spaces; tokens that carry loss in ``loss_style``, the others in
    ``other_style``; after ``max_tokens`` tokens (``None``: no limit) a note
    ``... (N more)``. A family's ``render_rich`` can return it as it is, change ``name``
    (e.g. decoded text), or append to it (``text.append(...)``) and wrap it in other rich
    renderables (``rich.console.Group``, ``rich.panel.Panel``).
    """
    from rich.text import Text

    label = name or task.vocab.name
    text = Text()
    n = len(example.tokens)
    shown = n if max_tokens is None else min(n, max_tokens)
    for t in range(shown):
        if t:
            text.append(" ")
        text.append(label(int(example.tokens[t])), style=loss_style if example.loss_mask[t] else other_style)
    if shown < n:
        text.append(f" ... ({n - shown} more)", style="italic")
    return text
