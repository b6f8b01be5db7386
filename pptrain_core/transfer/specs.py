"""Configs and registry specs of the built-in transfer policies (light: no torch).

Each policy's config is a strict attrs class (structured with
:func:`pptrain_core.config.structure`); every one has ``freeze`` and ``copy_unknown``.
The policy classes themselves live in :mod:`pptrain_core.transfer.policies` and are named
here by lazy ``"module:Class"`` factories, so listing policies never imports torch.
"""

from __future__ import annotations

from typing import Any

import attrs

from pptrain_core.config import FieldValueError, one_of
from pptrain_core.specs import TransferPolicySpec

__all__ = [
    "AttentionOnlyConfig",
    "FullTransferConfig",
    "MLPOnlyConfig",
    "MeanEmbeddingsConfig",
    "ReinitEmbeddingsConfig",
    "SkipPrefixesConfig",
    "TRANSFER_POLICIES",
    "TransferConfig",
]


def _is_bool(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if not isinstance(value, bool):
        raise FieldValueError(attribute.name, f"must be true or false, got {type(value).__name__} {value!r}")


def _bool_field(default: bool, doc: str) -> Any:
    return attrs.field(default=default, validator=_is_bool, metadata={"doc": doc})


@attrs.frozen(kw_only=True)
class TransferConfig:
    """Options every built-in policy has."""

    freeze: bool = _bool_field(
        False,
        "Set requires_grad=False on the transferred body: every parameter that was copied "
        "whose role is not token_embedding, position_embedding or head (Ri & Tsuruoka's frozen encoder).",
    )
    copy_unknown: bool = _bool_field(
        False,
        "Copy parameters the adapter gave no role. Off by default: an unclassified parameter is kept "
        "at the target's initialisation and reported, never copied silently.",
    )


@attrs.frozen(kw_only=True)
class FullTransferConfig(TransferConfig):
    """``full``: copy every parameter whose shape matches (embeddings and head included)."""


@attrs.frozen(kw_only=True)
class ReinitEmbeddingsConfig(TransferConfig):
    """``reinit_embeddings``: copy the body, leave token embeddings and head fresh."""

    copy_positions: bool = _bool_field(
        False,
        "Copy learned position embeddings too (the first rows when the lengths differ). Off by default: "
        "Jiang et al.'s semantic transfer keeps fresh position embeddings and NCA re-initialises every "
        "embedding layer.",
    )


@attrs.frozen(kw_only=True)
class AttentionOnlyConfig(TransferConfig):
    """``attention_only``: copy attention parameters only."""

    include_norms: bool = _bool_field(
        False,
        "Copy the norm parameters too (every norm, final norm included). Off by default: Jiang et al. "
        "treat attn, ffn and ln as separate components.",
    )


@attrs.frozen(kw_only=True)
class MLPOnlyConfig(TransferConfig):
    """``mlp_only``: copy MLP parameters only."""

    include_norms: bool = _bool_field(
        False,
        "Copy the norm parameters too (every norm, final norm included). Off by default: Jiang et al. "
        "treat attn, ffn and ln as separate components.",
    )


def _to_tuple(value: Any) -> Any:
    # A bare string is kept as is so that the validator can reject it (tuple("lm_head")
    # would silently become one prefix per character).
    if isinstance(value, (list, tuple)):
        return tuple(value)
    return value


def _check_prefixes(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if not isinstance(value, tuple):
        raise FieldValueError(attribute.name, f"must be a list of name prefixes, got {type(value).__name__} {value!r}")
    if not value:
        raise FieldValueError(attribute.name, "must name at least one prefix (an empty list would skip nothing)")
    for i, prefix in enumerate(value):
        if not isinstance(prefix, str):
            raise FieldValueError(attribute.name, f"item {i} must be a string, got {type(prefix).__name__} {prefix!r}")
        if not prefix:
            raise FieldValueError(attribute.name, f"item {i} is empty; an empty prefix would skip every parameter")
    dupes = sorted({p for p in value if value.count(p) > 1})
    if dupes:
        raise FieldValueError(attribute.name, f"prefix {dupes[0]!r} is given twice")


@attrs.frozen(kw_only=True)
class SkipPrefixesConfig(TransferConfig):
    """``skip``: like ``full``, except parameters whose names start with one of ``prefixes``."""

    prefixes: tuple[str, ...] = attrs.field(
        converter=_to_tuple,
        validator=_check_prefixes,
        metadata={"doc": "Parameter-name prefixes to leave at the target's initialisation (required)."},
    )


@attrs.frozen(kw_only=True)
class MeanEmbeddingsConfig(TransferConfig):
    """``mean_embeddings``: copy the body, set every token row to the mean source row."""

    copy_positions: bool = _bool_field(
        True,
        "Copy learned position embeddings (the target's rows from the first source rows); off "
        "leaves them all at the target's initialisation.",
    )
    shorter_positions: str = attrs.field(
        default="fresh",
        validator=one_of("fresh", "first_rows"),
        metadata={
            "doc": "When the source has fewer position rows than the target: 'fresh' (Jiang et al.: every "
            "position keeps the target's initialisation) or 'first_rows' (copy the rows there are)."
        },
    )
    head_from: str = attrs.field(
        default="token_embedding",
        validator=one_of("token_embedding", "head"),
        metadata={
            "doc": "What an untied output head's rows are the mean of: the source's 'token_embedding' "
            "(Jiang et al.'s 'average' strategy) or the source's own 'head' (when it has one)."
        },
    )


_JIANG = "Jiang, Shinnick, van den Hengel, Saratchandran, Teney 2026, arXiv 2601.21725"
_NCA = "Lee, Han, Kumar, Agrawal 2026, arXiv 2603.10055"
_RI = "Ri & Tsuruoka 2022, ACL, arXiv 2203.10326"
_HU = "Hu, Petty, Shi, Merrill, Linzen 2025, ACL, arXiv 2502.19249"

_MODULE = "pptrain_core.transfer.policies"

#: The core's built-in policies, registered through ``register_transfer_policies``.
TRANSFER_POLICIES: tuple[TransferPolicySpec, ...] = (
    TransferPolicySpec(
        name="full",
        summary="Copy every parameter whose shape matches, embeddings and head included (shared tokenizer).",
        config_cls=FullTransferConfig,
        factory=f"{_MODULE}:FullTransfer",
        citation=f"{_HU} (shared tokenizer, no re-initialisation)",
    ),
    TransferPolicySpec(
        name="reinit_embeddings",
        summary="Copy attention, MLP and norms; token embeddings and head start fresh (positions: option).",
        config_cls=ReinitEmbeddingsConfig,
        factory=f"{_MODULE}:ReinitializeEmbeddingTransferPolicy",
        citation=f"{_NCA}; {_JIANG} (semantic transfer); {_RI} with freeze=true",
    ),
    TransferPolicySpec(
        name="attention_only",
        summary="Copy attention parameters only (norms by option); everything else starts fresh.",
        config_cls=AttentionOnlyConfig,
        factory=f"{_MODULE}:AttentionOnlyTransfer",
        citation=f"{_JIANG} (component ablations)",
    ),
    TransferPolicySpec(
        name="mlp_only",
        summary="Copy MLP parameters only (norms by option); everything else starts fresh.",
        config_cls=MLPOnlyConfig,
        factory=f"{_MODULE}:MLPOnlyTransfer",
        citation=f"{_JIANG} (component ablations)",
    ),
    TransferPolicySpec(
        name="skip",
        summary="Like full, but parameters whose names start with one of the given prefixes are not copied.",
        config_cls=SkipPrefixesConfig,
        factory=f"{_MODULE}:SkipPrefixesTransfer",
    ),
    TransferPolicySpec(
        name="mean_embeddings",
        summary="Copy the body; every token-embedding (and untied head) row = mean source row; positions copied.",
        config_cls=MeanEmbeddingsConfig,
        factory=f"{_MODULE}:MeanEmbeddingsTransfer",
        citation=f"{_JIANG} (algorithmic transfer, embedding strategy 'average')",
    ),
)
