"""Specs for k-Dyck and k-Shuffle-Dyck: config classes, presets, provenance.

This module is imported at discovery time (``pptrain list-tasks``), so it imports only
attrs and the core's spec and config helpers; the generators live in
:mod:`pptrain_dyck.dyck` and are named by a lazy factory string.

Sources (read, never copied):

* Jiang et al. 2026, "Procedural pretraining", arXiv 2601.21725; official code
  ``zlshinnick/procedural-pretraining@5356d9e``: ``procedural_data/dyck.py``,
  ``procedural_data/dyck_shuffle.py``, ``procedural_pretraining/dyck.py`` (CLI defaults) and
  ``procedural_pretraining/configs/{dyck,dyck_shuffle}.yaml``.
* Hu et al. 2025, "Between Circuits and Chomsky", ACL 2025, arXiv 2502.19249; official code
  ``michahu/pre-pretraining@5c937ca``: ``src/grammar.py`` and ``scripts/make_ppt_data.sh``.
"""

from __future__ import annotations

import attrs

from pptrain_core.config import FieldValueError, at_least, in_range, one_of
from pptrain_core.specs import Preset, Provenance, Source, TaskSpec

JIANG_PAPER = "Jiang, Shinnick, van den Hengel, Saratchandran, Teney 2026, arXiv 2601.21725"
JIANG_REPO = "zlshinnick/procedural-pretraining@5356d9e"
HU_PAPER = "Hu, Petty, Shi, Merrill, Linzen 2025 (ACL), arXiv 2502.19249"
HU_REPO = "michahu/pre-pretraining@5c937ca"

JIANG_CITATION = (
    "Jiang, Shinnick, van den Hengel, Saratchandran, Teney. Procedural Pretraining. 2026. arXiv:2601.21725."
)
HU_CITATION = (
    "Hu, Petty, Shi, Merrill, Linzen. Between Circuits and Chomsky: Pre-pretraining on Formal "
    "Languages Imparts Linguistic Biases. ACL 2025. arXiv:2502.19249."
)

#: Hu et al.'s per-word settings (``src/grammar.py``: ``generate_dyck_txt_file`` passes
#: ``min_depth=1, max_depth=16`` to ``generate_dyck``, whose ``max_length`` default is 510).
HU_DYCK_DEFAULTS = {"max_depth": 16, "min_depth": 1, "max_word_length": 510}

_optional_positive = attrs.validators.optional(at_least(1))


# --------------------------------------------------------------------------- configs


@attrs.frozen
class DyckConfig:
    """k-Dyck: ``k`` bracket types, sequences of exactly ``length`` tokens.

    Token ids: opens ``0..k-1``, closes ``k..2k-1`` (close of type ``i`` is ``k+i``), pad
    ``2k``; the model vocabulary has ``2k+1`` ids.

    ``variant="jiang"`` (default) is Jiang et al.'s generator: one stack walk that fills
    exactly ``length`` tokens and always ends balanced (``length`` must be even).
    ``variant="hu"`` is Hu et al.'s: independent Dyck words, each opened to
    ``min_depth``, nested at most ``max_depth`` deep and capped near ``max_word_length``
    tokens, concatenated and cut at ``length`` (the last word may be cut open). The three
    per-word fields belong to ``hu`` only; leave them unset (``None``) for ``jiang``. Unset
    under ``hu`` they take Hu's values (16, 1, 510).
    """

    k: int = attrs.field(default=64, validator=at_least(1))
    """Number of bracket types."""
    length: int = attrs.field(default=2048, validator=at_least(2))
    """Tokens per sequence."""
    p_open: float = attrs.field(default=0.5, validator=in_range(0.0, 1.0))
    """Probability of opening a bracket when both opening and closing are allowed."""
    variant: str = attrs.field(default="jiang", validator=one_of("jiang", "hu"))
    """Whose generator: ``"jiang"`` (one balanced walk) or ``"hu"`` (concatenated words)."""
    max_depth: int | None = attrs.field(default=None, validator=_optional_positive)
    """``hu`` only: deepest nesting inside one word (Hu: 16)."""
    min_depth: int | None = attrs.field(default=None, validator=_optional_positive)
    """``hu`` only: opens that start every word (Hu: 1)."""
    max_word_length: int | None = attrs.field(default=None, validator=_optional_positive)
    """``hu`` only: a word stops opening near this many tokens, then closes out (Hu: 510)."""

    def __attrs_post_init__(self) -> None:
        if self.variant == "jiang":
            for name in HU_DYCK_DEFAULTS:
                if getattr(self, name) is not None:
                    raise FieldValueError(name, "is used only by variant 'hu'; leave it unset for variant 'jiang'")
            if self.length % 2:
                raise FieldValueError(
                    "length",
                    f"must be even for variant 'jiang' (an odd length cannot end balanced), got {self.length}",
                )
        else:
            if self.resolved("min_depth") > self.resolved("max_depth"):
                raise FieldValueError(
                    "min_depth",
                    f"must not exceed max_depth ({self.resolved('max_depth')}), got {self.resolved('min_depth')}",
                )

    def resolved(self, name: str) -> int:
        """A ``hu`` per-word setting with Hu's value filled in where it is unset."""
        value = getattr(self, name)
        return HU_DYCK_DEFAULTS[name] if value is None else value


@attrs.frozen
class ShuffleDyckConfig:
    """k-Shuffle-Dyck: each bracket type balanced on its own; types may interleave.

    Token ids as for :class:`DyckConfig`: opens ``0..k-1``, closes ``k..2k-1``, pad ``2k``.
    The walk opens a random type at depth 0, closes a uniformly chosen *currently open
    type* at depth ``max_depth``, and otherwise opens with probability ``p_open``. It
    stops at ``length`` tokens, so a sequence may end with brackets still open (both
    papers do this). Jiang et al. and Hu et al. run the same algorithm with different
    ``p_open`` and ``max_depth``.
    """

    k: int = attrs.field(default=64, validator=at_least(1))
    """Number of bracket types."""
    length: int = attrs.field(default=2048, validator=at_least(2))
    """Tokens per sequence."""
    p_open: float = attrs.field(default=0.5, validator=in_range(0.0, 1.0))
    """Probability of opening when 0 < depth < max_depth."""
    max_depth: int = attrs.field(default=16, validator=at_least(1))
    """Total open brackets (all types together) at which a close is forced."""


# --------------------------------------------------------------------------- presets

_V = "verified"


def _p(status: str, note: str = "") -> Provenance:
    return Provenance(status, note)  # type: ignore[arg-type]


DYCK_PRESETS = (
    Preset(
        name="paper_k64",
        summary="Jiang et al.'s k-Dyck pre-pretraining data: k=64, 2,048 tokens, p_open 0.5.",
        values={"k": 64, "length": 2048, "p_open": 0.5, "variant": "jiang"},
        provenance={
            "k": _p(_V, "configs/dyck.yaml: k 64"),
            "length": _p(_V, "configs/dyck.yaml: seq_length 2048"),
            "p_open": _p(
                _V,
                "the CLI default 0.5 is what runs (configs do not set it); "
                "generate_dyck's own default 0.49 is never used by the CLI",
            ),
            "variant": _p(_V, "procedural_data/dyck.py"),
        },
        source=Source(paper=JIANG_PAPER, repo=JIANG_REPO, note="procedural_data/dyck.py, configs/dyck.yaml"),
    ),
    Preset(
        name="paper_hu_k64",
        summary="Hu et al.'s k-Dyck: words of depth 1-16 concatenated and cut at 2,048 tokens.",
        values={
            "k": 64,
            "length": 2048,
            "p_open": 0.5,
            "variant": "hu",
            "max_depth": 16,
            "min_depth": 1,
            "max_word_length": 510,
        },
        provenance={
            "k": _p(
                "approximate",
                "src/grammar.py defaults to num_symbols=30 and no script in the repo generates "
                "k-Dyck; we use 64 to match Hu's shuffle-Dyck and ww data (k=64). Paper value unconfirmed.",
            ),
            "length": _p(_V, "src/grammar.py: generate_dyck_txt_file target_length=2048"),
            "p_open": _p(_V, "src/grammar.py: generate_dyck opens with probability 0.5 (hard-coded)"),
            "variant": _p(_V, "src/grammar.py: generate_dyck + generate_dyck_txt_file"),
            "max_depth": _p(_V, "src/grammar.py: generate_dyck_txt_file max_depth=16"),
            "min_depth": _p(_V, "src/grammar.py: generate_dyck_txt_file min_depth=1"),
            "max_word_length": _p(_V, "src/grammar.py: generate_dyck max_length=510"),
        },
        source=Source(paper=HU_PAPER, repo=HU_REPO, note="src/grammar.py generate_dyck_txt_file"),
    ),
    Preset(
        name="paper_cli_k16",
        summary="The defaults of Jiang et al.'s Dyck training script (k=16, 128 tokens, p_open 0.5): the tiny model's data.",
        values={"k": 16, "length": 128, "p_open": 0.5, "variant": "jiang"},
        provenance={
            "k": _p(_V, "procedural_pretraining/dyck.py --k default 16"),
            "length": _p(_V, "procedural_pretraining/dyck.py --seq_length default 128"),
            "p_open": _p(_V, "procedural_pretraining/dyck.py --p_open default 0.5"),
            "variant": _p(_V, "procedural_data/dyck.py generate_dyck"),
        },
        source=Source(
            paper=JIANG_PAPER,
            repo=JIANG_REPO,
            note="procedural_pretraining/dyck.py CLI defaults (no config file ships the 2_4_16 model's run)",
        ),
    ),
    Preset(
        name="small_k8",
        summary="A laptop-sized k-Dyck (k=8, 256 tokens); Jiang's rule, our sizes.",
        values={"k": 8, "length": 256, "p_open": 0.5, "variant": "jiang"},
        provenance={
            "k": _p("ours", "smaller vocabulary for quick runs"),
            "length": _p("ours", "short sequences for quick runs"),
            "p_open": _p(_V, "Jiang's CLI default"),
            "variant": _p(_V, "Jiang's generator"),
        },
        source=Source(paper=JIANG_PAPER, repo=JIANG_REPO, note="our sizes on Jiang's generator"),
    ),
    Preset(
        name="smoke",
        summary="Tiny k-Dyck (k=4, 32 tokens) for tests and smoke runs.",
        values={"k": 4, "length": 32, "p_open": 0.5, "variant": "jiang"},
        provenance={
            "k": _p("ours", "tiny for tests"),
            "length": _p("ours", "tiny for tests"),
            "p_open": _p(_V, "Jiang's CLI default"),
            "variant": _p(_V, "Jiang's generator"),
        },
        source=Source(paper=JIANG_PAPER, repo=JIANG_REPO, note="our sizes on Jiang's generator"),
    ),
)

SHUFFLE_DYCK_PRESETS = (
    Preset(
        name="paper_hu_k64",
        summary="Hu et al.'s k-Shuffle-Dyck: k=64, p_open 0.51, max depth 8, 2,048 tokens.",
        values={"k": 64, "length": 2048, "p_open": 0.51, "max_depth": 8},
        provenance={
            "k": _p(_V, "src/grammar.py: generate_shuff_dyck_txt_file num_symbols=64"),
            "length": _p(_V, "src/grammar.py: target_length=2048"),
            "p_open": _p(_V, "src/grammar.py: p=0.51 (file name dyck_sequences_cross_serial_64_0.51)"),
            "max_depth": _p(_V, "src/grammar.py: generate_shuff_dyck max_depth=8 (not overridden)"),
        },
        source=Source(paper=HU_PAPER, repo=HU_REPO, note="scripts/make_ppt_data.sh -> src/grammar.py"),
    ),
    Preset(
        name="paper_jiang_k64",
        summary="Jiang et al.'s k-Dyck-Shuffle: k=64, p_open 0.5, max depth 16, 2,048 tokens.",
        values={"k": 64, "length": 2048, "p_open": 0.5, "max_depth": 16},
        provenance={
            "k": _p(_V, "configs/dyck_shuffle.yaml: k 64"),
            "length": _p(_V, "configs/dyck_shuffle.yaml: seq_length 2048"),
            "p_open": _p(_V, "CLI default --p_open 0.5 (configs do not set it)"),
            "max_depth": _p(_V, "CLI default --max_depth 16 (configs do not set it)"),
        },
        source=Source(paper=JIANG_PAPER, repo=JIANG_REPO, note="procedural_data/dyck_shuffle.py"),
    ),
    Preset(
        name="small_k8",
        summary="A laptop-sized k-Shuffle-Dyck (k=8, 256 tokens, max depth 8); our sizes.",
        values={"k": 8, "length": 256, "p_open": 0.5, "max_depth": 8},
        provenance={
            "k": _p("ours", "smaller vocabulary for quick runs"),
            "length": _p("ours", "short sequences for quick runs"),
            "p_open": _p(_V, "Jiang's CLI default"),
            "max_depth": _p("ours", "Hu's depth limit with a short sequence"),
        },
        source=Source(note="our sizes on the shared generator"),
    ),
    Preset(
        name="smoke",
        summary="Tiny k-Shuffle-Dyck (k=4, 32 tokens, max depth 4) for tests and smoke runs.",
        values={"k": 4, "length": 32, "p_open": 0.5, "max_depth": 4},
        provenance={
            "k": _p("ours", "tiny for tests"),
            "length": _p("ours", "tiny for tests"),
            "p_open": _p(_V, "Jiang's CLI default"),
            "max_depth": _p("ours", "tiny for tests"),
        },
        source=Source(note="our sizes on the shared generator"),
    ),
)


# --------------------------------------------------------------------------- specs

DYCK = TaskSpec(
    name="dyck",
    summary="k-Dyck: nested brackets of k types, exactly `length` tokens (Jiang et al. 2026; Hu et al. 2025 variant).",
    config_cls=DyckConfig,
    factory="pptrain_dyck.dyck:DyckTask",
    citation=f"{JIANG_CITATION} Variant 'hu': {HU_CITATION}",
    presets=DYCK_PRESETS,
    default_preset="paper_k64",
)

SHUFFLE_DYCK = TaskSpec(
    name="shuffle_dyck",
    summary="k-Shuffle-Dyck: k bracket types, each balanced on its own, freely interleaved (Hu et al. 2025; Jiang et al. 2026).",
    config_cls=ShuffleDyckConfig,
    factory="pptrain_dyck.dyck:ShuffleDyckTask",
    citation=f"{HU_CITATION} {JIANG_CITATION}",
    presets=SHUFFLE_DYCK_PRESETS,
    default_preset="paper_hu_k64",
)
