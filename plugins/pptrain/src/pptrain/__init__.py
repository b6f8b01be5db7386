"""The familiar import path: ``from pptrain import PrePreTrainer, RunConfig, create_task``.

Everything is re-exported from ``pptrain_core`` and the built-in plugins.
"""

from __future__ import annotations

from pptrain_core import __version__ as core_version
from pptrain_core.bundle import Bundle, load_bundle
from pptrain_core.tasks import create_task
from pptrain_core.training import RunConfig
from pptrain_core.training.trainer import FitResult, PrePreTrainer

__version__ = "0.1.0"

__all__ = ["Bundle", "FitResult", "PrePreTrainer", "RunConfig", "core_version", "create_task", "load_bundle"]
