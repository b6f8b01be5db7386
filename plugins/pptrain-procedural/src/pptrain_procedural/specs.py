"""The ``procedural`` family's spec: config class, presets with provenance, curriculum.

Imported at discovery time (``pptrain list-tasks``), so it imports only attrs and the
core's spec and config helpers; the generators live in :mod:`pptrain_procedural.programs`
and :mod:`pptrain_procedural.task` and are named by a lazy factory string.

Sources (read, never copied):

* Jiang, Shinnick, van den Hengel, Saratchandran, Teney 2026, "Procedural Pretraining",
  arXiv 2601.21725; official code ``zlshinnick/procedural-pretraining@5356d9e``:
  ``procedural_data/{identity,reverse,sort,set,union,delete,stack}.py``,
  ``procedural_pretraining/algorithmic.py`` (loss, accuracy, curriculum) and
  ``procedural_pretraining/configs/*.yaml``.
* The project page ``zlshinnick/procedural-pretraining-page`` (``index.html``), which names
  ECA rule 110 ("a binary sequence evolving via deterministic Markovian dynamics; the
  model predicts the next state") and WW ("a string concatenated with its copy") but
  gives no layout for either; those layouts are ours.
"""

from __future__ import annotations

import attrs

from pptrain_core.config import FieldValueError, at_least, one_of
from pptrain_core.specs import Preset, Provenance, Source, TaskSpec

PAPER = "Jiang, Shinnick, van den Hengel, Saratchandran, Teney 2026, arXiv 2601.21725"
REPO = "zlshinnick/procedural-pretraining@5356d9e"
PAGE = "zlshinnick/procedural-pretraining-page@4604bc8 (index.html)"
CITATION = "Jiang, Shinnick, van den Hengel, Saratchandran, Teney. Procedural Pretraining. 2026. arXiv:2601.21725."

#: The seven programs of the official repository (``procedural_data/*.py``).
ALGORITHMIC = ("identity", "reverse", "sort", "set", "union", "delete", "stack")
#: The two programs only the project page names (layouts are ours).
PAGE_ONLY = ("eca_rule110", "ww")
PROGRAMS = ALGORITHMIC + PAGE_ONLY
#: ``program`` may also be this: one program per example, uniformly from ``mixture``.
MIXTURE = "mixture"


def _check_mixture(instance, attribute, value) -> None:
    if not value:
        raise FieldValueError(attribute.name, "must name at least one program")
    for p in value:
        if p not in PROGRAMS:
            raise FieldValueError(attribute.name, f"{p!r} is not a program; choose from {', '.join(PROGRAMS)}")
    if len(set(value)) != len(value):
        raise FieldValueError(attribute.name, "names a program twice")


@attrs.frozen
class ProceduralConfig:
    """One of Jiang et al.'s procedural programs (or a mixture), integer tokens.

    Vocabulary (``vocab_size`` = V, the paper's 100): symbols ``1..V-1``, separator ``V``,
    pad ``V+1``, id ``0`` = the stack program's *pop*; the model vocabulary has ``V+2``
    ids. Loss only on the output tokens, never on pads (the official loss mask).
    """

    program: str = attrs.field(default="identity", validator=one_of(*PROGRAMS, MIXTURE))
    """Which program: identity, reverse, sort, set, union, delete, stack, eca_rule110, ww, or mixture."""
    length: int = attrs.field(default=64, validator=at_least(1))
    """The paper's ``seq_length`` n: input tokens (union: two halves of n//2; stack: n operations)."""
    vocab_size: int = attrs.field(default=100, validator=at_least(3))
    """V: symbols are 1..V-1, separator V, pad V+1."""
    mixture: tuple[str, ...] = attrs.field(default=PROGRAMS, converter=tuple, validator=_check_mixture)
    """``program: mixture`` only: the programs drawn from, uniformly, one per example."""
    eca_steps: int = attrs.field(default=1, validator=at_least(1))
    """``eca_rule110`` only: successor states after the initial one (ours; 1 = the next state)."""
    block_size: int = attrs.field(default=256, validator=at_least(1))
    """Examples generated together (vectorised); changing it changes the examples."""

    def __attrs_post_init__(self) -> None:
        programs = self.mixture if self.program == MIXTURE else (self.program,)
        short = [p for p in programs if p in ("union", "stack")]
        if short and self.length < 2:
            raise FieldValueError(
                "length",
                f"must be at least 2 for {short[0]} (union: two halves of length//2; "
                f"stack: one operation leaves no room for its output), got {self.length}",
            )

    def programs(self) -> tuple[str, ...]:
        """The programs this config draws from."""
        return self.mixture if self.program == MIXTURE else (self.program,)


# --------------------------------------------------------------------------- curriculum


@attrs.frozen
class LengthCurriculum:
    """Jiang et al.'s optional length curriculum, as a run option for a runner to step.

    Official behaviour (``procedural_pretraining/algorithmic.py``, flags
    ``--use_curriculum --curriculum_start 2 --curriculum_step_size 2
    --curriculum_mastery_threshold 0.99``): train at ``start``; after each epoch, if the
    best validation token accuracy (on the loss positions) reached ``threshold``, add
    ``step`` to the length (capped at ``target``) and reset the best accuracy. None of the
    shipped configs enables it.

    pptrain's trainer runs it with ``run.curriculum: {field: length, start: 2, step: 2,
    threshold: 0.99}``; a runner of its own steps it by rebuilding the task with
    ``attrs.evolve(config, length=...)``::

        cur = LengthCurriculum(target=64)
        length = cur.start
        while training:
            task = spec.build(attrs.evolve(config, length=length))
            acc = train_one_stage_and_evaluate(task)
            length = cur.next_length(length, acc)
    """

    start: int = attrs.field(default=2, validator=at_least(1))
    step: int = attrs.field(default=2, validator=at_least(1))
    target: int = attrs.field(default=64, validator=at_least(1))
    threshold: float = 0.99

    def next_length(self, current: int, accuracy: float) -> int:
        """The length for the next stage, given the best accuracy at ``current``."""
        if accuracy >= self.threshold and current < self.target:
            return min(current + self.step, self.target)
        return current

    def lengths(self) -> list[int]:
        """Every length the curriculum visits, in order: ``start, start+step, ..., target``."""
        return curriculum_lengths(self.start, self.step, self.target)


def curriculum_lengths(start: int = 2, step: int = 2, target: int = 64) -> list[int]:
    """``[start, start+step, ..., target]`` (the last step is capped at ``target``)."""
    if start < 1 or step < 1:
        raise ValueError("start and step must be positive")
    out = [min(start, target)]
    while out[-1] < target:
        out.append(min(out[-1] + step, target))
    return out


# --------------------------------------------------------------------------- presets


def _p(status: str, note: str = "") -> Provenance:
    return Provenance(status, note)  # type: ignore[arg-type]


_V100 = _p("verified", "configs/*.yaml: vocab_size 100")


def _algorithmic(program: str, length: int) -> Preset:
    paper = length == 64
    return Preset(
        name=f"paper_{program}_len{length}" if paper else f"{program}_len{length}",
        summary=(
            f"{program} at the paper's length 64 (Jiang et al. configs/{program}.yaml)."
            if paper
            else f"{program} at length {length}: the paper's program, a length of ours."
        ),
        values={"program": program, "length": length, "vocab_size": 100},
        provenance={
            "program": _p("verified", f"procedural_data/{program}.py"),
            "length": (
                _p("verified", f"configs/{program}.yaml: seq_length 64")
                if paper
                else _p("ours", "the configs use 64 only; other lengths in the paper are unverified")
            ),
            "vocab_size": _V100,
        },
        source=Source(paper=PAPER, repo=REPO, note=f"procedural_data/{program}.py, configs/{program}.yaml"),
    )


def _page_program(program: str, length: int) -> Preset:
    what = {
        "eca_rule110": "ECA rule 110: a random binary state, SEP, its successor (periodic boundary)",
        "ww": "WW: a uniform string followed by its copy, loss on every token but the first",
    }[program]
    return Preset(
        name=f"{program}_len{length}",
        summary=f"{what}; width/length {length} (layout ours, program from the project page).",
        values={"program": program, "length": length, "vocab_size": 100},
        provenance={
            "program": _p(
                "approximate",
                "named on the project page without a layout; the official repo has no generator. Layout ours.",
            ),
            "length": _p("ours", "not given for this program; 64 matches the algorithmic configs"),
            "vocab_size": _p("ours", "shared with the algorithmic programs so mixtures use one vocabulary"),
        },
        source=Source(paper=PAPER, repo=PAGE, note="project page; Shinnick et al. 2025 (arXiv 2505.22308)"),
    )


PRESETS = (
    *(_algorithmic(p, n) for p in ALGORITHMIC for n in (64, 16, 32)),
    *(_page_program(p, n) for p in PAGE_ONLY for n in (64, 16, 32)),
    Preset(
        name="mixture_len64",
        summary="All nine programs at length 64, one uniformly chosen program per example.",
        values={"program": MIXTURE, "length": 64, "vocab_size": 100, "mixture": list(PROGRAMS)},
        provenance={
            "program": _p("ours", "the official code trains one program per model; a mixture is ours"),
            "length": _p("verified", "configs/*.yaml: seq_length 64"),
            "vocab_size": _V100,
            "mixture": _p("ours", "uniform over the nine programs"),
        },
        source=Source(paper=PAPER, repo=REPO, note="the paper reports that mixtures of data types are complementary"),
    ),
    Preset(
        name="mixture_algorithmic_len64",
        summary="The seven official programs at length 64, one uniformly chosen program per example.",
        values={"program": MIXTURE, "length": 64, "vocab_size": 100, "mixture": list(ALGORITHMIC)},
        provenance={
            "program": _p("ours", "the official code trains one program per model; a mixture is ours"),
            "length": _p("verified", "configs/*.yaml: seq_length 64"),
            "vocab_size": _V100,
            "mixture": _p("ours", "uniform over the seven official programs"),
        },
        source=Source(paper=PAPER, repo=REPO, note="procedural_data/*.py"),
    ),
    Preset(
        name="smoke",
        summary="Tiny mixture of every program (length 8, vocabulary 20) for tests and smoke runs.",
        values={"program": MIXTURE, "length": 8, "vocab_size": 20, "mixture": list(PROGRAMS)},
        provenance={
            "program": _p("ours", "every program at once"),
            "length": _p("ours", "tiny for tests"),
            "vocab_size": _p("ours", "tiny for tests"),
            "mixture": _p("ours", "every program"),
        },
        source=Source(paper=PAPER, repo=REPO, note="our sizes on the paper's programs"),
    ),
)

PROCEDURAL = TaskSpec(
    name="procedural",
    summary=(
        "Jiang et al. 2026's procedural programs (identity, reverse, sort, set, union, delete, stack; "
        "plus ECA rule 110 and ww): integer tokens, loss on the output only."
    ),
    config_cls=ProceduralConfig,
    factory="pptrain_procedural.task:ProceduralTask",
    citation=CITATION,
    presets=PRESETS,
    default_preset="paper_identity_len64",
)
