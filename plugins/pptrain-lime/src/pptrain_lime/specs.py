"""Specs for LIME: vocabulary layout, config, presets, provenance.

Imported at discovery time (``pptrain list-tasks``), so it imports only attrs and the
core's spec and config helpers; the generator lives in :mod:`pptrain_lime.generate` and
is named by a lazy factory string.

Source (read, never copied): Wu, Rabe, Li, Ba, Grosse, Szegedy, "LIME: Learning
Inductive Bias for Primitives of Mathematical Reasoning", ICML 2021, arXiv 2101.06223;
official code ``tonywu95/LIME@2a4045f``: ``reason/generate_data.py`` (the induct /
deduct / abduct generator), ``reason/generate.sh`` and ``README.md`` (5,000,000 mixed
training examples, 1,000 test and 1,000 valid, ``--vocab_size 1000``).
"""

from __future__ import annotations

import attrs

from pptrain_core.config import FieldValueError, at_least, one_of
from pptrain_core.specs import Preset, Provenance, Source, TaskSpec

PAPER = "Wu, Rabe, Li, Ba, Grosse, Szegedy 2021 (ICML), arXiv 2101.06223"
REPO = "tonywu95/LIME@2a4045f"
CITATION = (
    "Wu, Rabe, Li, Ba, Grosse, Szegedy. LIME: Learning Inductive Bias for Primitives of "
    "Mathematical Reasoning. ICML 2021. arXiv:2101.06223."
)

# --------------------------------------------------------------------------- the reference's numbers
# All from reason/generate_data.py (tonywu95/LIME@2a4045f); fixed, not configurable.

N_UPPER = 24
"""Upper (rule-variable) symbols drawn per example; only the first ``num_vars`` are used."""
N_LOWER = 24
"""Lower ("letter") symbols drawn per example."""
N_MATH = 20
"""Math symbols drawn per example."""
N_DRAWN = N_UPPER + N_LOWER + N_MATH
"""68 distinct symbols per example, drawn without replacement and split in that order."""
VARS_MIN, VARS_MAX = 3, 5
"""``num_vars ~ U{3..5}``; the rule holds ``2 * num_vars`` variable occurrences."""
PATTERN_MIN, PATTERN_MAX = 5, 19
"""Math symbols in the rule: ``U{5..19}`` (``random.choice(range(5, 20))``)."""
SUBST_MIN, SUBST_MAX = 2, 8
"""Length of each variable's string in the case: ``U{2..8}`` (``random.randint(2, 8)``)."""

MODES: tuple[str, ...] = ("induct", "deduct", "abduct")
"""The three tasks; ``mixed`` draws one uniformly per example."""

# --------------------------------------------------------------------------- vocabulary layout
# Fixed ids, the same in every preset, mode and ``vocab_size``; symbols come last.

PAD = 0
END = 1
SEP = 2
"""Between source and target (decoder-only serialisation; the reference writes src/tgt files)."""
UPPER = 3
LOWER = 4
MATH = 5
SPACE = 6
"""The reference's ``<space>``: after the symbol declarations and between the two source parts."""
COLON = 7
LBRACK = 8
RBRACK = 9
COMMA = 10
MODE0 = 11
"""Mode tokens: ``MODE0 + MODES.index(mode)`` (ids 11, 12, 13); ids 14..31 are reserved."""
SYMBOL0 = 32
"""Symbol ``s`` (``0 <= s < vocab_size``) is id ``SYMBOL0 + s``; its display name is ``str(s)``."""

SPECIAL_NAMES: dict[int, str] = {
    PAD: "<pad>",
    END: "<end>",
    SEP: "<sep>",
    UPPER: "<UPPER>",
    LOWER: "<LOWER>",
    MATH: "<MATH>",
    SPACE: "<space>",
    COLON: ":",
    LBRACK: "[",
    RBRACK: "]",
    COMMA: ",",
    **{MODE0 + i: f"[{m}]" for i, m in enumerate(MODES)},
}


def mode_token(mode: str) -> int:
    """The fixed id of a mode token."""
    return MODE0 + MODES.index(mode)


# --------------------------------------------------------------------------- config


def _check_vocab(instance, attribute, value) -> None:
    if value < N_DRAWN:
        raise FieldValueError(
            attribute.name,
            f"must be at least {N_DRAWN} (every example draws {N_DRAWN} distinct symbols: "
            f"{N_UPPER} upper, {N_LOWER} lower, {N_MATH} math), got {value!r}",
        )


@attrs.frozen
class LimeConfig:
    """LIME: per example a rule, a case (substitution) and the result of applying one to the other.

    Each example is ``[mode] <UPPER> vars <LOWER> 24 lower <MATH> 20 math <space> A <space> B
    <sep> target <end>`` with loss on ``target <end>``: deduct (rule, case -> result),
    abduct (rule, result -> case), induct (result, case -> rule). Symbols are ids
    ``32 .. 32+vocab_size-1``; their roles are re-drawn for every example.
    """

    mode: str = attrs.field(default="mixed", validator=one_of(*MODES, "mixed"))
    """``induct``, ``deduct``, ``abduct``, or ``mixed`` (one of the three, uniformly per example)."""
    vocab_size: int = attrs.field(default=1000, validator=_check_vocab)
    """Number of symbol ids; 68 distinct ones are drawn per example (reference: 1,000)."""
    mode_token: bool = True
    """Start each example with its mode token (``[induct]`` ...). The reference writes none
    (the mode shows in the source's shape); ``false`` reproduces that."""
    num_examples: int = attrs.field(default=5_000_000, validator=at_least(1))
    """Documentation only: training examples of the reference dataset (generate.sh: 5,000,000).
    The dataset itself is virtual; a run's length is set by its budget."""


# --------------------------------------------------------------------------- presets

_V = "verified"
_A = "approximate"


def _p(status: str, note: str = "") -> Provenance:
    return Provenance(status, note)  # type: ignore[arg-type]


_SOURCE = Source(paper=PAPER, repo=REPO, note="reason/generate_data.py, reason/generate.sh, README.md")
_VOCAB = _p(_V, "generate.sh: --vocab_size 1000; README recommends vocab_size 1000")
_MIXED = _p(
    _V, "generate.sh: --mode induct deduct abduct (README: the paper's 'mixed' task); random.choice per example"
)
_MODE_TOKEN = _p(
    _A,
    "ours by default: a leading [induct]/[deduct]/[abduct] token (one token more per example); the reference "
    "writes none (the mode shows only in the source's layout); mode_token=false reproduces it",
)


def _mixed(name: str, n: int, budget: Provenance, what: str) -> Preset:
    return Preset(
        name=name,
        summary=f"LIME mixed (induct, deduct, abduct uniformly per example), 1,000 symbols, {what}.",
        values={"mode": "mixed", "vocab_size": 1000, "mode_token": True, "num_examples": n},
        provenance={"mode": _MIXED, "vocab_size": _VOCAB, "mode_token": _MODE_TOKEN, "num_examples": budget},
        source=_SOURCE,
    )


def _single(mode: str) -> Preset:
    return Preset(
        name=f"paper_{mode}",
        summary=f"LIME '{mode}' only, 1,000 symbols, 5M-example budget.",
        values={"mode": mode, "vocab_size": 1000, "mode_token": True, "num_examples": 5_000_000},
        provenance={
            "mode": _p(_V, f"generate_data.py --mode {mode} (one of the paper's three tasks)"),
            "vocab_size": _VOCAB,
            "mode_token": _MODE_TOKEN,
            "num_examples": _p(
                _A,
                "generate.sh's 5,000,000 (written for the mixed task) applied to one task; "
                "README recommends 5-10M examples",
            ),
        },
        source=_SOURCE,
    )


PRESETS: tuple[Preset, ...] = (
    _mixed(
        "paper_mixed_5m",
        5_000_000,
        _p(_V, "generate.sh / README: --num_train=5000000 (plus 1,000 test and 1,000 valid)"),
        "the official 5M-example budget",
    ),
    _mixed(
        "paper_mixed_1m",
        1_000_000,
        _p(
            "ours",
            "a 1M budget as pptrain 0.3.0's paper_benchmark_1m (which cites Wu et al. 2022's "
            "synthetic-task comparison); not found in the LIME repo or README",
        ),
        "a 1M-example budget",
    ),
    _mixed(
        "paper_mixed_100k",
        100_000,
        _p(
            "ours",
            "a 100k budget as pptrain 0.3.0's paper_benchmark_100k (which cites Wu et al. 2022's "
            "synthetic-task comparison); not found in the LIME repo or README",
        ),
        "a 100k-example budget",
    ),
    *(_single(m) for m in MODES),
    Preset(
        name="smoke",
        summary="LIME mixed on 100 symbols (generate_data.py's default vocabulary), for tests and smoke runs.",
        values={"mode": "mixed", "vocab_size": 100, "num_examples": 10_000},
        provenance={
            "mode": _MIXED,
            "vocab_size": _p(_V, "generate_data.py's --vocab_size default (100)"),
            "num_examples": _p("ours", "generate_data.py's --num_train default is 10,000"),
        },
        source=_SOURCE,
    ),
)

LIME = TaskSpec(
    name="lime",
    summary="LIME (Wu et al. 2021): induct / deduct / abduct over a rule, a case and their result; loss on the target.",
    config_cls=LimeConfig,
    factory="pptrain_lime.generate:LimeTask",
    citation=CITATION,
    presets=PRESETS,
    default_preset="paper_mixed_5m",
)
