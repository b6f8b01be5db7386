"""The native tokenizer: a task vocabulary's display names, as a tokenizer.

It encodes whitespace-separated display names to ids and decodes ids back, so any
rendered example can be read back exactly. It needs nothing beyond the vocabulary; the
Hugging Face tokenizer for transfer bundles is a separate provider.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:  # pragma: no cover
    from pptrain_core.data import TokenizerSpec


@attrs.frozen
class NativeTokenizerConfig:
    """No settings: the vocabulary says everything."""


class NativeTokenizer:
    def __init__(self, vocab: TokenizerSpec, config: NativeTokenizerConfig | None = None):
        self.vocab = vocab
        self._ids: dict[str, int] | None = None

    @property
    def vocab_size(self) -> int:
        return self.vocab.size

    def _table(self) -> dict[str, int]:
        if self._ids is None:
            table: dict[str, int] = {}
            for i in range(self.vocab.size):
                name = self.vocab.name(i)
                if name in table or not name or any(ch.isspace() for ch in name):
                    raise ValueError(f"display name {name!r} of id {i} is empty, contains spaces, or is not unique")
                table[name] = i
            self._ids = table
        return self._ids

    def encode(self, text: str) -> list[int]:
        table = self._table()
        out = []
        for word in text.split():
            if word not in table:
                raise ValueError(f"{word!r} is not a symbol of this vocabulary")
            out.append(table[word])
        return out

    def decode(self, ids: Sequence[int]) -> str:
        return self.vocab.render(ids)
