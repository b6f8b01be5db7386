"""Training: run configuration, collation and ``PrePreTrainer`` (torch is imported lazily)."""

from __future__ import annotations

from typing import Any

from pptrain_core.training.config import JobConfig, ModelRef, RunConfig, TaskRef

__all__ = ["JobConfig", "ModelRef", "RunConfig", "TaskRef", "PrePreTrainer", "FitResult"]


def __getattr__(name: str) -> Any:
    if name in ("PrePreTrainer", "FitResult"):
        from pptrain_core.training import trainer

        return getattr(trainer, name)
    raise AttributeError(f"module 'pptrain_core.training' has no attribute {name!r}")
