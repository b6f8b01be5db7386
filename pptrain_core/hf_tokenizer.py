"""A task vocabulary as a Hugging Face ``PreTrainedTokenizerFast``.

Word-level: each display name is one token, split on whitespace, so
``tokenizer.decode(ids)`` gives exactly ``vocab.render(ids)`` and
``tokenizer(vocab.render(ids))["input_ids"] == ids``. Special tokens keep their ids.
Transfer bundles ship it, so a bundle's synthetic ids can be decoded by any HF code.
"""

from __future__ import annotations

from typing import Any

from pptrain_core.data import TokenizerSpec


def hf_tokenizer(vocab: TokenizerSpec) -> Any:
    """Build the fast tokenizer for ``vocab`` (needs the ``tokenizers`` and ``transformers`` packages)."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import WhitespaceSplit
    from transformers import PreTrainedTokenizerFast

    table: dict[str, int] = {}
    for i in range(vocab.size):
        name = vocab.name(i)
        if not name or any(ch.isspace() for ch in name):
            raise ValueError(f"display name {name!r} of id {i} is empty or contains whitespace")
        if name in table:
            raise ValueError(f"display name {name!r} is used by ids {table[name]} and {i}")
        table[name] = i
    unk = vocab.name(vocab.pad_id) if vocab.pad_id is not None else None
    tok = Tokenizer(WordLevel(vocab=table, unk_token=unk))
    tok.pre_tokenizer = WhitespaceSplit()
    specials: dict[str, str] = {}
    for role, key in (("pad", "pad_token"), ("bos", "bos_token"), ("eos", "eos_token"), ("sep", "sep_token")):
        token_id = vocab.special_ids().get(role)
        if token_id is not None:
            specials[key] = vocab.name(token_id)
    return PreTrainedTokenizerFast(tokenizer_object=tok, clean_up_tokenization_spaces=False, **specials)
