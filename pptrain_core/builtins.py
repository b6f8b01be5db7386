"""The core's own built-ins, registered through the same hooks as any plugin."""

from __future__ import annotations

from pptrain_core.hookspecs import hookimpl
from pptrain_core.specs import TokenizerProviderSpec


@hookimpl
def register_tokenizers(register):
    from pptrain_core.tokenizer import NativeTokenizerConfig

    register(
        TokenizerProviderSpec(
            name="native",
            summary="The task vocabulary's display names as a tokenizer (encode/decode rendered examples).",
            config_cls=NativeTokenizerConfig,
            factory="pptrain_core.tokenizer:NativeTokenizer",
        )
    )


@hookimpl
def register_transfer_policies(register):
    from pptrain_core.transfer.specs import TRANSFER_POLICIES

    for spec in TRANSFER_POLICIES:
        register(spec)
