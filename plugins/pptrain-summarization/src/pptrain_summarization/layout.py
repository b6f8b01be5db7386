"""The fixed word-level vocabulary of the summarization family (plain Python, no numpy).

Ids are the same for every preset and task mix, so one model vocabulary serves any
combination of OurTasks sub-tasks and STEP tasks:

* ``0..15``: ``<pad>``, ``<end>``, ``<sep>``, ``.``, ``<extra_id_0>`` (STEP's mask), reserved;
* ``16..31``: the family tokens ``[ourtasks]``, ``[sentence_reordering]``,
  ``[next_sentence]``, ``[masked_document]``, reserved;
* ``32..63``: the words of the fixed output phrases (``keyword``, ``was``, ``positive`` ...).
  ``the`` is not among them: it is one of the 5,000 pseudo-words (index 2,905), and the
  reference writes both as the same word, so the phrases use that pseudo-word's id;
* ``64..163``: the numbers ``0``..``99`` as written in outputs;
* ``256..634``: the 379 keywords of the 16 sub-tasks, ``__d{id}__{kw}__`` as the reference
  names them, each sub-task's keywords contiguous, in :data:`SUBTASKS` order;
* ``1024..6023``: the 5,000 three-letter pseudo-words, in the reference's enumeration order.

Source (read, never copied): ``acmi-lab/pretraining-with-nonsense@ec2698f``,
``pretraining_datasetgen/{vocab,base,ourtasks,steptasks}.py``.
"""

from __future__ import annotations

import math

PAD, END, SEP, DOT, MASK = 0, 1, 2, 3, 4
FAMILY0 = 16
PHRASE0 = 32
NUM0 = 64
KEYWORD0 = 256
WORD0 = 1024
N_WORDS = 5000
"""``RandomVocab(5000)``: the reference's vocabulary size."""
SIZE = WORD0 + N_WORDS

FAMILIES: tuple[str, ...] = ("ourtasks", "sentence_reordering", "next_sentence", "masked_document")
STEP_TASKS: tuple[str, ...] = FAMILIES[1:]


def family_token(name: str) -> int:
    return FAMILY0 + FAMILIES.index(name)


# --------------------------------------------------------------------------- pseudo-words


def pseudo_word(k: int, n_words: int = N_WORDS) -> str:
    """The ``k``-th pseudo-word: base 26 over ``a..z``, least-significant letter first."""
    slots = math.ceil(math.log(n_words) / math.log(26))
    out = []
    for _ in range(slots):
        out.append(chr(97 + k % 26))
        k //= 26
    return "".join(out)


WORDS: tuple[str, ...] = tuple(pseudo_word(k) for k in range(N_WORDS))
_WORD_INDEX = {w: i for i, w in enumerate(WORDS)}

# --------------------------------------------------------------------------- output phrases

PHRASES: dict[str, tuple[str, ...]] = {
    "positive": ("the", "keyword", "was", "positive", "."),
    "negative": ("the", "keyword", "was", "negative", "."),
    "majority": ("the", "keyword", "{k}", "occurred", "more", "number", "of", "times", "."),
    "above": ("the", "number", "was", "above", "or", "equal", "to", "threshold", "."),
    "below": ("the", "number", "was", "below", "threshold", "."),
    "largest": ("the", "largest", "number", "is", "{n}", "."),
    "combined": ("the", "combined", "sentence", "is"),
    "section": ("section",),
}
"""The reference's output strings, lower-cased as its dataset reader does (``lowercase_tokens``)."""

_phrase_words: list[str] = []
for _words in PHRASES.values():
    for _w in _words:
        if _w not in _phrase_words and _w != "." and not _w.startswith("{") and _w not in _WORD_INDEX:
            _phrase_words.append(_w)
PHRASE_WORDS: tuple[str, ...] = tuple(_phrase_words)
assert len(PHRASE_WORDS) <= NUM0 - PHRASE0


def word_id(word: str) -> int:
    """The id of a phrase word (or of a pseudo-word, or ``.``)."""
    if word == ".":
        return DOT
    if word in _WORD_INDEX:
        return WORD0 + _WORD_INDEX[word]
    return PHRASE0 + PHRASE_WORDS.index(word)


def number_id(n: int) -> int:
    return NUM0 + n


# --------------------------------------------------------------------------- sub-tasks and keywords

#: (our name, the reference's id, the reference's class) for the 16 sub-tasks used, in its order.
SUBTASKS: tuple[tuple[str, str, str], ...] = (
    ("copy_keyword_one", "d3", "CopyKeywordOneSentence"),
    ("copy_keyword_multiple", "d4", "CopyKeywordMultipleSentences"),
    ("copy_keyword_shuffled", "d5", "CopyKeywordMultipleSentencesShuffled"),
    ("copy_keyword_sorted", "d6", "CopyKeywordMultipleSentencesSorted"),
    ("copy_quoted", "d7", "CopyQuoted"),
    ("copy_bulleted", "d8", "CopyBulleted"),
    ("classify_keyword", "d10", "ClassifyKeyword"),
    ("replace_class_keyword", "d11", "ReplaceClassKeyword"),
    ("majority_keyword", "d12", "MajorityKeyword"),
    ("topic_segregation", "d13", "TopicSegregation"),
    ("threshold_number", "d14", "ThresholdNumber"),
    ("largest_number", "d16", "LargestNumber"),
    ("paraphrase_words", "d18", "ParaphraseWords"),
    ("join_clauses", "d19", "JoinClauses"),
    ("break_clauses", "d20", "BreakClauses"),
    ("truncate_sentence", "d21", "TruncateSentence"),
)
SUBTASK_NAMES: tuple[str, ...] = tuple(s[0] for s in SUBTASKS)
SUBTASK_ID: dict[str, str] = {s[0]: s[1] for s in SUBTASKS}


def _raw_keywords(name: str) -> list[str]:
    """A sub-task's keywords before uniquifying, in the reference's order."""
    if name in ("copy_keyword_one", "copy_keyword_multiple", "copy_keyword_shuffled", "copy_keyword_sorted"):
        return [f"keyword_{i}" for i in range(10)]
    if name in ("classify_keyword", "truncate_sentence"):
        return [f"keyword_{i}" for i in range(10)]
    if name == "copy_quoted":
        return ["begin_quote", "end_quote"]
    if name == "copy_bulleted":
        return ["bullet"]
    if name in ("replace_class_keyword", "topic_segregation"):
        # 3 classes x 3 keywords, then the 3 class tokens written in outputs
        return [f"class_{c}_kw_{k}" for c in range(3) for k in range(3)] + [f"class_{c}" for c in range(3)]
    if name == "majority_keyword":
        return ["keyword_1", "keyword_2"]
    if name in ("threshold_number", "largest_number"):
        return [str(n) for n in range(100)]
    if name == "paraphrase_words":
        out = []
        for s in range(20):
            out.append(f"src_{s}")
            out.extend(f"target_{s}_{v}" for v in range(3))
        return out
    if name in ("join_clauses", "break_clauses"):
        return [f"join_{i}" for i in range(5)]
    raise KeyError(name)


KEYWORD_NAMES: list[str] = []
KEYWORD_START: dict[str, int] = {}
for _name in SUBTASK_NAMES:
    KEYWORD_START[_name] = KEYWORD0 + len(KEYWORD_NAMES)
    KEYWORD_NAMES.extend(f"__{SUBTASK_ID[_name]}__{kw}__" for kw in _raw_keywords(_name))
assert KEYWORD0 + len(KEYWORD_NAMES) <= WORD0


def keyword_id(name: str, raw: str) -> int:
    """The id of sub-task ``name``'s keyword ``raw`` (e.g. ``keyword_3``, ``begin_quote``, ``42``)."""
    return KEYWORD0 + KEYWORD_NAMES.index(f"__{SUBTASK_ID[name]}__{raw}__")


# --------------------------------------------------------------------------- names

_SPECIALS = {PAD: "<pad>", END: "<end>", SEP: "<sep>", DOT: ".", MASK: "<extra_id_0>"}


def build_names() -> tuple[str, ...]:
    """Display names of all :data:`SIZE` ids (unique, no whitespace)."""
    names = [f"<reserved_{i}>" for i in range(SIZE)]
    for i, n in _SPECIALS.items():
        names[i] = n
    for i, fam in enumerate(FAMILIES):
        names[FAMILY0 + i] = f"[{fam}]"
    for i, w in enumerate(PHRASE_WORDS):
        names[PHRASE0 + i] = w
    for n in range(100):
        names[NUM0 + n] = str(n)
    for i, kw in enumerate(KEYWORD_NAMES):
        names[KEYWORD0 + i] = kw
    for i, w in enumerate(WORDS):
        names[WORD0 + i] = w
    return tuple(names)
