"""Turn a job file (plus ``--set`` overrides) into a resolved task, a model adapter and a run config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pptrain_core.config import FieldValueError, load_file, parse_override, set_dotted, structure
from pptrain_core.errors import ConfigError
from pptrain_core.plugins import Registry, get_registry
from pptrain_core.specs import resolve_factory
from pptrain_core.tasks import ResolvedTask, resolve
from pptrain_core.training.config import JobConfig, RunConfig


def build_adapter(
    name: str, params: dict[str, Any], *, registry: Registry | None = None, path: str = "$.model.params"
) -> Any:
    """The model adapter ``name`` built from ``params`` (validated by its own config class)."""
    reg = registry or get_registry()
    spec = reg.get("register_model_adapters", name)
    config = structure(params, spec.config_cls, path)
    adapter = resolve_factory(spec.factory)(config)
    if getattr(adapter, "name", None) != name:
        try:
            adapter.name = name
        except AttributeError:
            pass
    return adapter


def resolve_job(data: dict[str, Any], *, registry: Registry | None = None) -> tuple[ResolvedTask, Any, RunConfig]:
    """Validate a whole job; every error names its path (``$.run.lr``, ``$.task.params.k``)."""
    reg = registry or get_registry()
    if "task" not in data:
        raise ConfigError("$.task", "is required, e.g. task: {name: dyck, preset: small_k8}")
    job = structure(data, JobConfig, "$")
    try:
        ref = job.task.ref()
    except FieldValueError as exc:
        raise ConfigError(f"$.task.{exc.field}", exc.message) from None
    resolved = resolve(ref, job.task.params, registry=reg, path="$.task.params")
    adapter = build_adapter(job.model.adapter, job.model.params, registry=reg)
    return resolved, adapter, job.run


def load_job(path: str | Path, overrides: list[str] | None = None, *, registry: Registry | None = None):
    """Read a YAML, TOML or JSON job file, apply ``key.path=value`` overrides, and resolve it."""
    data = load_file(path)
    for item in overrides or []:
        key, value = parse_override(item)
        set_dotted(data, key, value)
    return resolve_job(data, registry=registry)
