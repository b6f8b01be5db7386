"""Specs for the simpler synthetic tasks: vocabulary layout, config, presets, provenance.

Imported at discovery time (``pptrain list-tasks``), so it imports only attrs and the
core's spec and config helpers; the generators live in
:mod:`pptrain_simpler_tasks.generate` and are named by a lazy factory string.

Source (read, never copied): Wu, Li, Liang, "Insights into Pre-training via Simpler
Synthetic Tasks", NeurIPS 2022, arXiv 2206.10139; official code
``felixzli/synthetic_pretraining@58a6e0b``: ``simpler_tasks_data_gen/tasks_with_tokens.py``
(samplers and task functions), ``simpler_tasks_data_gen/generate.py`` (token pool,
dedup), ``run_scripts_to_reproduce_experiments/data_scripts/generate_simpler_tasks_data.sh``
(the 18 tasks, length range 10,220, 1,050,000 examples -> 1,000,000 train / 10,000
valid), ``simpler_tasks_data_gen/data_scripts/copy_ablations/**`` (copy ablations) and
``simpler_tasks_data_gen/data_scripts/1M_1_23_unary``, ``1M_1_25_binary`` (the task groups).
"""

from __future__ import annotations

import attrs

from pptrain_core.config import FieldValueError, at_least, in_range, one_of
from pptrain_core.specs import Preset, Provenance, Source, TaskSpec

PAPER = "Wu, Li, Liang 2022 (NeurIPS), arXiv 2206.10139"
REPO = "felixzli/synthetic_pretraining@58a6e0b"
CITATION = "Wu, Li, Liang. Insights into Pre-training via Simpler Synthetic Tasks. NeurIPS 2022. arXiv:2206.10139."

# --------------------------------------------------------------------------- tasks

#: The paper's 18 tasks, in the order of ``generate_simpler_tasks_data.sh``'s family
#: listing regrouped unary-then-binary. The paper calls ``copy`` "identity" and
#: ``first_char``/``last_char`` "first/last token".
UNARY_TASKS: tuple[str, ...] = (
    "copy",
    "reverse",
    "first_char",
    "last_char",
    "length",
    "duplicate",
    "set",
    "deduplicate",
    "longest_word",
)
BINARY_TASKS: tuple[str, ...] = (
    "search",
    "delete",
    "count",
    "sort",
    "replace",
    "union",
    "intersect",
    "set_1_minus_2",
    "set_2_minus_1",
)
TASK_NAMES: tuple[str, ...] = UNARY_TASKS + BINARY_TASKS
SET_OPERATIONS: tuple[str, ...] = ("union", "intersect", "set_1_minus_2", "set_2_minus_1")

# --------------------------------------------------------------------------- vocabulary layout
# Fixed ids, the same in every preset and for every ``vocab_size`` and task mix, so one
# model vocabulary serves any combination of tasks and presets. Symbols come last.

PAD = 0
END = 1
SEP = 2
"""Between the input and the output (decoder-only serialisation; the reference is encoder-decoder)."""
WORD = 3
"""Word divider of ``longest_word`` (the reference's ``<extra_id_1>``)."""
ARG = 4
"""Between the two arguments of a binary task (the reference's ``<extra_id_2>``)."""
EMPTY = 5
"""The whole output when the answer is empty (the reference's ``<extra_id_3>``)."""
YES = 6
NO = 7
DIGIT0 = 8
"""Digits ``0..9`` are ids ``8..17``: the decimal output of ``length`` and ``count`` when
``numbers="digits"`` (with the default ``numbers="tokens"`` every number has its own id, see
:func:`number_base`)."""
TASK0 = 32
"""Task-name tokens: ``TASK0 + TASK_NAMES.index(name)``; ids up to 63 are reserved for more tasks."""
SYMBOL0 = 64
"""Symbol ``s`` (``0 <= s < vocab_size``) is id ``SYMBOL0 + s``."""
NUMBER_MODES: tuple[str, ...] = ("tokens", "digits")
"""How ``length`` and ``count`` write their answer: one id per number, or decimal digits."""

SPECIAL_NAMES: dict[int, str] = {
    PAD: "<pad>",
    END: "<end>",
    SEP: "<sep>",
    WORD: "<w>",
    ARG: "<arg>",
    EMPTY: "<empty>",
    YES: "yes",
    NO: "no",
    **{DIGIT0 + d: str(d) for d in range(10)},
    **{TASK0 + i: f"[{name}]" for i, name in enumerate(TASK_NAMES)},
}


def task_token(name: str) -> int:
    """The fixed id of a task-name token."""
    return TASK0 + TASK_NAMES.index(name)


def number_base(vocab_size: int) -> int:
    """Id of the number ``0`` under ``numbers="tokens"``: number ``n`` is ``number_base + n``.

    The number ids come after the symbols (``0 .. max_length``, one id each), so every
    other id keeps its place whatever the number range.
    """
    return SYMBOL0 + vocab_size


# --------------------------------------------------------------------------- config


def _check_tasks(instance, attribute, value) -> None:
    if not value:
        raise FieldValueError(attribute.name, "must name at least one task")
    unknown = [t for t in value if t not in TASK_NAMES]
    if unknown:
        raise FieldValueError(attribute.name, f"unknown task {unknown[0]!r}; choose from {', '.join(TASK_NAMES)}")
    if len(set(value)) != len(value):
        raise FieldValueError(attribute.name, "names a task twice; a mixture draws each listed task uniformly")


@attrs.frozen
class SimplerTasksConfig:
    """The simpler synthetic tasks; a mixture draws one listed task uniformly per example.

    Each example is ``[task] input <sep> output <end>`` with loss on ``output <end>``.
    ``min_length``/``max_length`` bound the *input* (arguments plus the ``<arg>``
    divider, the task token excluded), as the reference's ``length_range``; candidates
    outside the bound are drawn again. Symbols are ids ``64 .. 64+vocab_size-1``.
    """

    tasks: tuple[str, ...] = attrs.field(default=TASK_NAMES, converter=tuple, validator=_check_tasks)
    """Task names to mix; one is drawn uniformly per example."""
    vocab_size: int = attrs.field(default=31_998, validator=at_least(2))
    """Number of symbol ids (the reference samples T5 ids 2..31,999: 31,998 pieces)."""
    min_length: int = attrs.field(default=10, validator=at_least(1))
    """Shortest input, in tokens (reference: 10)."""
    max_length: int = attrs.field(default=220, validator=at_least(1))
    """Longest input, in tokens (reference: 220)."""
    search_positive_share: float = attrs.field(default=0.5, validator=in_range(0.0, 1.0))
    """Probability that a ``search`` draw takes the query-present branch (reference: 0.5)."""
    delete_positive_share: float = attrs.field(default=0.75, validator=in_range(0.0, 1.0))
    """Probability that a ``delete`` draw takes the query-present branch (reference: 0.75)."""
    numbers: str = attrs.field(default="tokens", validator=one_of(*NUMBER_MODES))
    """How ``length`` and ``count`` answer: ``tokens`` (default) gives each number
    ``0..max_length`` its own id after the symbols, so the answer is one token, as the
    reference's T5 pieces nearly always are (1.11 and 1.02 tokens per answer);
    ``digits`` writes decimal digits (ids 8..17): 2.56 and 2.03 tokens per answer at 10-220."""
    budget_per_task: int = attrs.field(default=1_000_000, validator=at_least(1))
    """Documentation only: training examples per task in the paper's datasets (1,000,000).
    The dataset itself is virtual; a run's length is set by its budget."""

    def __attrs_post_init__(self) -> None:
        if self.min_length > self.max_length:
            raise FieldValueError(
                "min_length", f"must not exceed max_length ({self.max_length}), got {self.min_length}"
            )
        needs = {"count": 3, "replace": 4, "union": 3, "intersect": 3, "set_1_minus_2": 3, "set_2_minus_1": 3}
        needs.update({"search": 4, "delete": 4, "sort": 2})
        for task in self.tasks:
            if task in needs and self.min_length < needs[task]:
                raise FieldValueError(
                    "min_length", f"must be at least {needs[task]} for task {task!r}, got {self.min_length}"
                )
        if "longest_word" in self.tasks and self.max_length < 2:
            raise FieldValueError("max_length", "must be at least 2 for task 'longest_word'")
        if "sort" in self.tasks and self.min_length // 2 > (self.max_length - 1) // 2:
            raise FieldValueError(
                "max_length", f"must exceed min_length ({self.min_length}) when it is even, for task 'sort'"
            )
        if set(self.tasks) & set(SET_OPERATIONS) and self.vocab_size < (self.max_length - 1) // 2:
            raise FieldValueError(
                "vocab_size",
                f"must be at least (max_length-1)//2 = {(self.max_length - 1) // 2} for the set operations "
                f"(their shared pool holds that many distinct symbols), got {self.vocab_size}",
            )


# --------------------------------------------------------------------------- presets

_V = "verified"
_A = "approximate"


def _p(status: str, note: str = "") -> Provenance:
    return Provenance(status, note)  # type: ignore[arg-type]


_COMMON_PROV = {
    "vocab_size": _p(
        _V,
        "tasks_with_tokens.py T5_TOKEN_IDS_FOR_TASKS: ids 0..31,999 (the 32,100-piece seqio vocabulary "
        "minus its 100 extra ids) minus pad 0 and eos 1 = ids 2..31,999, 31,998 pieces; "
        "ours are 31,998 plain symbol ids",
    ),
    "numbers": _p(
        _A,
        "the reference writes length/count answers as T5 pieces of the decimal (1.11/1.02 pieces per "
        "answer, measured in issue #15); ours give each number 0..max_length one id (exactly 1)",
    ),
    "min_length": _p(_V, "generate_simpler_tasks_data.sh: length_range=10,220"),
    "max_length": _p(_V, "generate_simpler_tasks_data.sh: length_range=10,220"),
    "budget_per_task": _p(_V, "1,050,000 generated, deduplicated by input, split 1,000,000 train / 10,000 valid"),
}
_SHARES_PROV = {
    "search_positive_share": _p(_V, "tasks_with_tokens.py generate_search_data: query-present branch when u > 0.5"),
    "delete_positive_share": _p(_V, "tasks_with_tokens.py generate_delete_data: query-present branch when u > 0.25"),
}
_PAPER_VALUES = {
    "vocab_size": 31_998,
    "numbers": "tokens",
    "min_length": 10,
    "max_length": 220,
    "budget_per_task": 1_000_000,
}
_SHARES = {"search_positive_share": 0.5, "delete_positive_share": 0.75}
_SOURCE = Source(paper=PAPER, repo=REPO, note="simpler_tasks_data_gen/tasks_with_tokens.py, generate.py")

_PAPER_ALIAS = {"copy": "identity", "first_char": "first token", "last_char": "last token"}


def _single(task: str) -> Preset:
    alias = f" (the paper's '{_PAPER_ALIAS[task]}')" if task in _PAPER_ALIAS else ""
    values = {"tasks": (task,), **_PAPER_VALUES}
    prov = {"tasks": _p(_V, "one of the 18 tasks of generate_simpler_tasks_data.sh"), **_COMMON_PROV}
    if task in ("search", "delete"):
        values.update(_SHARES)
        prov.update(_SHARES_PROV)
    return Preset(
        name=f"paper_{task}",
        summary=f"Wu et al.'s single-task '{task}'{alias} data: inputs of 10-220 tokens, 1M-example budget.",
        values=values,
        provenance=prov,
        source=_SOURCE,
    )


def _group(name: str, tasks: tuple[str, ...], summary: str, note: str) -> Preset:
    return Preset(
        name=name,
        summary=summary,
        values={"tasks": tasks, **_PAPER_VALUES, **_SHARES},
        provenance={"tasks": _p(_A, note), **_COMMON_PROV, **_SHARES_PROV},
        source=_SOURCE,
    )


def _copy_ablation(name: str, length: int, vocab: int, what: str, script: str) -> Preset:
    vocab_note = (
        _p(_V, f"{script}: --num_tokens {vocab} (a random sample of T5 ids; ours are ids 0..{vocab - 1})")
        if vocab != 31_998
        else _COMMON_PROV["vocab_size"]
    )
    generated = 1_100_000 if vocab == 2 else 1_020_000  # copy_ablate_vocab/2.sh: num_examples=1100000
    return Preset(
        name=name,
        summary=f"Wu et al.'s copy ablation: {what}.",
        values={
            "tasks": ("copy",),
            "vocab_size": vocab,
            "min_length": length,
            "max_length": length,
            "budget_per_task": 1_000_000,
        },
        provenance={
            "tasks": _p(_V, f"{script}: tasks=(copy)"),
            "vocab_size": vocab_note,
            "min_length": _p(_V, f"{script}: length_range={length},{length}"),
            "max_length": _p(_V, f"{script}: length_range={length},{length}"),
            "budget_per_task": _p(_V, f"{script}: {generated:,} generated, split 1,000,000 / 10,000"),
        },
        source=Source(paper=PAPER, repo=REPO, note=script),
    )


_ABL = "simpler_tasks_data_gen/data_scripts/copy_ablations"

PRESETS: tuple[Preset, ...] = (
    *(_single(t) for t in TASK_NAMES),
    _group(
        "paper_unary_core",
        UNARY_TASKS,
        "The 9 unary tasks mixed uniformly per example (inputs 10-220 tokens).",
        "the unary tasks of the repo's unary data scripts (data_scripts/1M_1_23_unary); the paper "
        "pretrains one task at a time, uniform per-example mixing is ours",
    ),
    _group(
        "paper_binary",
        BINARY_TASKS,
        "The 9 binary tasks of the 18 mixed uniformly per example (inputs 10-220 tokens).",
        "data_scripts/1M_1_25_binary minus filter/get_index/replace_many (not among the paper's 18); "
        "uniform per-example mixing is ours",
    ),
    _group(
        "paper_all18",
        TASK_NAMES,
        "All 18 tasks of the paper mixed uniformly per example (inputs 10-220 tokens).",
        "the 18 tasks of generate_simpler_tasks_data.sh; the paper pretrains one task at a time, "
        "uniform per-example mixing is ours",
    ),
    _copy_ablation("copy_length_28", 28, 31_998, "inputs of exactly 28 tokens", f"{_ABL}/copy_ablate_length/28.sh"),
    _copy_ablation("copy_length_252", 252, 31_998, "inputs of exactly 252 tokens", f"{_ABL}/copy_ablate_length/252.sh"),
    _copy_ablation(
        "copy_length_1020", 1020, 31_998, "inputs of exactly 1,020 tokens", f"{_ABL}/copy_ablate_length/1020.sh"
    ),
    *(
        _copy_ablation(
            f"copy_vocab_{v}", 252, v, f"{v} symbols, inputs of exactly 252 tokens", f"{_ABL}/copy_ablate_vocab/{v}.sh"
        )
        for v in (2, 10, 1000, 10000)
    ),
    Preset(
        name="smoke",
        summary="All 18 tasks on 50 symbols with inputs of 10-40 tokens, for tests and smoke runs.",
        values={"tasks": TASK_NAMES, "vocab_size": 50, "min_length": 10, "max_length": 40},
        provenance={
            "tasks": _p(_V, "the 18 tasks"),
            "vocab_size": _p("ours", "tiny for tests"),
            "min_length": _p(_V, "the reference's lower bound"),
            "max_length": _p("ours", "short for tests"),
        },
        source=Source(note="our sizes on the reference's samplers"),
    ),
)

SIMPLER_TASKS = TaskSpec(
    name="simpler_tasks",
    summary="Wu et al. 2022's 18 simpler synthetic tasks (copy, set, sort, union, ...), loss on the answer.",
    config_cls=SimplerTasksConfig,
    factory="pptrain_simpler_tasks.generate:SimplerTasksTask",
    citation=CITATION,
    presets=PRESETS,
    default_preset="paper_set",
)
