"""Spec, config and presets of Ri & Tsuruoka's artificial languages (ACL 2022).

Light on purpose: this module imports only attrs and the core's spec and config helpers,
so ``pptrain list-tasks`` can describe the family without importing numpy or the
generator (:mod:`pptrain_dyck.languages`).

The official code is ``Ryou0634/artificial_language`` (read at ``ecf0d22``). Its eleven
shipped configurations are the presets here; the official config file each one mirrors
is in :data:`OFFICIAL_CONFIG_FILES` and in the preset's ``source.note``.
"""

from __future__ import annotations

from typing import Any

import attrs

from pptrain_core.config import FieldValueError, at_least, in_range, one_of
from pptrain_core.specs import Preset, Provenance, Source, TaskSpec

DISTRIBUTIONS = ("uniform", "zipf", "log_linear")
STRUCTURES = ("none", "nesting", "flat")

#: Sentence-length counts for lengths 0..60, fitted to English Wikipedia by the authors
#: (official ``configs/lib/empirical_distribution_sampler.libsonnet``). Lengths 6..60 occur.
WIKIPEDIA_SENTENCE_LENGTH_COUNTS: tuple[int, ...] = (
    0, 0, 0, 0, 0, 0, 303, 303, 342, 308,
    275, 310, 337, 356, 340, 309, 321, 358, 319, 331,
    343, 310, 310, 350, 284, 284, 307, 252, 246, 255,
    209, 207, 177, 168, 165, 128, 149, 133, 109, 123,
    102, 99, 81, 81, 73, 60, 61, 44, 43, 43,
    52, 39, 26, 30, 29, 24, 34, 18, 8, 17,
    15,
)  # fmt: skip


def _check_length_counts(instance: Any, attribute: attrs.Attribute, value: tuple[int, ...]) -> None:
    if len(value) < 2:
        raise FieldValueError(
            attribute.name, f"needs counts for lengths 0 and up (at least 2 entries), got {len(value)}"
        )
    if any(c < 0 for c in value):
        raise FieldValueError(attribute.name, "counts must be non-negative")
    if value[0] != 0:
        raise FieldValueError(attribute.name, "the count of length 0 must be 0: every sentence has at least one word")
    if sum(value) <= 0:
        raise FieldValueError(attribute.name, "at least one length must have a positive count")


@attrs.frozen
class ArtificialLanguageConfig:
    """One artificial language: a word distribution, a dependency structure, sentence lengths.

    A sentence has ``L`` words, ``L`` drawn from ``sentence_length_counts``. Without
    structure the words are i.i.d. from ``distribution`` over ``vocab_size`` words. With a
    dependency structure the language draws from ``ceil(vocab_size / 2)`` base words, keeps
    ``h = L // 2`` of them (plus one with probability 1/2, at least one), turns each into a
    head/dependent pair and arranges the ``2h`` symbols in a nesting or flat (crossing)
    order, exactly as the official ``parenthesis`` language does.
    """

    distribution: str = attrs.field(default="log_linear", validator=one_of(*DISTRIBUTIONS))
    """Word distribution: ``uniform``; ``zipf`` (weight of rank r is floor(V/r));
    ``log_linear`` (p(w) proportional to exp(E_w . c / T), the official ``random_walk``)."""

    structure: str = attrs.field(default="nesting", validator=one_of(*STRUCTURES))
    """Dependency structure: ``none`` (i.i.d. words), ``nesting`` (arcs never cross) or
    ``flat`` (arcs cross freely)."""

    same_open_and_close_token: bool = False
    """Use one symbol for a pair's head and dependent (the Nesting-Paren / Flat-Paren
    languages, 8,000 symbols); otherwise ``(t`` opens and ``t)`` closes (16,000 symbols)."""

    vocab_size: int = attrs.field(default=16000, validator=at_least(2))
    """Base vocabulary of the language (``language_base.libsonnet``). Dependency languages
    draw their words from ``ceil(vocab_size / 2)`` base words, as the official configs do."""

    open_prob: float = attrs.field(default=0.4, validator=in_range(0.0, 1.0))
    """Nesting only: probability of opening the next pair while others are open."""

    embedding_dim: int = attrs.field(default=10, validator=at_least(1))
    """Log-linear only: dimension of the word embeddings E and of the topic vector c."""

    temperature: float = attrs.field(default=1.0, validator=in_range(0.0, float("inf"), low_open=True, high_open=True))
    """Log-linear only: softmax temperature T."""

    topic_block: int = attrs.field(default=64, validator=at_least(1))
    """Log-linear only: how many consecutive sentences share one topic vector c. The
    official CLI generates in batches of 64 and draws one c per batch, hence 64; 1 redraws
    c for every sentence (the official single-sentence path)."""

    sentence_length_counts: tuple[int, ...] = attrs.field(
        default=WIKIPEDIA_SENTENCE_LENGTH_COUNTS, converter=tuple, validator=_check_length_counts
    )
    """Histogram of sentence lengths: entry ``L`` is the weight of length ``L`` (words
    before the dependency transform)."""

    def __attrs_post_init__(self) -> None:
        if self.same_open_and_close_token and self.structure == "none":
            raise FieldValueError(
                "same_open_and_close_token",
                "only applies to a dependency structure (nesting or flat), but structure is 'none'",
            )


# --------------------------------------------------------------------------- presets

PAPER = "Ri & Tsuruoka, ACL 2022, arXiv 2203.10326"
REPO = "Ryou0634/artificial_language@ecf0d22"

#: Our preset name -> the official config file it mirrors (``artificial_language/configs/``).
OFFICIAL_CONFIG_FILES: dict[str, str] = {
    "no_structure_uniform": "no_structure_uniform.jsonnet",
    "no_structure_zipf": "no_structure_zipf.jsonnet",
    "no_structure_log_linear": "no_structure_random_walk.jsonnet",
    "flat_dep_uniform": "dependency_flat_uniform.jsonnet",
    "flat_dep_zipf": "dependency_flat_zipf.jsonnet",
    "flat_dep_log_linear": "dependency_flat_random_walk.jsonnet",
    "nesting_dep_uniform": "dependency_nesting_uniform.jsonnet",
    "nesting_dep_zipf": "dependency_nesting_zipf.jsonnet",
    "nesting_dep_log_linear": "dependency_nesting_random_walk.jsonnet",
    "flat_paren_zipf": "parenthesis_flat_zipf.jsonnet",
    "nesting_paren_zipf": "parenthesis_nesting_zipf.jsonnet",
}

_DIST_WORDS = {"uniform": "uniform", "zipf": "Zipf", "log_linear": "log-linear (topic)"}
_V = Provenance


def _paper_preset(name: str, distribution: str, structure: str, same_token: bool = False) -> Preset:
    official = OFFICIAL_CONFIG_FILES[name]
    values: dict[str, Any] = {
        "distribution": distribution,
        "structure": structure,
        "vocab_size": 16000,
        "sentence_length_counts": WIKIPEDIA_SENTENCE_LENGTH_COUNTS,
    }
    provenance = {
        "distribution": _V("verified", f"language type in {official}"),
        "structure": _V(
            "verified", f"parenthesis_type in {official}" if structure != "none" else "no parenthesis wrapper"
        ),
        "vocab_size": _V("verified", "vocab_size 16000 in lib/language_base.libsonnet"),
        "sentence_length_counts": _V("verified", "lib/empirical_distribution_sampler.libsonnet (fitted to wiki_en)"),
    }
    if structure != "none":
        values["same_open_and_close_token"] = same_token
        provenance["same_open_and_close_token"] = _V(
            "verified", "same_open_and_close_token: true" if same_token else "ParenthesisLanguage default (false)"
        )
    if structure == "nesting":
        values["open_prob"] = 0.4
        provenance["open_prob"] = _V("verified", "default of build_nesting_parenthesis (the configs do not set it)")
    if distribution == "log_linear":
        values.update(embedding_dim=10, temperature=1.0, topic_block=64)
        provenance.update(
            embedding_dim=_V("verified", "RandomWalkLanguage default"),
            temperature=_V("verified", "RandomWalkLanguage default"),
            topic_block=_V(
                "verified",
                "generate_artificial_corpus.py --batch-size default 64; one topic vector per batch call",
            ),
        )
    if structure == "none":
        what = f"{_DIST_WORDS[distribution]} words, no structure"
    else:
        kind = "Paren" if same_token else "Dep"
        what = f"{structure.capitalize()}-{kind} over {_DIST_WORDS[distribution]} words"
    return Preset(
        name=name,
        summary=f"{what} (official {official})",
        values=values,
        provenance=provenance,
        source=Source(paper=PAPER, repo=REPO, note=f"artificial_language/configs/{official}"),
    )


PRESETS: tuple[Preset, ...] = (
    _paper_preset("no_structure_uniform", "uniform", "none"),
    _paper_preset("no_structure_zipf", "zipf", "none"),
    _paper_preset("no_structure_log_linear", "log_linear", "none"),
    _paper_preset("flat_dep_uniform", "uniform", "flat"),
    _paper_preset("flat_dep_zipf", "zipf", "flat"),
    _paper_preset("flat_dep_log_linear", "log_linear", "flat"),
    _paper_preset("nesting_dep_uniform", "uniform", "nesting"),
    _paper_preset("nesting_dep_zipf", "zipf", "nesting"),
    _paper_preset("nesting_dep_log_linear", "log_linear", "nesting"),
    _paper_preset("flat_paren_zipf", "zipf", "flat", same_token=True),
    _paper_preset("nesting_paren_zipf", "zipf", "nesting", same_token=True),
    Preset(
        name="smoke",
        summary="Tiny nesting log-linear language (64 base words, 4-8 word sentences) for tests and smoke runs",
        values={
            "distribution": "log_linear",
            "structure": "nesting",
            "vocab_size": 64,
            "embedding_dim": 4,
            "topic_block": 8,
            "sentence_length_counts": (0, 0, 0, 0, 1, 1, 1, 1, 1),
        },
        provenance={
            "distribution": _V("ours"),
            "structure": _V("ours"),
            "vocab_size": _V("ours", "tiny, for fast tests"),
            "embedding_dim": _V("ours"),
            "topic_block": _V("ours"),
            "sentence_length_counts": _V("ours", "uniform over lengths 4..8"),
        },
        source=Source(paper=PAPER, repo=REPO, note="not an official configuration"),
    ),
)

ARTIFICIAL_LANGUAGE = TaskSpec(
    name="artificial_language",
    summary=(
        "Ri & Tsuruoka's artificial languages: uniform, Zipf or log-linear words with no structure, "
        "nesting or flat dependencies (the 11 official configs as presets)."
    ),
    config_cls=ArtificialLanguageConfig,
    factory="pptrain_dyck.languages:ArtificialLanguageTask",
    citation=PAPER,
    presets=PRESETS,
    default_preset="nesting_dep_log_linear",
)
