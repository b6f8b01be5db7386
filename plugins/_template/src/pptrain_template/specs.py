"""Config class, presets and task spec. Imported at discovery time, so only attrs and the core."""

from __future__ import annotations

import attrs

from pptrain_core import Preset, Provenance, Source, TaskSpec
from pptrain_core.config import FieldValueError, at_least


@attrs.frozen
class ReverseConfig:
    """Settings of the reversal task; every field has a default."""

    min_length: int = attrs.field(default=4, validator=at_least(1))
    """Shortest input string."""
    max_length: int = attrs.field(default=16, validator=at_least(1))
    """Longest input string."""
    symbols: int = attrs.field(default=32, validator=at_least(2))
    """Alphabet size; the vocabulary adds pad, separator and end tokens."""

    def __attrs_post_init__(self) -> None:
        if self.max_length < self.min_length:
            raise FieldValueError(
                "max_length", f"must be at least min_length ({self.min_length}), got {self.max_length}"
            )


TEMPLATE_REVERSE = TaskSpec(
    name="template_reverse",
    summary="Reverse a random string (the plugin template's example task).",
    config_cls=ReverseConfig,
    factory="pptrain_template.task:ReverseTask",
    citation="",
    presets=(
        Preset(
            name="small",
            summary="Short strings over 32 symbols.",
            values={"min_length": 4, "max_length": 16, "symbols": 32},
            provenance={k: Provenance("ours", "template default") for k in ("min_length", "max_length", "symbols")},
            source=Source(note="our own choice; replace with your paper's numbers"),
        ),
    ),
    default_preset="small",
)
