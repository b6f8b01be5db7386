"""pptrain 0.3.0's ``RunConfig``, ``PrePreTrainer`` and ``PrePreTrainingRun`` on the core trainer.

:class:`RunConfig` takes 0.3.0's arguments (``per_device_train_batch_size``,
``learning_rate``, ``max_steps=-1`` for one epoch, ...) with 0.3.0's defaults (seed 42,
linear schedule, evaluation and checkpoints every 100 steps), and any field of the core's
:class:`pptrain_core.training.RunConfig` by its own name. :class:`PrePreTrainer` builds
the core run config when it knows the task, because a 0.3.0 task carries dataset
settings: ``sequence_count`` (the epoch length, so ``max_steps=-1`` means one pass over
it), ``eval_sequence_count`` (``eval_examples``) and ``max_length`` (``seq_len``).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import attrs

from pptrain._compat import note
from pptrain.integrations import core_adapter
from pptrain.tasks import LegacyTask
from pptrain_core.errors import UserError, quote
from pptrain_core.tasks import ResolvedTask, resolve
from pptrain_core.training.config import RunConfig as CoreRunConfig

_UNSET: Any = object()

#: 0.3.0 argument -> (core field, default in 0.3.0)
RENAMED: dict[str, tuple[str, Any]] = {
    "per_device_train_batch_size": ("batch_size", 8),
    "per_device_eval_batch_size": ("eval_batch_size", 8),
    "gradient_accumulation_steps": ("grad_accum", 1),
    "learning_rate": ("lr", 5e-4),
    "dataloader_num_workers": ("dataloader_workers", 0),
}
#: 0.3.0 arguments with the same name and meaning here (with 0.3.0's defaults).
SAME: dict[str, Any] = {
    "weight_decay": 0.0,
    "logging_steps": 10,
    "save_steps": 100,
    "eval_steps": 100,
    "warmup_steps": 0,
    "save_total_limit": 2,
}
_CORE_FIELDS = {f.name for f in attrs.fields(CoreRunConfig)}


class RunConfig:
    """0.3.0's run settings (see the module docstring); extra keywords are core fields."""

    def __init__(
        self,
        output_dir: str,
        seed: int = _UNSET,
        per_device_train_batch_size: int = _UNSET,
        per_device_eval_batch_size: int = _UNSET,
        gradient_accumulation_steps: int = _UNSET,
        learning_rate: float = _UNSET,
        weight_decay: float = _UNSET,
        num_train_epochs: float = _UNSET,
        max_steps: int = _UNSET,
        logging_steps: int = _UNSET,
        save_steps: int = _UNSET,
        eval_steps: int = _UNSET,
        warmup_steps: int = _UNSET,
        save_total_limit: int = _UNSET,
        dataloader_num_workers: int = _UNSET,
        fp16: bool = _UNSET,
        bf16: bool = _UNSET,
        gradient_checkpointing: bool = _UNSET,
        remove_checkpoints: bool = _UNSET,
        report_to: tuple[str, ...] = _UNSET,
        **modern: Any,
    ):
        given = {k: v for k, v in locals().items() if k not in ("self", "modern", "__class__") and v is not _UNSET}
        unknown = sorted(set(modern) - _CORE_FIELDS)
        if unknown:
            from pptrain_core.errors import did_you_mean

            valid = sorted(_CORE_FIELDS | set(RENAMED) | set(SAME) | {"seed", "num_train_epochs", "fp16", "bf16"})
            raise UserError(f"RunConfig has no setting '{unknown[0]}'{did_you_mean(unknown[0], valid)}.")
        self.given = given
        self.modern = dict(modern)
        self.output_dir = str(output_dir)
        self.seed = given.get("seed", 42)
        self.num_train_epochs = given.get("num_train_epochs", 1.0)
        self.max_steps = given.get("max_steps", -1)
        self.fp16 = given.get("fp16", False)
        self.bf16 = given.get("bf16", False)
        self.gradient_checkpointing = given.get("gradient_checkpointing", False)
        self.remove_checkpoints = given.get("remove_checkpoints", True)
        self.report_to = tuple(given.get("report_to", ()))
        for old, (_, default) in RENAMED.items():
            setattr(self, old, given.get(old, default))
        for name, default in SAME.items():
            setattr(self, name, given.get(name, default))
        for old, (new, _) in RENAMED.items():
            if old in given and new in modern:
                raise UserError(f"RunConfig: give {old} (0.3.0) or {new}, not both.")
        if self.gradient_checkpointing:
            raise UserError(
                "RunConfig: gradient_checkpointing is not supported; leave it out (pptrain's models are small "
                "enough, or reduce batch_size and raise grad_accum)."
            )
        if self.report_to:
            raise UserError(
                f"RunConfig: report_to={list(self.report_to)!r} is not supported; metrics are written to "
                "RUN/metrics.jsonl and summary.json, leave report_to out."
            )
        if self.fp16 and self.bf16:
            raise UserError("RunConfig: set fp16 or bf16, not both.")
        renamed = [old for old in RENAMED if old in given]
        if renamed or "seed" in given or "fp16" in given or "bf16" in given:
            note(
                "run_config",
                "RunConfig(per_device_train_batch_size=..., learning_rate=..., seed=...) is pptrain 0.3.0's "
                "spelling; the core's is RunConfig(batch_size=..., eval_batch_size=..., grad_accum=..., lr=..., "
                "data_seed=..., model_seed=..., precision=...), the same meanings.",
            )
        if "remove_checkpoints" in given and self.remove_checkpoints:
            note(
                "remove_checkpoints",
                "remove_checkpoints has no effect: checkpoints stay in RUN/checkpoints so a killed run resumes; "
                "delete them yourself when the run is done, or set save_steps=0.",
            )

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in {**self.given, **self.modern}.items())
        return f"RunConfig({args})"

    def to_core(self, task: Any, *, world_size: int | None = None) -> CoreRunConfig:
        """The core run config for ``task`` (a 0.3.0 task supplies the epoch, eval and length settings)."""
        world = world_size or max(int(os.environ.get("WORLD_SIZE", "1")), 1)
        m = self.modern
        data: dict[str, Any] = {"output_dir": self.output_dir}
        for old, (new, _) in RENAMED.items():
            data[new] = m.get(new, getattr(self, old))
        for name in SAME:
            data[name] = m.get(name, getattr(self, name))
        data["data_seed"] = m.get("data_seed", self.seed)
        data["model_seed"] = m.get("model_seed", self.seed)
        data["precision"] = m.get("precision", "fp16" if self.fp16 else "bf16" if self.bf16 else "fp32")
        data["schedule"] = m.get("schedule", "linear")  # the transformers default 0.3.0 trained with
        legacy = task if isinstance(task, LegacyTask) else None
        if "eval_examples" not in m and legacy is not None and legacy.eval_sequence_count is not None:
            data["eval_examples"] = legacy.eval_sequence_count
        if "seq_len" not in m and legacy is not None and legacy.max_length is not None:
            data["seq_len"] = legacy.max_length
        if "max_steps" in m or "max_tokens" in m:
            data["max_steps"] = m.get("max_steps", 0)
        elif self.max_steps is not None and self.max_steps > 0:
            data["max_steps"] = self.max_steps
        elif legacy is not None and legacy.sequence_count:
            per_step = data["batch_size"] * data["grad_accum"] * world
            data["max_steps"] = max(1, math.ceil(legacy.sequence_count * float(self.num_train_epochs) / per_step))
            note(
                "epochs",
                f"max_steps=-1 runs {self.num_train_epochs:g} epoch(s) of sequence_count={legacy.sequence_count}: "
                f"{data['max_steps']} steps here; the modern spelling gives the budget itself: "
                "RunConfig(max_steps=...) or RunConfig(max_tokens=...).",
                stacklevel=5,
            )
        else:
            raise UserError(
                f"RunConfig: max_steps={quote(self.max_steps)} asks for one epoch, but the task has no "
                "sequence_count to make an epoch of; set max_steps (or max_tokens)."
            )
        data.update(m)
        from pptrain_core.config import structure

        return structure(data, CoreRunConfig, "$.run")


@attrs.define
class PrePreTrainingRun:
    """0.3.0's result of ``fit()``: the run directory, the model directory, metrics, the plot."""

    run_dir: Path
    model_dir: Path | None
    metrics: dict[str, Any]
    plot_path: Path | None = None
    result: Any = None
    """The core :class:`~pptrain_core.training.FitResult`."""

    def load_transfer_bundle(self) -> Any:
        """The run's validated bundle, as a :class:`pptrain.transfer.TransferBundle`."""
        from pptrain.transfer import TransferBundle

        if self.result is not None:
            return TransferBundle.of(self.result.load_transfer_bundle())
        return TransferBundle.load(self.run_dir)


def _is_task(obj: Any) -> bool:
    return isinstance(obj, (str, ResolvedTask)) or hasattr(obj, "sample_task") or hasattr(obj, "build_datasets")


def _is_run(obj: Any) -> bool:
    return isinstance(obj, (RunConfig, CoreRunConfig))


class PrePreTrainer:
    """0.3.0's ``PrePreTrainer(model_adapter=..., run_config=..., task=...)`` on the core trainer.

    Positional arguments are recognised by type, so both 0.3.0's order (adapter, run
    config, task) and the core's (task, adapter, run config) work.
    """

    def __init__(self, *args: Any, task: Any = None, model_adapter: Any = None, run_config: Any = None, **kwargs: Any):
        for arg in args:
            if _is_run(arg) and run_config is None:
                run_config = arg
            elif _is_task(arg) and task is None:
                task = arg
            elif model_adapter is None:
                model_adapter = arg
            else:
                raise UserError(f"PrePreTrainer got an unexpected argument {type(arg).__name__}.")
        missing = [
            n for n, v in (("task", task), ("model_adapter", model_adapter), ("run_config", run_config)) if v is None
        ]
        if missing:
            raise UserError(f"PrePreTrainer needs {', '.join(missing)}.")
        from pptrain.core import as_resolved_task

        self.task = resolve(task) if isinstance(task, str) else as_resolved_task(task)
        self.model_adapter = model_adapter
        self.run_config = run_config
        self.options = kwargs
        self.trainer: Any = None

    def core_run_config(self) -> CoreRunConfig:
        if isinstance(self.run_config, CoreRunConfig):
            return self.run_config
        return self.run_config.to_core(self.task)

    def fit(self) -> PrePreTrainingRun:
        """Pre-pretrain; the run directory and the bundle are the core's (see docs/training.md)."""
        from pptrain_core.training.trainer import PrePreTrainer as CorePrePreTrainer

        run = self.core_run_config()
        adapter = core_adapter(self.model_adapter, self.task.build().vocab)
        self.trainer = CorePrePreTrainer(self.task, adapter, run, **self.options)
        result = self.trainer.fit()
        summary = dict(result.summary)
        metrics = {**summary, "train_loss": summary.get("train_loss_mean"), "train_runtime": summary.get("wall_time_s")}
        plot = result.run_dir / "loss_curve.png"
        return PrePreTrainingRun(
            run_dir=result.run_dir,
            model_dir=result.bundle_dir,
            metrics=metrics,
            plot_path=plot if plot.is_file() else None,
            result=result,
        )
