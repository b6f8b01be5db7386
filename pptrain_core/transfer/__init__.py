"""Transfer policies: what moves from a pre-pretrained bundle into a downstream model.

Importing this package is light (no torch): the configs, specs and the report load at
once, the policy classes (which need torch) on first access::

    from pptrain_core.transfer import ReinitializeEmbeddingTransferPolicy

    report = ReinitializeEmbeddingTransferPolicy().apply_bundle(bundle, target_model, adapter)
    report.render()

See ``docs/transfer.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pptrain_core.lazy import lazy_getattr
from pptrain_core.transfer.report import ACTIONS, TransferError, TransferReport, TransferRow
from pptrain_core.transfer.specs import (
    TRANSFER_POLICIES,
    AttentionOnlyConfig,
    FullTransferConfig,
    MeanEmbeddingsConfig,
    MLPOnlyConfig,
    ReinitEmbeddingsConfig,
    SkipPrefixesConfig,
    TransferConfig,
)

#: The policy a bundle suggests unless its writer says otherwise.
DEFAULT_POLICY = "reinit_embeddings"

_LAZY = {
    name: "pptrain_core.transfer.policies"
    for name in (
        "TransferPolicy",
        "Rule",
        "FullTransfer",
        "ReinitializeEmbeddingTransferPolicy",
        "AttentionOnlyTransfer",
        "MLPOnlyTransfer",
        "SkipPrefixesTransfer",
        "MeanEmbeddingsTransfer",
        "EMBEDDING_ROLES",
        "BODY_ROLES",
    )
}

__all__ = [
    "ACTIONS",
    "DEFAULT_POLICY",
    "TRANSFER_POLICIES",
    "AttentionOnlyConfig",
    "FullTransferConfig",
    "MLPOnlyConfig",
    "MeanEmbeddingsConfig",
    "ReinitEmbeddingsConfig",
    "SkipPrefixesConfig",
    "TransferConfig",
    "TransferError",
    "TransferReport",
    "TransferRow",
    "build_policy",
    *_LAZY,
]


def build_policy(
    name: str,
    params: Mapping[str, Any] | None = None,
    *,
    registry: Any = None,
    path: str = "$.transfer.params",
) -> Any:
    """The registered policy ``name`` with its config structured strictly from ``params``.

    Unknown names and bad settings raise a :class:`~pptrain_core.errors.UserError`
    (``ConfigError`` with ``path`` for settings).
    """
    from pptrain_core.config import structure
    from pptrain_core.plugins import get_registry
    from pptrain_core.specs import resolve_factory

    reg = registry or get_registry()
    spec = reg.get("register_transfer_policies", name)
    config = structure(dict(params or {}), spec.config_cls, path)
    return resolve_factory(spec.factory)(config)


__getattr__ = lazy_getattr(globals(), _LAZY)
