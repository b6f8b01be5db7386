"""Specs for nonsense-document summarization: config, presets, provenance.

Imported at discovery time (``pptrain list-tasks``), so it imports only attrs, the core's
spec and config helpers and the plain-Python :mod:`pptrain_summarization.layout`; the
generator lives in :mod:`pptrain_summarization.generate`, named by a lazy factory string.

Sources (read, never copied): Krishna, Bigham, Lipton, "Does Pretraining for Summarization
Require Knowledge Transfer?", Findings of EMNLP 2021, arXiv 2109.04953; official code
``acmi-lab/pretraining-with-nonsense@ec2698f``: ``pretraining_datasetgen/vocab.py``
(``RandomVocab``), ``base.py`` (``BaseGenerator.get_para``), ``ourtasks.py`` (the 21
sub-task classes, the 16 used, ``NUM_TRANSFORMS = 3``, 100,000/5,000/5,000 rows),
``steptasks.py`` (the three STEP tasks on nonsense) and
``t5/pretrained_cnndmail_dataset_reader.py`` with
``pretraining_experiments/pretraining_t5_ourtasks_nonsense.jsonnet`` (lines joined with
spaces, ``lowercase_tokens: true``). The STEP tasks are those of Zou, Zhang, Wang, Wei, Zhou,
"Pre-training for Abstractive Document Summarization by Reinstating Source Text",
EMNLP 2020, arXiv 2004.01853.
"""

from __future__ import annotations

import attrs

from pptrain_core.config import FieldValueError, at_least, in_range
from pptrain_core.specs import Preset, Provenance, Source, TaskSpec
from pptrain_summarization.layout import FAMILIES, STEP_TASKS, SUBTASK_ID, SUBTASK_NAMES, SUBTASKS

PAPER = "Krishna, Bigham, Lipton 2021 (Findings of EMNLP), arXiv 2109.04953"
STEP_PAPER = "Zou, Zhang, Wang, Wei, Zhou 2020 (EMNLP), arXiv 2004.01853"
REPO = "acmi-lab/pretraining-with-nonsense@ec2698f"
CITATION = (
    "Krishna, Bigham, Lipton. Does Pretraining for Summarization Require Knowledge Transfer? "
    "Findings of EMNLP 2021. arXiv:2109.04953. STEP tasks: Zou, Zhang, Wang, Wei, Zhou. Pre-training for "
    "Abstractive Document Summarization by Reinstating Source Text. EMNLP 2020. arXiv:2004.01853."
)

#: sentences a sub-task plants keywords in (at most), for the feasibility check
LINES_NEEDED: dict[str, int] = {
    "copy_keyword_multiple": 3,
    "copy_keyword_shuffled": 3,
    "copy_keyword_sorted": 3,
    "majority_keyword": 5,
    "topic_segregation": 5,
    "largest_number": 4,
    "join_clauses": 3,
}

# --------------------------------------------------------------------------- config


def _names(allowed: tuple[str, ...], what: str):
    def check(instance, attribute, value) -> None:
        if not value:
            raise FieldValueError(attribute.name, f"must name at least one {what}")
        unknown = [t for t in value if t not in allowed]
        if unknown:
            raise FieldValueError(attribute.name, f"unknown {what} {unknown[0]!r}; choose from {', '.join(allowed)}")
        if len(set(value)) != len(value):
            raise FieldValueError(attribute.name, f"names a {what} twice; list each once")

    return check


@attrs.frozen
class SummarizationConfig:
    """Nonsense documents and their summaries; one listed task is drawn uniformly per example.

    ``ourtasks`` is Krishna et al.'s composite task: a document of ``num_sentences`` ±
    ``num_sentences_tolerance`` sentences, ``tasks_per_document`` distinct sub-tasks drawn
    from ``subtasks`` modify it in turn, and the summary is their outputs concatenated in
    the same order. The STEP tasks (``sentence_reordering``, ``next_sentence``,
    ``masked_document``) take the first sentences of a ``step_sentences``-sentence document
    until it holds more than the task's token budget. Every example is
    ``[task] document <sep> summary <end>`` with loss on ``summary <end>``. Lengths are
    counted in our word tokens (a pseudo-word, a keyword or ``.`` is one token), where the
    reference counts T5 SentencePiece pieces; the field defaults below are the reference's
    numbers read as word tokens (as the ``paper_step_*_words`` presets), while the
    ``paper_step_*`` presets convert them from pieces (:func:`tokens_for_pieces`).
    """

    tasks: tuple[str, ...] = attrs.field(default=("ourtasks",), converter=tuple, validator=_names(FAMILIES, "task"))
    """Tasks to mix, one drawn uniformly per example: ``ourtasks`` and/or the three STEP tasks."""
    subtasks: tuple[str, ...] = attrs.field(
        default=SUBTASK_NAMES, converter=tuple, validator=_names(SUBTASK_NAMES, "sub-task")
    )
    """The OurTasks sub-tasks to draw from (reference: the 16 of ``_classes``)."""
    tasks_per_document: int = attrs.field(default=3, validator=at_least(1))
    """Distinct sub-tasks applied to each OurTasks document (reference ``NUM_TRANSFORMS = 3``)."""
    num_sentences: int = attrs.field(default=10, validator=at_least(1))
    """Mean sentences of an OurTasks document (reference ``mean_numsents = 10``)."""
    num_sentences_tolerance: int = attrs.field(default=3, validator=at_least(0))
    """OurTasks sentence count is ``num_sentences + U{-t..t}``, at least 1 (reference 3)."""
    sentence_length: int = attrs.field(default=10, validator=at_least(1))
    """Mean words per sentence, the final ``.`` excluded (reference ``mean_sentlen = 10``)."""
    sentence_length_tolerance: int = attrs.field(default=5, validator=at_least(0))
    """Words per sentence is ``sentence_length + U{-t..t}``, at least 1 (reference 5)."""
    step_sentences: int = attrs.field(default=100, validator=at_least(1))
    """Sentences of a STEP base document before it is cut (reference: 100, tolerance 0)."""
    overshoot_limit: int = attrs.field(default=50, validator=at_least(0))
    """A STEP document is redrawn if its cut overshoots the budget by more than this (reference 50)."""
    reorder_min_tokens: int = attrs.field(default=512, validator=at_least(1))
    """``sentence_reordering`` documents hold more than this many tokens (reference 512)."""
    next_input_tokens: int = attrs.field(default=512, validator=at_least(1))
    """``next_sentence`` prompt: the first this-many tokens (reference 512)."""
    next_target_tokens: int = attrs.field(default=256, validator=at_least(1))
    """``next_sentence`` target: the following this-many tokens (reference 256)."""
    mask_min_tokens: int = attrs.field(default=512, validator=at_least(1))
    """``masked_document`` documents hold more than this many tokens (reference 512)."""
    mask_window: int = attrs.field(default=512, validator=at_least(1))
    """The masked span lies inside the first this-many tokens (reference 512)."""
    mask_span_min: int = attrs.field(default=100, validator=at_least(1))
    """Shortest masked span (reference ``randint(100, 256)``: 100)."""
    mask_span_max: int = attrs.field(default=255, validator=at_least(1))
    """Longest masked span (reference ``randint(100, 256)``: 255)."""
    mask_token_share: float = attrs.field(default=0.8, validator=in_range(0.0, 1.0))
    """Per span token: probability of ``<extra_id_0>`` (reference 0.8)."""
    mask_random_share: float = attrs.field(default=0.1, validator=in_range(0.0, 1.0))
    """Per span token: probability of a random pseudo-word (reference 0.1); the rest is kept."""
    train_examples: int = attrs.field(default=100_000, validator=at_least(1))
    """Documentation only: training rows of the reference's datasets (100,000; 5,000 val, 5,000 test).
    The dataset itself is virtual; a run's length is set by its budget."""

    def __attrs_post_init__(self) -> None:
        if self.tasks_per_document > len(self.subtasks):
            raise FieldValueError(
                "tasks_per_document",
                f"must not exceed the number of subtasks ({len(self.subtasks)}), got {self.tasks_per_document}",
            )
        min_words = max(1, self.sentence_length - self.sentence_length_tolerance)
        if "ourtasks" in self.tasks:
            min_lines = max(1, self.num_sentences - self.num_sentences_tolerance)
            need = max(LINES_NEEDED.get(s, 1) for s in self.subtasks)
            if min_lines < need:
                worst = max(self.subtasks, key=lambda s: LINES_NEEDED.get(s, 1))
                raise FieldValueError(
                    "num_sentences",
                    f"num_sentences - num_sentences_tolerance must be at least {need} for sub-task {worst!r} "
                    f"(it plants keywords in up to {need} sentences), got {min_lines}",
                )
            if min_words < 2 and {"join_clauses", "break_clauses"} & set(self.subtasks):
                raise FieldValueError(
                    "sentence_length",
                    "sentence_length - sentence_length_tolerance must be at least 2 for join_clauses and "
                    f"break_clauses, got {min_words}",
                )
        if self.mask_token_share + self.mask_random_share > 1.0:
            raise FieldValueError(
                "mask_random_share",
                f"mask_token_share + mask_random_share must not exceed 1, got "
                f"{self.mask_token_share} + {self.mask_random_share}",
            )
        if self.mask_span_min > self.mask_span_max:
            raise FieldValueError(
                "mask_span_min", f"must not exceed mask_span_max ({self.mask_span_max}), got {self.mask_span_min}"
            )
        if self.mask_span_max > self.mask_window:
            raise FieldValueError(
                "mask_span_max", f"must not exceed mask_window ({self.mask_window}), got {self.mask_span_max}"
            )
        if self.mask_window > self.mask_min_tokens:
            raise FieldValueError(
                "mask_window", f"must not exceed mask_min_tokens ({self.mask_min_tokens}), got {self.mask_window}"
            )
        longest = self.step_sentences * (self.sentence_length + self.sentence_length_tolerance + 1)
        for task in STEP_TASKS:
            if task in self.tasks and longest <= self.step_budget(task):
                raise FieldValueError(
                    "step_sentences",
                    f"{self.step_sentences} sentences of at most {self.sentence_length + self.sentence_length_tolerance}"
                    f" words hold at most {longest} tokens, not more than the {task} budget of "
                    f"{self.step_budget(task)}; raise step_sentences or lower the budget",
                )

    def step_budget(self, task: str) -> int:
        """Tokens a STEP task's document must exceed (the reference's ``required_tokens``)."""
        if task == "sentence_reordering":
            return self.reorder_min_tokens
        if task == "next_sentence":
            return self.next_input_tokens + self.next_target_tokens
        return self.mask_min_tokens


# --------------------------------------------------------------------------- presets

_V = "verified"
_A = "approximate"


def _p(status: str, note: str = "") -> Provenance:
    return Provenance(status, note)  # type: ignore[arg-type]


_SOURCE = Source(paper=PAPER, repo=REPO, note="pretraining_datasetgen/{vocab,base,ourtasks}.py")
_STEP_SOURCE = Source(
    paper=f"{STEP_PAPER}; on nonsense: {PAPER}", repo=REPO, note="pretraining_datasetgen/{vocab,base,steptasks}.py"
)

_DOC_VALUES = {"num_sentences": 10, "num_sentences_tolerance": 3, "sentence_length": 10, "sentence_length_tolerance": 5}
_DOC_PROV = {
    "num_sentences": _p(_V, "ourtasks.py __main__: mean_numsents = 10"),
    "num_sentences_tolerance": _p(_V, "base.py BaseGenerator(numsent_tolerance=3)"),
    "sentence_length": _p(_V, "ourtasks.py __main__: mean_sentlen = 10"),
    "sentence_length_tolerance": _p(_V, "base.py BaseGenerator(sentlen_tolerance=5)"),
    "train_examples": _p(_V, "ourtasks.py / steptasks.py: TRAIN_SIZE = 100000 (VAL 5000, TEST 5000)"),
}
_WORD_NOTE = "counted in our word tokens; the reference counts T5 pieces of the lower-cased text"

# --------------------------------------------------------------------------- T5 pieces -> word tokens

T5_PIECES_PER_WORD = 3.445
"""Estimated T5 SentencePiece pieces per pseudo-word, the mean over the 5,000 pseudo-words.

Measured on the T5 piece list the reference ships (``dataset_root/pretrained_t5_vocabulary/
tokens.txt``, 32,099 pieces): the list has no lower-case ``▁x`` piece, so a pseudo-word ``xyb``
becomes ``▁`` and then 1-3 letter pieces; the fewest-pieces segmentation gives 129 words of 1
piece, 757 of 2, 874 of 3 and 3,240 of 4 (mean 3.445). The list holds no piece scores; a
Viterbi with Zipf scores by rank gives 3.446, one without a per-piece cost 3.520, and 4.0 is
the ceiling (``▁`` and three letters), so the true mean is in [3.445, 4.0], most likely within
0.1 of 3.445. See ``docs/tasks/summarization.md``."""
T5_PIECES_PER_FULL_STOP = 2
"""A sentence's `` .`` is two T5 pieces (``▁`` and ``.``; the list has no ``▁.``)."""


def pieces_per_token(sentence_length: int = 10) -> float:
    """Estimated T5 pieces per word token (pseudo-word or ``.``) of sentences of mean ``sentence_length``."""
    return (sentence_length * T5_PIECES_PER_WORD + T5_PIECES_PER_FULL_STOP) / (sentence_length + 1)


def tokens_for_pieces(pieces: int, sentence_length: int = 10) -> int:
    """Word tokens holding ``pieces`` T5 pieces on average (at least 1)."""
    return max(1, round(pieces / pieces_per_token(sentence_length)))


_PIECE_SIZED = {  # field: the reference's number, in T5 pieces
    "overshoot_limit": 50,
    "reorder_min_tokens": 512,
    "next_input_tokens": 512,
    "next_target_tokens": 256,
    "mask_min_tokens": 512,
    "mask_window": 512,
    "mask_span_min": 100,
    "mask_span_max": 255,
}
_STEP_COMMON = {
    "step_sentences": 100,
    "sentence_length": 10,
    "sentence_length_tolerance": 5,
    "mask_token_share": 0.8,
    "mask_random_share": 0.1,
    "train_examples": 100_000,
}
_STEP_WORD_VALUES = {**_STEP_COMMON, **_PIECE_SIZED}
"""The reference's numbers read as word tokens (the ``*_words`` presets; pptrain before 0.4)."""
_STEP_VALUES = {**_STEP_COMMON, **{k: tokens_for_pieces(v) for k, v in _PIECE_SIZED.items()}}
"""The reference's piece budgets converted to word tokens: 512 -> 155, 256 -> 77, 100 -> 30,
255 -> 77, 50 -> 15 at 3.314 pieces per token (``pieces_per_token(10)``)."""
_PIECE_NOTE = (
    f"T5 pieces converted to word tokens at {pieces_per_token():.3f} pieces per token "
    f"({T5_PIECES_PER_WORD} per pseudo-word, {T5_PIECES_PER_FULL_STOP} per full stop, "
    "estimated from the reference's T5 piece list)"
)
_REF_SOURCE = {
    "overshoot_limit": "steptasks.py Modifier.__next__: reject if num_toks > required_tokens + 50",
    "reorder_min_tokens": "SentenceReordering(required_tokens=512)",
    "next_input_tokens": "NextSentenceGeneration: in_length = 512",
    "next_target_tokens": "NextSentenceGeneration: out_length = 256",
    "mask_min_tokens": "MaskedDocumentGeneration(required_tokens=512)",
    "mask_window": "MaskedDocumentGeneration: start = randint(512 - masked_len + 1)",
    "mask_span_min": "MaskedDocumentGeneration: masked_len = randint(100, 256)",
    "mask_span_max": "MaskedDocumentGeneration: masked_len = randint(100, 256)",
}
_STEP_COMMON_PROV = {
    "step_sentences": _p(_V, "steptasks.py Modifier: get_para(mean_numsents=100), numsent_tolerance=0"),
    "sentence_length": _p(_V, "steptasks.py: get_para(mean_sentlen=10)"),
    "sentence_length_tolerance": _p(_V, "steptasks.py: BaseGenerator(sentlen_tolerance=5)"),
    "mask_token_share": _p(_V, "MaskedDocumentGeneration: per token, u < 0.8 -> <extra_id_0>"),
    "mask_random_share": _p(_V, "MaskedDocumentGeneration: per token, 0.8 <= u < 0.9 -> random vocabulary word"),
    "train_examples": _p(_V, "steptasks.py: TRAIN_SIZE = 100000 (VAL 5000, TEST 5000)"),
}
_STEP_WORD_PROV = {
    **_STEP_COMMON_PROV,
    **{k: _p(_A, f"{src}; {_WORD_NOTE}") for k, src in _REF_SOURCE.items()},
}
_STEP_PROV = {
    **_STEP_COMMON_PROV,
    **{
        k: _p(_A, f"{src}: {_PIECE_SIZED[k]} pieces = {_STEP_VALUES[k]} tokens; {_PIECE_NOTE}")
        for k, src in _REF_SOURCE.items()
    },
}


def _piece_summary(task: str) -> str:
    if task == "sentence_reordering":
        return (
            "STEP sentence reordering (Zou et al. 2020) on nonsense: shuffled sentences -> the original order, "
            f"documents of >512 T5 pieces (>{_STEP_VALUES['reorder_min_tokens']} word tokens, ~15 sentences)."
        )
    if task == "next_sentence":
        return (
            "STEP next-sentence generation (Zou et al. 2020) on nonsense: first 512 T5 pieces -> next 256 "
            f"({_STEP_VALUES['next_input_tokens']} -> {_STEP_VALUES['next_target_tokens']} word tokens)."
        )
    return (
        "STEP masked document generation (Zou et al. 2020) on nonsense: a 100-255-piece span in the first 512 "
        f"({_STEP_VALUES['mask_span_min']}-{_STEP_VALUES['mask_span_max']} of {_STEP_VALUES['mask_window']} word "
        "tokens) masked 80/10/10 -> the whole original document."
    )


_STEP_WORD_SUMMARY = {
    "sentence_reordering": "STEP sentence reordering on nonsense with the reference's piece budgets read as word "
    "tokens: documents of >512 words and full stops (~47 sentences, ~3.2x the paper's).",
    "next_sentence": "STEP next-sentence generation on nonsense, budgets read as word tokens: first 512 tokens -> "
    "next 256 (~3.3x the paper's text).",
    "masked_document": "STEP masked document generation on nonsense, budgets read as word tokens: a 100-255-token "
    "span in the first 512 masked 80/10/10 (~3.3x the paper's text).",
}


def _step(task: str, words: bool = False) -> Preset:
    suffix = "_words" if words else ""
    return Preset(
        name=f"paper_step_{task}{suffix}",
        summary=_STEP_WORD_SUMMARY[task] if words else _piece_summary(task),
        values={"tasks": (task,), **(_STEP_WORD_VALUES if words else _STEP_VALUES)},
        provenance={
            "tasks": _p(_V, f"steptasks.py: one dataset per STEP task ({task})"),
            **(_STEP_WORD_PROV if words else _STEP_PROV),
        },
        source=_STEP_SOURCE,
    )


def _step_mixture(words: bool = False) -> Preset:
    return Preset(
        name="paper_step_mixture" + ("_words" if words else ""),
        summary="The three STEP tasks (Zou et al. 2020) on nonsense, one drawn uniformly per example"
        + (", budgets read as word tokens (~3.3x the paper's text)." if words else ", at the paper's piece budgets."),
        values={"tasks": STEP_TASKS, **(_STEP_WORD_VALUES if words else _STEP_VALUES)},
        provenance={
            "tasks": _p(
                _A, "steptasks.py writes one dataset per STEP task and the paper pretrains on each; mixing is ours"
            ),
            **(_STEP_WORD_PROV if words else _STEP_PROV),
        },
        source=_STEP_SOURCE,
    )


_CLASS = {s[0]: s[2] for s in SUBTASKS}


def _single(name: str) -> Preset:
    return Preset(
        name=f"ourtasks_{name}",
        summary=f"OurTasks sub-task {SUBTASK_ID[name]} ({name}) alone: one sub-task per nonsense document.",
        values={"tasks": ("ourtasks",), "subtasks": (name,), "tasks_per_document": 1, **_DOC_VALUES},
        provenance={
            "tasks": _p(_V, "ourtasks.py: the composite task's documents and outputs"),
            "subtasks": _p(_V, f"ourtasks.py: class {_CLASS[name]} (id {SUBTASK_ID[name]})"),
            "tasks_per_document": _p(
                _A,
                "the released data applies 3 sub-tasks per document; one alone is how the code comments say "
                "sub-tasks were tried in isolation ('could not be learnt even in isolation by t5')",
            ),
            **{k: v for k, v in _DOC_PROV.items() if k != "train_examples"},
        },
        source=_SOURCE,
    )


PRESETS: tuple[Preset, ...] = (
    Preset(
        name="paper_ourtasks",
        summary="Krishna et al.'s OurTasks on nonsense: 10+-3 sentences of 10+-5 pseudo-words, 3 of the 16 "
        "sub-tasks per document, their outputs concatenated as the summary.",
        values={
            "tasks": ("ourtasks",),
            "subtasks": SUBTASK_NAMES,
            "tasks_per_document": 3,
            **_DOC_VALUES,
            "train_examples": 100_000,
        },
        provenance={
            "tasks": _p(_V, "ourtasks.py __main__: composite_task_name = 'ourtasks-nonsense'"),
            "subtasks": _p(_V, "ourtasks.py __main__: the 16 classes of _classes (d1, d2, d9, d15, d17 excluded)"),
            "tasks_per_document": _p(_V, "ourtasks.py __main__: NUM_TRANSFORMS = 3, drawn without replacement"),
            **_DOC_PROV,
        },
        source=_SOURCE,
    ),
    *(_step(t) for t in STEP_TASKS),
    _step_mixture(),
    *(_step(t, words=True) for t in STEP_TASKS),
    _step_mixture(words=True),
    *(_single(n) for n in SUBTASK_NAMES),
    Preset(
        name="smoke",
        summary="OurTasks and the three STEP tasks mixed, with small STEP budgets (48/32+16/48 tokens), for tests.",
        values={
            "tasks": FAMILIES,
            "step_sentences": 20,
            "reorder_min_tokens": 48,
            "next_input_tokens": 32,
            "next_target_tokens": 16,
            "mask_min_tokens": 48,
            "mask_window": 32,
            "mask_span_min": 4,
            "mask_span_max": 12,
        },
        provenance={
            "tasks": _p(_A, "all four tasks of the reference; mixing is ours"),
            "step_sentences": _p("ours", "short STEP documents for tests"),
            "reorder_min_tokens": _p("ours", "small budget for tests"),
            "next_input_tokens": _p("ours", "small budget for tests"),
            "next_target_tokens": _p("ours", "small budget for tests"),
            "mask_min_tokens": _p("ours", "small budget for tests"),
            "mask_window": _p("ours", "small budget for tests"),
            "mask_span_min": _p("ours", "small budget for tests"),
            "mask_span_max": _p("ours", "small budget for tests"),
        },
        source=Source(note="our sizes on the reference's samplers"),
    ),
)

SUMMARIZATION = TaskSpec(
    name="summarization",
    summary="Nonsense-document summarization (Krishna et al. 2021 OurTasks, STEP tasks of Zou et al. 2020), "
    "loss on the summary.",
    config_cls=SummarizationConfig,
    factory="pptrain_summarization.generate:SummarizationTask",
    citation=CITATION,
    presets=PRESETS,
    default_preset="paper_ourtasks",
)
