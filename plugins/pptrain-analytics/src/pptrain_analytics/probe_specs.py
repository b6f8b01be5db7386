"""The probe tasks' specs: Zhong & Andreas's needle-in-a-haystack and reversed addition.

Imported at discovery time, so it imports only attrs and the core's spec helpers; the
generators live in :mod:`pptrain_analytics.probes` behind lazy factory strings.

Sources (read, never copied): Jiang, Shinnick, van den Hengel, Saratchandran, Teney 2026,
"Procedural Pretraining", arXiv 2601.21725, official code
``zlshinnick/procedural-pretraining@8b2f3e2``, files
``downstream/algorithmic_tasks/task_condattendstream.py`` (``condattendstream_30``),
``task_additionstream.py`` (``additionstream_10``) and ``experiment_stream.py`` (training
loop, evaluation set, held-out filtering). The tasks come from Zhong & Andreas 2024,
"Algorithmic Capabilities of Random Transformers" (arXiv 2406.11849).
"""

from __future__ import annotations

import attrs

from pptrain_core.config import FieldValueError, at_least, one_of
from pptrain_core.specs import Preset, Provenance, Source, TaskSpec

PAPER = "Jiang, Shinnick, van den Hengel, Saratchandran, Teney 2026, arXiv 2601.21725"
REPO = "zlshinnick/procedural-pretraining@8b2f3e2"
ZHONG = "Zhong & Andreas 2024, Algorithmic Capabilities of Random Transformers, arXiv 2406.11849"
CITATION = f"{ZHONG}; protocol of {PAPER}"

_EVAL_BUCKETS_DOC = (
    "A sequence belongs to the eval split when the CRC-32 of its tokens is divisible by this, "
    "to the train split otherwise, so no eval sequence is ever trained on (the official loop "
    "drops train draws that equal an eval example); 0 turns the separation off."
)


@attrs.frozen
class NeedleConfig:
    """``condattendstream_<max_pairs>``: key-value pairs, a query key, the answer value.

    Layout (vocabulary ``V``, offset ``H = V // 2``): ``s ~ U{1..max_pairs}`` pairs with
    distinct keys from ``0..max_pairs-1`` (emitted as ``key + H``) and values from
    ``1..H-1``; then the query token ``key + max_pairs + H`` for one of the keys; then
    its value; zero-padded to ``2 * max_pairs + 3`` tokens. Loss on the answer only.
    """

    max_pairs: int = attrs.field(default=30, validator=at_least(1))
    """The ``30`` of ``condattendstream_30``: at most this many pairs, keys from 0..max_pairs-1."""
    vocab_size: int = attrs.field(default=256, validator=at_least(4))
    """V: pad 0, values 1..V/2-1, keys V/2.., queries V/2+max_pairs.. (the paper's 256)."""
    eval_buckets: int = attrs.field(default=8, validator=at_least(0), metadata={"doc": _EVAL_BUCKETS_DOC})

    def __attrs_post_init__(self) -> None:
        half = self.vocab_size // 2
        if half + 2 * self.max_pairs > self.vocab_size:
            need = 4 * self.max_pairs
            raise FieldValueError(
                "vocab_size",
                f"{self.vocab_size} leaves no room for {self.max_pairs} keys and {self.max_pairs} queries "
                f"above {half}; use at least {need} or fewer max_pairs",
            )
        if self.eval_buckets == 1:
            raise FieldValueError("eval_buckets", "1 would put every sequence in the eval split; use 0 or at least 2")


@attrs.frozen
class ReversedAdditionConfig:
    """``additionstream_<digits>``: ``rev(a) + rev(b) =`` then ``rev(a + b)`` and a stop token.

    Layout (vocabulary 31): digits ``0..9``, ``+`` = 10, ``=`` = 11, pad = 12, answer
    digits ``20..29`` (digit + 20), stop = 30; ``a`` and ``b`` have exactly ``digits``
    digits; padded with 12 to ``3 * digits + 4`` tokens.
    """

    digits: int = attrs.field(default=10, validator=at_least(1))
    """Digits of each operand (the ``10`` of ``additionstream_10``; the leading digit is never 0)."""
    targets: str = attrs.field(default="paper", validator=one_of("paper", "answer"))
    """Which positions carry loss and accuracy. ``paper``: the official rule, every token that
    follows an answer digit or the stop token (answer digits 2..n, the stop token and the pad after
    it; the first answer digit is not scored). ``answer``: every answer digit and the stop token."""
    eval_buckets: int = attrs.field(default=8, validator=at_least(0), metadata={"doc": _EVAL_BUCKETS_DOC})

    def __attrs_post_init__(self) -> None:
        if self.digits > 18:
            raise FieldValueError("digits", f"must be at most 18 (64-bit sums), got {self.digits}")
        if self.eval_buckets == 1:
            raise FieldValueError("eval_buckets", "1 would put every sequence in the eval split; use 0 or at least 2")


# --------------------------------------------------------------------------- presets


def _p(status: str, note: str = "") -> Provenance:
    return Provenance(status, note)  # type: ignore[arg-type]


_SOURCE_NEEDLE = Source(paper=PAPER, repo=REPO, note="downstream/algorithmic_tasks/task_condattendstream.py")
_SOURCE_ADD = Source(paper=PAPER, repo=REPO, note="downstream/algorithmic_tasks/task_additionstream.py")
_BUCKETS = _p(
    "approximate",
    "the official loop rejects train draws equal to one of its 4,000 eval examples; "
    "we hold out a fixed 1/8 of all sequences by hash instead (same purpose, size-independent)",
)

NEEDLE_PRESETS = (
    Preset(
        name="paper",
        summary="condattendstream_30: up to 30 pairs, vocabulary 256, 63 tokens (Jiang et al.'s needle probe).",
        values={"max_pairs": 30, "vocab_size": 256, "eval_buckets": 8},
        provenance={
            "max_pairs": _p("verified", "task condattendstream_30"),
            "vocab_size": _p("verified", "task_condattendstream.py: vocab_size = 256"),
            "eval_buckets": _BUCKETS,
        },
        source=_SOURCE_NEEDLE,
    ),
    Preset(
        name="smoke",
        summary="Up to 6 pairs, vocabulary 32, 15 tokens: the paper's layout at test size.",
        values={"max_pairs": 6, "vocab_size": 32, "eval_buckets": 8},
        provenance={
            "max_pairs": _p("ours", "tiny for tests"),
            "vocab_size": _p("ours", "tiny for tests"),
            "eval_buckets": _BUCKETS,
        },
        source=_SOURCE_NEEDLE,
    ),
)

ADDITION_PRESETS = (
    Preset(
        name="paper",
        summary="additionstream_10: 10-digit operands, reversed, vocabulary 31, 34 tokens, the official targets.",
        values={"digits": 10, "targets": "paper", "eval_buckets": 8},
        provenance={
            "digits": _p("verified", "task additionstream_10 (min and max length both 10)"),
            "targets": _p("verified", "task_additionstream.py: wanted = labels[:-1] >= 20"),
            "eval_buckets": _BUCKETS,
        },
        source=_SOURCE_ADD,
    ),
    Preset(
        name="smoke",
        summary="3-digit operands, 13 tokens: the paper's layout at test size.",
        values={"digits": 3, "targets": "paper", "eval_buckets": 8},
        provenance={
            "digits": _p("ours", "tiny for tests"),
            "targets": _p("verified", "task_additionstream.py: wanted = labels[:-1] >= 20"),
            "eval_buckets": _BUCKETS,
        },
        source=_SOURCE_ADD,
    ),
)

NEEDLE = TaskSpec(
    name="needle",
    summary=(
        "Needle-in-a-haystack (Zhong & Andreas; Jiang et al.'s condattendstream_30): key-value pairs, "
        "a query key, loss on the answer value only."
    ),
    config_cls=NeedleConfig,
    factory="pptrain_analytics.probes:NeedleTask",
    citation=CITATION,
    presets=NEEDLE_PRESETS,
    default_preset="paper",
)

REVERSED_ADDITION = TaskSpec(
    name="reversed_addition",
    summary=(
        "Reversed addition (Zhong & Andreas; Jiang et al.'s additionstream_10): rev(a)+rev(b)= rev(a+b), "
        "loss on the answer digits only."
    ),
    config_cls=ReversedAdditionConfig,
    factory="pptrain_analytics.probes:ReversedAdditionTask",
    citation=CITATION,
    presets=ADDITION_PRESETS,
    default_preset="paper",
)

#: Registered through ``register_tasks`` (see :mod:`pptrain_analytics.plugin`).
PROBE_TASKS: list[TaskSpec] = [NEEDLE, REVERSED_ADDITION]

#: The position-embedding length of the official probe models (``n_positions``), per task.
PAPER_N_POSITIONS = {"needle": 100, "reversed_addition": 40}
