"""Run any registered metric on a model: the Python API behind ``pptrain evaluate``.

::

    from pptrain_analytics.evaluate import evaluate

    evaluate("runs/dyck/bundle", "needle", steps=200)             # fine-tuning probe from a bundle
    evaluate("scratch", "needle", steps=200)                       # the same probe from scratch
    evaluate("runs/a/bundle", "cka", other="runs/b/bundle", task="dyck:smoke")
    evaluate(model, "induction_head_score")                        # an in-memory transformers model

A model is a transfer bundle directory (``bundle.json``; rebuilt by the installed adapter
it names, from data only: a bundle whose adapter config names code, such as a
``torch_module`` factory, needs ``model_adapter=`` / ``--adapter FILE`` from you), a local ``save_pretrained`` directory (``config.json``; loaded by ``hf_causal_lm``,
never from the network), an in-memory ``torch.nn.Module``, or ``"scratch"`` / ``None``
(fine-tuning probes only: the probe model keeps its fresh initialisation).

The metric's factory builds it from its config class, structured strictly from the
settings; settings that are not config fields but keyword parameters of the metric's
``evaluate`` (e.g. ``rules`` of ``nca_icl``) are passed through. Context the metric asks
for by name is supplied: ``task`` (a built task: ``--task``, else the bundle's own),
``adapter`` (the model's adapter), ``registry``, ``progress`` and ``device``.
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from pptrain_core.errors import ConfigError, UserError, did_you_mean

SCRATCH = "scratch"
#: Keyword parameters of a metric's ``evaluate`` that this module fills in itself.
CONTEXT = ("task", "adapter", "registry", "progress", "device")
#: Version of the JSON written by ``pptrain evaluate --out``.
FORMAT_VERSION = 1


@attrs.define
class LoadedModel:
    """A model ready for metrics, and where it came from."""

    model: Any
    """The ``torch.nn.Module`` (None for ``scratch``)."""
    kind: str
    """``bundle``, ``hf_dir``, ``module`` or ``scratch``."""
    path: str | None = None
    adapter: Any = None
    """The model adapter that built it (bundles and HF directories)."""
    task: Any = None
    """The resolved task a bundle was trained on (None otherwise)."""

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "path": self.path}
        if self.adapter is not None:
            out["adapter"] = getattr(self.adapter, "name", type(self.adapter).__name__)
        if self.task is not None:
            out["task"] = self.task.ref
        if self.model is not None:
            out["parameters"] = int(sum(p.numel() for p in self.model.parameters()))
            out["class"] = type(self.model).__name__
        return out


def load_model(source: Any, *, registry: Any = None, adapter: Any = None) -> LoadedModel:
    """A :class:`LoadedModel` from a bundle or HF directory, an ``nn.Module``, ``"scratch"`` or None.

    ``adapter`` rebuilds a bundle's model instead of the adapter the bundle records: the
    way to load a bundle whose recorded adapter would run code it names.
    """
    from pptrain_core.plugins import get_registry

    if isinstance(source, LoadedModel):
        return source
    if source is None or (isinstance(source, str) and source == SCRATCH):
        return LoadedModel(model=None, kind=SCRATCH)
    if hasattr(source, "named_parameters") and hasattr(source, "state_dict"):
        return LoadedModel(model=source, kind="module")
    if not isinstance(source, (str, Path)):
        raise TypeError(f"cannot evaluate a {type(source).__name__}; pass a path, a torch module or 'scratch'")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Loading weights" bars would garble tables and JSON
    reg = registry or get_registry()
    path = Path(source).expanduser()
    if not path.is_dir():
        raise UserError(
            f"model {str(source)!r} is not a directory; pass a bundle folder, a local save_pretrained folder, "
            f"or '{SCRATCH}' for a fine-tuning probe from scratch."
        )
    if (path / "bundle.json").is_file():
        from pptrain_core.bundle import load_bundle

        bundle = load_bundle(path, registry=reg)
        chosen = adapter if adapter is not None else bundle.adapter(reg)
        model = bundle.load_model(reg, adapter=chosen)
        return LoadedModel(model=model, kind="bundle", path=str(path), adapter=chosen, task=bundle.task(reg))
    if adapter is not None:
        raise UserError(f"an adapter is only used to rebuild a bundle, and {str(source)!r} is not one; leave it out.")
    if (path / "config.json").is_file():
        from pptrain_core.training.job import build_adapter

        adapter = build_adapter("hf_causal_lm", {"pretrained_dir": str(path)}, registry=reg, path="$.model")
        return LoadedModel(model=adapter.load(str(path)), kind="hf_dir", path=str(path), adapter=adapter)
    if (path / "bundle" / "bundle.json").is_file():
        raise UserError(f"{str(source)!r} is a run directory; pass its bundle: {str(path / 'bundle')!r}.")
    raise UserError(
        f"{str(source)!r} holds neither bundle.json (a transfer bundle) nor config.json (a save_pretrained model); "
        "point at one of those folders."
    )


def _built_task(task: Any, registry: Any) -> tuple[Any, str | None]:
    """(built task, its reference) from a ``TASK[:PRESET]`` string, a resolved task or a built one."""
    if task is None:
        return None, None
    if isinstance(task, str):
        from pptrain_core.tasks import resolve

        resolved = resolve(task, registry=registry)
        return resolved.build(), resolved.ref
    if hasattr(task, "spec") and hasattr(task, "build"):
        return task.build(), task.ref
    return task, type(task).__name__


def _metric_parameters(cls: type) -> dict[str, inspect.Parameter]:
    return dict(inspect.signature(cls.evaluate).parameters)


def accepted_settings(spec: Any) -> list[str]:
    """Every setting ``--set`` may give a metric: its config fields and its extra ``evaluate`` keywords."""
    from pptrain_core.specs import resolve_factory

    fields = [f.name for f in attrs.fields(spec.config_cls)]
    extra = [
        name
        for name, p in _metric_parameters(resolve_factory(spec.factory)).items()
        if p.kind == inspect.Parameter.KEYWORD_ONLY and name not in CONTEXT
    ]
    return fields + [e for e in extra if e not in fields]


def split_settings(spec: Any, params: Mapping[str, Any], path: str) -> tuple[Any, dict[str, Any]]:
    """(config object, extra ``evaluate`` keywords) from user settings; unknown keys raise ``ConfigError``."""
    from pptrain_core.config import structure

    fields = {f.name for f in attrs.fields(spec.config_cls)}
    valid = accepted_settings(spec)
    for key in params:
        if key not in valid:
            raise ConfigError(
                f"{path}.{key}", f"unknown setting '{key}' of metric '{spec.name}'{did_you_mean(key, valid)}"
            )
    config = structure({k: v for k, v in params.items() if k in fields}, spec.config_cls, path)
    return config, {k: v for k, v in params.items() if k not in fields}


def json_ready(value: Any) -> Any:
    """Plain JSON data: numpy scalars and arrays to Python, NaN and infinities to None."""
    import numpy as np

    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_ready(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def evaluate(
    model_or_path: Any,
    metric: str,
    *,
    other: Any = None,
    task: Any = None,
    registry: Any = None,
    progress: bool = False,
    model_adapter: Any = None,
    **params: Any,
) -> dict[str, Any]:
    """Run one registered metric; returns a JSON-ready dict with the metric's ``result``.

    ``params`` are the metric's settings (its config fields, plus extra keywords of its
    ``evaluate``). Unknown metrics and settings, a pair metric without ``other``, or a
    model where none can be read raise a one-sentence :class:`UserError`.
    ``model_adapter`` rebuilds a bundle given as the first model (see :func:`load_model`).
    """
    from pptrain_core.config import unstructure
    from pptrain_core.plugins import get_registry
    from pptrain_core.specs import resolve_factory

    reg = registry or get_registry()
    spec = reg.get("register_metrics", metric)
    if spec.kind == "run":
        raise UserError(f"metric '{metric}' reads a finished run, not a model; run `pptrain report RUN_DIR` instead.")
    if spec.kind == "pair" and other is None:
        raise UserError(f"metric '{metric}' compares two models; pass the second one with --other (other=...).")
    if spec.kind == "model" and other is not None:
        raise UserError(f"metric '{metric}' reads one model; leave --other out (other=None).")
    config, extra = split_settings(spec, params, f"$.metrics.{metric}")
    cls = resolve_factory(spec.factory)
    accepts = _metric_parameters(cls)
    first = load_model(model_or_path, registry=reg, adapter=model_adapter)
    second = load_model(other, registry=reg) if other is not None else None
    for label, loaded in (("model", first), ("--other", second)):
        if loaded is not None and loaded.model is None and not _accepts_scratch(accepts):
            raise UserError(
                f"metric '{metric}' needs a real {label}; '{SCRATCH}' is only for the fine-tuning probes "
                "(needle, reversed_addition)."
            )
    built, task_ref = _built_task(task, reg)
    if built is None and first.task is not None and "task" in accepts:
        built, task_ref = first.task.build(), first.task.ref
    context: dict[str, Any] = {}
    if "task" in accepts:
        required = accepts["task"].default is inspect.Parameter.empty
        if built is None and required:
            raise UserError(
                f"metric '{metric}' needs a task; pass --task TASK[:PRESET] (task=...) or a bundle trained on one."
            )
        context["task"] = built
    if "adapter" in accepts:
        context["adapter"] = first.adapter
    if "registry" in accepts:
        context["registry"] = reg
    if "progress" in accepts:
        context["progress"] = progress
    if "device" in accepts and first.model is not None:
        context["device"] = str(next(first.model.parameters()).device)
    instance = cls(config)
    t0 = time.perf_counter()
    args = [first.model] + ([second.model] if second is not None else [])
    result = instance.evaluate(*args, **context, **extra)
    return json_ready(
        {
            "metric": metric,
            "kind": spec.kind,
            "summary": spec.summary,
            "citation": spec.citation,
            "model": first.describe(),
            "other": second.describe() if second is not None else None,
            "task": task_ref,
            "config": unstructure(config),
            "settings": extra,
            "result": result,
            "wall_s": round(time.perf_counter() - t0, 3),
        }
    )


def _accepts_scratch(parameters: Mapping[str, inspect.Parameter]) -> bool:
    """A metric takes ``scratch`` when its first parameter (the model) defaults to None."""
    params = [p for name, p in parameters.items() if name != "self"]
    return bool(params) and params[0].default is None
