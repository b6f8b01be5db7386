"""pptrain core: the plugin contract, loader, config, data pipeline and CLI.

Importing this package stays light (no numpy, no torch): data classes such as
:class:`Example` and :class:`TokenizerSpec` are loaded on first access.
"""

from __future__ import annotations

from pptrain_core.hookspecs import hookimpl, hookspec
from pptrain_core.lazy import lazy_getattr
from pptrain_core.specs import (
    MetricSpec,
    ModelAdapterSpec,
    Preset,
    Provenance,
    Source,
    TaskSpec,
    TokenizerProviderSpec,
    TransferPolicySpec,
)

__version__ = "0.1.0"

_LAZY = {
    "Example": "pptrain_core.data",
    "TokenizerSpec": "pptrain_core.data",
    "Task": "pptrain_core.data",
    "SymbolicTask": "pptrain_core.data",
    "VirtualDataset": "pptrain_core.data",
    "rng_for": "pptrain_core.data",
}

__all__ = [
    "__version__",
    "hookimpl",
    "hookspec",
    "MetricSpec",
    "ModelAdapterSpec",
    "Preset",
    "Provenance",
    "Source",
    "TaskSpec",
    "TokenizerProviderSpec",
    "TransferPolicySpec",
    *_LAZY,
]


__getattr__ = lazy_getattr(globals(), _LAZY)
