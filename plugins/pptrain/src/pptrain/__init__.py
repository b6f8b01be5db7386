"""The familiar import path, with pptrain 0.3.0's public names mapped onto our objects.

``from pptrain import PrePreTrainer, RunConfig, create_task`` runs 0.3.0's published quick
start (see docs/migrating-from-0.3.md for every name, argument, preset and command, and
what changed in meaning). Modern code can use the same names with the core's spellings
(``create_task("dyck:small_k8")``), or import from ``pptrain_core`` and the plugins.
Every 0.3.0 spelling whose meaning changed gives one ``DeprecationWarning`` naming the
modern one.
"""

from __future__ import annotations

from pptrain.tasks import RegisteredTask, TaskPreset, create_task, registered_presets, registered_tasks
from pptrain.training import PrePreTrainer, PrePreTrainingRun, RunConfig
from pptrain_core import __version__ as core_version
from pptrain_core.bundle import Bundle, load_bundle
from pptrain_core.lazy import lazy_getattr
from pptrain_core.training.trainer import FitResult

__version__ = "0.1.0"

# The transfer names import torch; they load on first use, so `import pptrain` stays light.
_LAZY = {
    name: "pptrain.transfer"
    for name in (
        "ReinitializeEmbeddingTransferPolicy",
        "SkipParametersTransferPolicy",
        "TransferBundle",
        "TransferReport",
    )
}
__getattr__ = lazy_getattr(globals(), _LAZY)

__all__ = [
    "Bundle",
    "FitResult",
    "PrePreTrainer",
    "PrePreTrainingRun",
    "RegisteredTask",
    "ReinitializeEmbeddingTransferPolicy",
    "RunConfig",
    "SkipParametersTransferPolicy",
    "TaskPreset",
    "TransferBundle",
    "TransferReport",
    "core_version",
    "create_task",
    "load_bundle",
    "registered_presets",
    "registered_tasks",
]
