"""Transfer policies: ``from pptrain.transfer import ReinitializeEmbeddingTransferPolicy``."""

from pptrain_core.transfer import TransferReport
from pptrain_core.transfer.policies import (
    AttentionOnlyTransfer,
    FullTransfer,
    MeanEmbeddingsTransfer,
    MLPOnlyTransfer,
    ReinitializeEmbeddingTransferPolicy,
    SkipPrefixesTransfer,
    TransferPolicy,
)

__all__ = [
    "AttentionOnlyTransfer",
    "FullTransfer",
    "MLPOnlyTransfer",
    "MeanEmbeddingsTransfer",
    "ReinitializeEmbeddingTransferPolicy",
    "SkipPrefixesTransfer",
    "TransferPolicy",
    "TransferReport",
]
