"""pptrain 0.3.0's preset names, each mapped to one of ours (or refused), with what differs.

0.3.0 presets carried a dataset size (``sequence_count``, ``eval_sequence_count``); an
alias keeps those sizes, so a run built from a 0.3.0 preset cycles over as many distinct
examples as 0.3.0 materialised. The data itself is ours: the paper's generator, with the
departures named in ``differs`` (also in docs/migrating-from-0.3.md).
"""

from __future__ import annotations

from typing import Any

import attrs


@attrs.frozen
class Alias:
    """A 0.3.0 preset name that resolves to ``target`` (``TASK:PRESET``) plus ``params``."""

    target: str
    differs: str
    params: dict[str, Any] = attrs.Factory(dict)
    sequence_count: int | None = None
    eval_sequence_count: int | None = None


@attrs.frozen
class Refused:
    """A 0.3.0 preset with no honest counterpart here: one sentence saying why and what to use."""

    reason: str


_DYCK = (
    "0.3.0 drew a random number of bracket pairs with closing probability 0.45 and a depth cap (sequences up to "
    "2,048 tokens); ours is Jiang et al.'s generator: exactly 2,048 tokens, p_open 0.5"
)
_PROC = (
    "0.3.0 wrote character text ('{p}:abc=>cba') and this preset crashed there (its examples did not fit its own "
    "max_length); ours is Jiang et al.'s token layout with the loss on the answer only"
)
_SIMPLER = (
    "0.3.0 used a 52-letter alphabet and put the loss on the prompt too; ours draws from 32,000 symbols as Wu et al. "
    "do, with the loss on the answer only"
)
_LIME = (
    "0.3.0 drew letters from fixed alphabets and truncated the rule; ours follows the official generator "
    "(fresh symbols from 1,000, the full rule) with the loss on the target only"
)
_SUMM = (
    "0.3.0's version of this task was much simpler (one operation per example, loss on the prompt too); ours follows "
    "Krishna et al.'s code, with the loss on the summary only"
)
_STEP = (
    "0.3.0 credited STEP to 'Nath et al. 2021' and used 40-72 short sentences; ours follows Zou et al. 2020 on "
    "nonsense documents with the paper's token budgets, loss on the target only"
)
_NCA = (
    "0.3.0 pre-shifted the labels (the model learned to predict two tokens ahead), used an inclusive band check and "
    "28 frames; ours predicts the next token, with the paper's frames and band"
)


def _dyck() -> dict[str, Alias | Refused]:
    out: dict[str, Alias | Refused] = {}
    for k in (8, 16, 32, 64):
        extra = "" if k == 64 else f"; k={k} is not one of Jiang et al.'s settings (they use 64), so it is an override"
        out[f"paper_k{k}"] = Alias(
            "dyck:paper_k64",
            _DYCK + extra,
            params={} if k == 64 else {"k": k},
            sequence_count=16_032,
            eval_sequence_count=1_024,
        )
    out["smoke"] = Alias("dyck:smoke", "0.3.0's smoke was k=8 with 8-48 pairs; ours is k=4, 32 tokens", {}, 128, 32)
    return out


def _procedural() -> dict[str, Alias | Refused]:
    out: dict[str, Alias | Refused] = {}
    for program in ("identity", "reverse", "sort", "set", "union", "delete"):
        for length in (16, 32, 64):
            ours = f"paper_{program}_len64" if length == 64 else f"{program}_len{length}"
            text = _PROC.format(p=program)
            if program == "set" and length == 64:
                text = text.replace(" and this preset crashed there (its examples did not fit its own max_length)", "")
            if length != 64:
                text += f"; length {length} is ours (the paper's configs use 64)"
            out[f"paper_{program}_len{length}"] = Alias(f"procedural:{ours}", text, {}, 160_064, 4_096)
    out["smoke"] = Alias(
        "procedural:smoke",
        "0.3.0's smoke mixed copy, reverse and sort as character text; ours mixes all nine programs at length 8",
        {},
        128,
        32,
    )
    return out


_SIMPLER_SINGLE = {
    "copy": "paper_copy",
    "identity": "paper_copy",
    "first_token": "paper_first_char",
    "last_token": "paper_last_char",
    **{
        t: f"paper_{t}"
        for t in (
            "reverse length duplicate set deduplicate search delete count sort replace union intersect "
            "set_1_minus_2 set_2_minus_1"
        ).split()
    },
}
_NOT_WU = ("filter", "get_index", "replace_many")


def _simpler() -> dict[str, Alias | Refused]:
    out: dict[str, Alias | Refused] = {}
    for legacy, ours in _SIMPLER_SINGLE.items():
        for size, count in (("100k", 100_000), ("1m", 1_000_000)):
            out[f"paper_{legacy}_{size}"] = Alias(f"simpler_tasks:{ours}", _SIMPLER, {}, count, 10_000)
    for task in _NOT_WU:
        out[f"paper_{task}_100k"] = Refused(
            f"0.3.0's '{task}' is not one of Wu et al.'s 18 tasks and has no counterpart here; "
            "use a paper task such as simpler_tasks:paper_search or paper_delete."
        )
    for size, count in (("100k", 100_000), ("1m", 1_000_000)):
        out[f"paper_unary_core_{size}"] = Alias(
            "simpler_tasks:paper_unary_core",
            _SIMPLER + "; ours mixes the paper's 9 unary tasks (0.3.0 mixed 8, without longest_word)",
            {},
            count,
            10_000,
        )
    out["paper_binary_1m"] = Alias(
        "simpler_tasks:paper_binary",
        _SIMPLER + "; ours mixes the paper's 9 binary tasks (0.3.0 mixed 12, adding filter, get_index and "
        "replace_many, which are not in the paper)",
        {},
        1_000_000,
        10_000,
    )
    out["paper_set_ops_1m"] = Alias(
        "simpler_tasks:paper_binary",
        _SIMPLER + "; the same five tasks as 0.3.0 (search and the four set operations), set as an override",
        {"tasks": ["search", "union", "intersect", "set_1_minus_2", "set_2_minus_1"]},
        1_000_000,
        10_000,
    )
    out["smoke"] = Alias(
        "simpler_tasks:smoke",
        "0.3.0's smoke mixed 5 tasks on 4-24 letters; ours mixes all 18 on 10-40 of 50 symbols",
        {},
        128,
        32,
    )
    return out


def _lime() -> dict[str, Alias | Refused]:
    out: dict[str, Alias | Refused] = {
        "paper_benchmark_100k": Alias("lime:paper_mixed_100k", _LIME, {}, 100_000, 10_000),
        "paper_benchmark_1m": Alias("lime:paper_mixed_1m", _LIME, {}, 1_000_000, 10_000),
        "paper_mixed_5m": Alias("lime:paper_mixed_5m", _LIME, {}, 5_000_000, 1_000),
        "smoke": Alias("lime:smoke", "0.3.0's smoke used its own alphabets; ours is LIME on 100 symbols", {}, 128, 32),
    }
    for mode in ("induct", "deduct", "abduct"):
        for size, count in (("100k", 100_000), ("1m", 1_000_000)):
            out[f"paper_individual_{size}_{mode}"] = Alias(
                f"lime:paper_{mode}", _LIME, {"num_examples": count}, count, 10_000
            )
    return out


_SUMM_SINGLE = {
    "copy_bulleted": "ourtasks_copy_bulleted",
    "copy_quoted": "ourtasks_copy_quoted",
    "truncate_sentence": "ourtasks_truncate_sentence",
    "copy_keyword_sentence": "ourtasks_copy_keyword_one",
    "copy_keyword_multiple_in_order": "ourtasks_copy_keyword_multiple",
    "copy_keyword_multiple_shuffled": "ourtasks_copy_keyword_shuffled",
    "copy_keyword_multiple_sorted": "ourtasks_copy_keyword_sorted",
}


def _summarization() -> dict[str, Alias | Refused]:
    out: dict[str, Alias | Refused] = {
        f"paper_{legacy}_100k": Alias(f"summarization:{ours}", _SUMM, {}, 100_000, 5_000)
        for legacy, ours in _SUMM_SINGLE.items()
    }
    for legacy, ours in (
        ("sentence_reordering", "paper_step_sentence_reordering"),
        ("next_sentence", "paper_step_next_sentence"),
        ("masked_document", "paper_step_masked_document"),
        ("step_tasks", "paper_step_mixture"),
    ):
        out[f"paper_{legacy}_100k"] = Alias(f"summarization:{ours}", _STEP, {}, 100_000, 5_000)
    for which in ("first", "last"):
        out[f"paper_copy_{which}_sentence_100k"] = Refused(
            f"0.3.0's copy_{which}_sentence is not one of Krishna et al.'s sub-tasks and has no counterpart here; "
            "use summarization:ourtasks_copy_quoted or another ourtasks_* preset."
        )
    out["paper_nonsense_copy_ops_100k"] = Refused(
        "0.3.0's copy-operation mix includes copy_first_sentence and copy_last_sentence, which are not Krishna et "
        "al.'s sub-tasks; use summarization:paper_ourtasks with subtasks [copy_quoted, copy_bulleted, "
        "truncate_sentence]."
    )
    out["paper_nonsense_keyword_100k"] = Alias(
        "summarization:paper_ourtasks",
        _SUMM + "; the four keyword sub-tasks, three per document as in the paper (0.3.0: one per example)",
        {"subtasks": ["copy_keyword_one", "copy_keyword_multiple", "copy_keyword_sorted", "copy_keyword_shuffled"]},
        100_000,
        5_000,
    )
    out["paper_ourtasks_subset_100k"] = Alias(
        "summarization:paper_ourtasks",
        _SUMM + "; ours is the full OurTasks set (16 sub-tasks, 3 per document), not 0.3.0's 9-task subset",
        {},
        100_000,
        5_000,
    )
    out["smoke"] = Alias(
        "summarization:smoke", "0.3.0's smoke was its simplified tasks; ours mixes OurTasks and STEP", {}, 128, 32
    )
    return out


def _nca() -> dict[str, Alias | Refused]:
    return {
        "paper_web_text": Alias("nca:paper_web_text", _NCA, {}, 8_000_000, 200_000),
        "paper_code": Alias("nca:paper_code", _NCA, {}, 8_000_000, 200_000),
        "smoke": Alias("nca:smoke", "0.3.0's smoke was an 8x8 grid with 6 states; ours is 6x6 with 4", {}, 64, 16),
    }


#: family -> 0.3.0 preset name -> what it becomes here
LEGACY_PRESETS: dict[str, dict[str, Alias | Refused]] = {
    "dyck": _dyck(),
    "procedural": _procedural(),
    "simpler_tasks": _simpler(),
    "lime": _lime(),
    "summarization": _summarization(),
    "nca": _nca(),
}


def legacy_preset(family: str, name: str) -> Alias | Refused | None:
    """The mapping of 0.3.0 preset ``name`` of ``family``, or None when 0.3.0 had no such preset."""
    return LEGACY_PRESETS.get(family, {}).get(name)
