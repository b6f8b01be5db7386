"""summarization: every summary recomputed independently, document shapes, STEP targets, presets, config.

The checker below reads an example through the vocabulary's display names only (the
words the reference would write: ``aaa``, ``.``, ``__d3__keyword_7__`` ...) and recomputes
each sub-task's output with plain string operations, following the task definitions of
``acmi-lab/pretraining-with-nonsense@ec2698f`` ``pretraining_datasetgen/ourtasks.py``;
it never calls the generator's internals. Expected ranges and shares are the reference's
numbers (10+-3 sentences, 10+-5 words, spans of 100..255 in the first 512, 80/10/10).
"""

from __future__ import annotations

import itertools
import re
from collections import Counter

import numpy as np
import pytest

from pptrain_core.config import structure
from pptrain_core.data import VirtualDataset, example_at
from pptrain_core.errors import ConfigError
from pptrain_core.testing.checks import parametrize_with_task_checks
from pptrain_summarization.specs import SUMMARIZATION, SummarizationConfig

# the reference's ids of the 16 sub-tasks used, and our names for them
REF_IDS = {
    "d3": "copy_keyword_one",
    "d4": "copy_keyword_multiple",
    "d5": "copy_keyword_shuffled",
    "d6": "copy_keyword_sorted",
    "d7": "copy_quoted",
    "d8": "copy_bulleted",
    "d10": "classify_keyword",
    "d11": "replace_class_keyword",
    "d12": "majority_keyword",
    "d13": "topic_segregation",
    "d14": "threshold_number",
    "d16": "largest_number",
    "d18": "paraphrase_words",
    "d19": "join_clauses",
    "d20": "break_clauses",
    "d21": "truncate_sentence",
}
KEYWORD = re.compile(r"^__(d\d+)__(.+)__$")
BEGIN, END_Q, BULLET = "__d7__begin_quote__", "__d7__end_quote__", "__d8__bullet__"
FAMILY_NAMES = {"[ourtasks]", "[sentence_reordering]", "[next_sentence]", "[masked_document]"}


def build(preset: str, **overrides):
    values = {**SUMMARIZATION.preset(preset).values, **overrides}
    return SUMMARIZATION.build(structure(values, SummarizationConfig))


def ref_word(k: int) -> str:
    """The reference's RandomVocab(5000) enumeration: 3 letters, least significant first."""
    return "".join(chr(97 + (k // 26**j) % 26) for j in range(3))


PSEUDO = {ref_word(k) for k in range(5000)}

# --------------------------------------------------------------------------- independent checker


def decode(task, ex):
    """(family token name, document words, summary words) from the names of the tokens."""
    words = [task.vocab.name(t) for t in ex.tokens.tolist()]
    assert words[-1] == "<end>" and words.count("<sep>") == 1 and words.count("<end>") == 1
    sep = words.index("<sep>")
    return words[0], words[1:sep], words[sep + 1 : -1]


def split_lines(doc):
    """Sentences: each ends at '.', or at an end quote right after its '.'."""
    lines, cur = [], []
    for i, w in enumerate(doc):
        cur.append(w)
        nxt = doc[i + 1] if i + 1 < len(doc) else None
        if (w == "." and nxt != END_Q) or (w == END_Q and len(cur) > 1 and cur[-2] == "."):
            lines.append(cur)
            cur = []
    assert not cur, "the document does not end with a sentence"
    return lines


def kws_of(line, ref_id):
    return [w for w in line if (m := KEYWORD.match(w)) and m.group(1) == ref_id]


def raw(kw):
    return KEYWORD.match(kw).group(2)


def with_kw(lines, ref_id):
    return [(i, line, kws_of(line, ref_id)) for i, line in enumerate(lines) if kws_of(line, ref_id)]


def expected_outputs(ref_id, lines):
    """Every output the sub-task may give for this modified document (one, except d5 and d18)."""
    found = with_kw(lines, ref_id)
    assert found, f"{ref_id}: no keyword in the document"
    per_line = [k for _, _, k in found]
    if ref_id in ("d3", "d10", "d11", "d14", "d18", "d21", "d8"):
        assert len(found) == 1 and len(per_line[0]) == 1, f"{ref_id}: expected one keyword in one sentence"
    if ref_id in ("d4", "d5", "d6", "d19"):
        assert len(found) == 3 and all(len(k) == 1 for k in per_line), f"{ref_id}: expected 3 sentences"
    line = found[0][1]
    kw = per_line[0][0]
    if ref_id in ("d3", "d4"):
        return [sum((ln for _, ln, _ in found), [])]
    if ref_id == "d5":
        return [sum(p, []) for p in itertools.permutations([ln for _, ln, _ in found])]
    if ref_id == "d6":
        assert len({k[0] for k in per_line}) == 3, "d6: keywords not distinct"
        order = sorted(found, key=lambda f: f[2][0])
        return [sum((ln for _, ln, _ in order), [])]
    if ref_id == "d7":
        assert len(found) == 1 and line.count(BEGIN) == 1 and line.count(END_Q) == 1
        inner = line[line.index(BEGIN) + 1 : line.index(END_Q)]
        assert inner, "d7: empty quote"
        return [inner if inner[-1] == "." else inner + ["."]]
    if ref_id == "d8":
        assert line[0] == BULLET
        return [line[1:]]
    if ref_id == "d10":
        index = int(raw(kw).split("_")[1])
        return [f"the keyword was {'positive' if index < 5 else 'negative'} .".split()]
    if ref_id == "d11":
        cls = raw(kw).split("_kw_")[0]
        return [[f"__d11__{cls}__" if w == kw else w for w in line]]
    if ref_id == "d12":
        counts = Counter(k[0] for k in per_line)
        assert len(found) in (3, 5) and all(len(k) == 1 for k in per_line)
        top = max(counts, key=counts.get)
        return [f"the keyword {raw(top).split('_')[1]} occurred more number of times .".split()]
    if ref_id == "d13":
        assert 2 <= len(found) <= 5 and all(len(k) == 1 for k in per_line)
        out = []
        for c in range(3):
            out += ["section", f"__d13__class_{c}__"]
            for _, ln, k in found:
                if raw(k[0]).startswith(f"class_{c}_"):
                    out += ln
        return [out]
    if ref_id == "d14":
        n = int(raw(kw))
        text = "the number was above or equal to threshold ." if n >= 50 else "the number was below threshold ."
        return [text.split()]
    if ref_id == "d16":
        numbers = [int(raw(k[0])) for k in per_line]
        assert 1 <= len(found) <= 4 and all(len(k) == 1 for k in per_line) and len(set(numbers)) == len(numbers)
        return [f"the largest number is {max(numbers)} .".split()]
    if ref_id == "d18":
        src = raw(kw)
        assert src.startswith("src_"), f"d18: planted {kw}, not a source word"
        s = src.split("_")[1]
        return [[f"__d18__target_{s}_{v}__" if w == kw else w for w in line] for v in range(3)]
    if ref_id == "d19":
        assert len({k[0] for k in per_line}) == 3
        out = "the combined sentence is".split()
        for _, ln, k in found:
            out += ln[ln.index(k[0]) : len(ln) - 1]
        return [out + ["."]]
    if ref_id == "d20":
        assert len(found) == 1 and len(per_line[0]) == 2 and len(set(per_line[0])) == 2
        a, b = sorted(line.index(k) for k in per_line[0])
        prefix = line[:a]
        return [prefix + line[a:b] + ["."] + prefix + line[b : len(line) - 1] + ["."]]
    if ref_id == "d21":
        return [line[: line.index(kw)] + ["."]]
    raise AssertionError(ref_id)


def check_ourtasks(task, ex, per_doc=3):
    """Recompute the summary; returns (sub-task names in order, sentences)."""
    head, doc, summary = decode(task, ex)
    assert head == "[ourtasks]"
    lines = split_lines(doc)
    ids_in_doc = {m.group(1) for w in doc if (m := KEYWORD.match(w))}
    assert ids_in_doc <= set(REF_IDS), f"unknown keyword ids {ids_in_doc - set(REF_IDS)}"
    order = list(ex.meta["subtasks"])
    assert len(order) == per_doc and len(set(order)) == per_doc, "sub-tasks not distinct"
    assert {REF_IDS[i] for i in ids_in_doc} == set(order), "the document's keywords name other sub-tasks"
    inverse = {v: k for k, v in REF_IDS.items()}
    candidates = [expected_outputs(inverse[name], lines) for name in order]
    options = [sum(combo, []) for combo in itertools.product(*candidates)]
    assert summary in options, f"summary of {order} not recomputed:\n{' '.join(summary)}"
    return order, lines


# --------------------------------------------------------------------------- conformance


@parametrize_with_task_checks([SUMMARIZATION], entry_point_module="pptrain_summarization.plugin")
def test_conformance(check):
    check()


# --------------------------------------------------------------------------- OurTasks


def test_ourtasks_summaries_recomputed_and_three_distinct_tasks():
    task = build("paper_ourtasks")
    seen: Counter[str] = Counter()
    positions: Counter[tuple[str, int]] = Counter()
    n = 1200
    for i in range(n):
        order, _ = check_ourtasks(task, example_at(task, 1, "train", i))
        seen.update(order)
        positions.update((name, p) for p, name in enumerate(order))
    assert set(seen) == set(REF_IDS.values())
    for name in REF_IDS.values():  # 3 of 16 per document: share 3/16 = 0.1875 each
        assert abs(seen[name] / n - 3 / 16) < 0.05, (name, seen[name] / n)
        assert all(positions[(name, p)] > 20 for p in range(3)), f"{name} is not drawn in every position"


@pytest.mark.parametrize("name", sorted(REF_IDS.values()))
def test_each_subtask_alone(name):
    task = build(f"ourtasks_{name}")
    for i in range(60):
        order, _ = check_ourtasks(task, example_at(task, 2, "train", i), per_doc=1)
        assert order == [name]


def test_quote_never_comes_before_a_bullet():
    """One-sentence documents with d7 and d8: a bullet placed first keeps position 0 (the quote starts after it)."""
    task = build(
        "paper_ourtasks",
        subtasks=["copy_quoted", "copy_bulleted"],
        tasks_per_document=2,
        num_sentences=1,
        num_sentences_tolerance=0,
    )
    quote_at_start = 0
    for i in range(400):
        ex = example_at(task, 12, "train", i)
        order, lines = check_ourtasks(task, ex, per_doc=2)
        (line,) = lines
        if order == ["copy_bulleted", "copy_quoted"]:
            assert line[0] == BULLET and line.index(BEGIN) >= 1
        else:
            quote_at_start += line.index(BEGIN) == 1
    assert quote_at_start > 0, "a quote that runs first never started at the first word"


@pytest.mark.parametrize("name, choices", [("copy_keyword_shuffled", 6), ("paraphrase_words", 3)])
def test_random_outputs_are_uniform(name, choices):
    task = build(f"ourtasks_{name}")
    inverse = {v: k for k, v in REF_IDS.items()}
    which = Counter()
    n = 600
    for i in range(n):
        _, doc, summary = decode(task, example_at(task, 13, "train", i))
        options = expected_outputs(inverse[name], split_lines(doc))
        assert len(options) == choices
        which[options.index(summary)] += 1
    assert len(which) == choices and all(abs(c / n - 1 / choices) < 0.06 for c in which.values()), which


def test_cramped_sentences_still_recompute():
    """Two-word sentences: sub-tasks often find no free word, the document is redrawn, outputs stay right."""
    task = build("paper_ourtasks", sentence_length=2, sentence_length_tolerance=0)
    redraws = 0
    for i in range(300):
        ex = example_at(task, 3, "train", i)
        check_ourtasks(task, ex)
        redraws += ex.meta["redraws"]
    assert redraws > 0, "the redraw path was never taken"


def test_document_shape():
    task = build("paper_ourtasks")
    n_sent, n_words = Counter(), Counter()
    for i in range(800):
        ex = example_at(task, 4, "eval", i)
        _, lines = check_ourtasks(task, ex)
        n_sent[len(lines)] += 1
        for line in lines:
            # words of the base sentence: everything but '.', quotes and the bullet (inserted, not replacing)
            n_words[sum(1 for w in line if w not in (".", BEGIN, END_Q, BULLET))] += 1
            assert all(w in PSEUDO or KEYWORD.match(w) or w == "." for w in line)
    assert min(n_sent) == 7 and max(n_sent) == 13
    assert min(n_words) == 5 and max(n_words) == 15


def test_keywords_unique_and_as_the_reference_names_them():
    vocab = build("smoke").vocab
    names = [vocab.name(i) for i in range(vocab.size)]
    assert len(set(names)) == len(names), "display names collide"
    kws = [n for n in names if KEYWORD.match(n)]
    by_id: dict[str, set[str]] = {}
    for k in kws:
        by_id.setdefault(KEYWORD.match(k).group(1), set()).add(raw(k))
    expected = {
        "d3": {f"keyword_{i}" for i in range(10)},
        "d7": {"begin_quote", "end_quote"},
        "d8": {"bullet"},
        "d11": {f"class_{c}_kw_{k}" for c in range(3) for k in range(3)} | {f"class_{c}" for c in range(3)},
        "d12": {"keyword_1", "keyword_2"},
        "d14": {str(n) for n in range(100)},
        "d18": {f"src_{s}" for s in range(20)} | {f"target_{s}_{v}" for s in range(20) for v in range(3)},
        "d19": {f"join_{i}" for i in range(5)},
    }
    expected.update({d: expected["d3"] for d in ("d4", "d5", "d6", "d10", "d21")})
    expected.update({"d13": expected["d11"], "d16": expected["d14"], "d20": expected["d19"]})
    assert by_id == expected
    # each keyword belongs to exactly one sub-task, so no sub-task can plant or read another's
    assert len(kws) == sum(len(v) for v in expected.values()) == 379


def test_pseudo_word_vocabulary():
    vocab = build("paper_ourtasks").vocab
    ids = {vocab.name(i): i for i in range(vocab.size)}
    order = [ids[ref_word(k)] for k in range(5000)]
    assert ref_word(0) == "aaa" and ref_word(1) == "baa" and ref_word(26) == "aba"
    assert len(set(order)) == 5000 and order == sorted(order), "pseudo-words not in the reference's order"
    task = build("paper_ourtasks")
    used = set()
    for i in range(200):
        _, doc, _ = decode(task, example_at(task, 0, "train", i))
        used |= {w for w in doc if not KEYWORD.match(w) and w != "."}
    assert used <= PSEUDO and len(used) > 1500


# --------------------------------------------------------------------------- STEP


def sentences(words):
    out, cur = [], []
    for w in words:
        cur.append(w)
        if w == ".":
            out.append(cur)
            cur = []
    return out, cur


def test_sentence_reordering_restores_the_original():
    task = build("paper_step_sentence_reordering_words")
    for i in range(40):
        head, source, target = decode(task, example_at(task, 5, "train", i))
        assert head == "[sentence_reordering]"
        tgt, rest = sentences(target)
        src, rest2 = sentences(source)
        assert not rest and not rest2
        assert sorted(map(tuple, src)) == sorted(map(tuple, tgt)), "input is not a permutation of the sentences"
        position = {tuple(s): j for j, s in enumerate(tgt)}
        assert len(position) == len(tgt), "repeated sentence"
        assert sum(sorted(src, key=lambda s: position[tuple(s)]), []) == target
        assert src != tgt, "not shuffled"
        # the shortest prefix of more than 512 tokens, overshooting by at most 50
        assert 512 < len(target) <= 562 and len(target) - len(tgt[-1]) <= 512
        assert all(6 <= len(s) <= 16 and set(s[:-1]) <= PSEUDO for s in tgt)


def test_next_sentence_is_a_contiguous_prefix():
    task = build("paper_step_next_sentence_words")
    for i in range(40):
        head, prompt, target = decode(task, example_at(task, 6, "train", i))
        assert head == "[next_sentence]" and len(prompt) == 512 and len(target) == 256
        whole, tail = sentences(prompt + target)
        assert all(6 <= len(s) <= 16 for s in whole) and len(tail) <= 15
        assert set(w for w in prompt + target if w != ".") <= PSEUDO
        assert prompt[0] != "."


def test_masked_document_span_and_shares():
    task = build("paper_step_masked_document_words")
    masked = randomised = total = 0
    starts, lengths = [], []
    for i in range(300):
        ex = example_at(task, 7, "train", i)
        head, source, target = decode(task, ex)
        assert head == "[masked_document]" and len(source) == len(target)
        assert 512 < len(target) <= 562
        assert "<extra_id_0>" not in target
        diff = [j for j, (a, b) in enumerate(zip(source, target, strict=True)) if a != b]
        s, m = ex.meta["span_start"], ex.meta["span_length"]
        assert 100 <= m <= 255 and 0 <= s and s + m <= 512
        assert diff and s <= diff[0] and diff[-1] < s + m, "input differs outside the span"
        assert diff[-1] - diff[0] < 255 and diff[-1] < 512
        span = source[s : s + m]
        masked += span.count("<extra_id_0>")
        randomised += sum(1 for a, b in zip(span, target[s : s + m], strict=True) if a != b and a != "<extra_id_0>")
        assert all(w == "<extra_id_0>" or w in PSEUDO or w == "." for w in span)
        total += m
        starts.append(s)
        lengths.append(m)
    assert abs(masked / total - 0.8) < 0.01
    assert abs(randomised / total - 0.1 * (1 - 1 / 5000)) < 0.01
    assert abs(1 - (masked + randomised) / total - 0.1) < 0.01
    assert min(lengths) < 110 and max(lengths) > 245 and min(starts) < 20 and max(starts) > 250


# --------------------------------------------------------------------------- STEP budgets in T5 pieces

# The reference counts STEP lengths in T5 SentencePiece pieces of the lower-cased text. Pieces
# per pseudo-word, from the T5 piece list the reference ships
# (dataset_root/pretrained_t5_vocabulary/tokens.txt), fewest-pieces segmentation of "▁" + word
# (the list has no lower-case "▁x" piece): {pieces: how many of the 5,000 pseudo-words}.
T5_PIECES_HISTOGRAM = {1: 129, 2: 757, 3: 874, 4: 3240}
WORD_PIECES = sum(k * n for k, n in T5_PIECES_HISTOGRAM.items()) / 5000
DOT_PIECES = 2  # " ." is "▁" then "." (no "▁." piece)


def est_pieces(words) -> float:
    """Expected T5 pieces of a run of our tokens (pseudo-words and full stops)."""
    return sum(DOT_PIECES if w == "." else WORD_PIECES for w in words)


def reference_documents(budget: int, n: int = 4000):
    """Monte Carlo of the reference's STEP cut, in pieces: sentences of 10+U{-5..5} words, each word
    drawn piece count, plus the full stop; keep sentences until the count passes ``budget``; redraw a
    document overshooting by more than 50. Returns (mean pieces, mean sentences)."""
    rng = np.random.default_rng(0)
    sizes = np.array(list(T5_PIECES_HISTOGRAM))
    probs = np.array(list(T5_PIECES_HISTOGRAM.values())) / 5000
    pieces, sents = [], []
    while len(pieces) < n:
        lens = rng.integers(5, 16, size=100)
        per = np.array([rng.choice(sizes, size=k, p=probs).sum() + DOT_PIECES for k in lens])
        cs = np.cumsum(per)
        last = int((cs <= budget).sum())
        if cs[last] > budget + 50:
            continue
        pieces.append(cs[last])
        sents.append(last + 1)
    return float(np.mean(pieces)), float(np.mean(sents))


def test_pieces_per_pseudo_word_matches_the_preset_conversion():
    from pptrain_summarization.specs import T5_PIECES_PER_WORD

    assert abs(WORD_PIECES - T5_PIECES_PER_WORD) < 0.005


@pytest.mark.parametrize("preset", ["paper_step_sentence_reordering", "paper_step_masked_document"])
def test_step_documents_match_the_papers_512_pieces(preset):
    """Documents of the paper_step_* presets are as long in (estimated) T5 pieces as the reference's."""
    ref_pieces, ref_sents = reference_documents(512, n=1500)
    task = build(preset)
    ours, sents = [], []
    for i in range(400):
        _, _, target = decode(task, example_at(task, 11, "train", i))
        ours.append(est_pieces(target))
        sents.append(target.count("."))
    assert abs(np.mean(ours) / ref_pieces - 1) < 0.03, (np.mean(ours), ref_pieces)
    assert abs(np.mean(sents) - ref_sents) < 0.6, (np.mean(sents), ref_sents)
    assert 12 < ref_sents < 18  # the paper's documents: ~15 sentences, not ~47


def test_step_next_sentence_is_512_then_256_pieces():
    task = build("paper_step_next_sentence")
    prompts, targets = [], []
    for i in range(400):
        _, prompt, target = decode(task, example_at(task, 12, "train", i))
        prompts.append(est_pieces(prompt))
        targets.append(est_pieces(target))
    assert abs(np.mean(prompts) / 512 - 1) < 0.03, np.mean(prompts)
    assert abs(np.mean(targets) / 256 - 1) < 0.03, np.mean(targets)


def test_step_masked_span_is_100_to_255_pieces_in_the_first_512():
    task = build("paper_step_masked_document")
    spans, ends = [], []
    for i in range(400):
        ex = example_at(task, 13, "train", i)
        _, _, target = decode(task, ex)
        s, m = ex.meta["span_start"], ex.meta["span_length"]
        spans.append(est_pieces(target[s : s + m]))
        ends.append(est_pieces(target[: s + m]))
    # reference: masked_len = U{100..255} pieces (mean 177.5) ending inside the first 512 pieces
    assert abs(np.mean(spans) / 177.5 - 1) < 0.05, np.mean(spans)
    assert 90 < np.percentile(spans, 2) and np.percentile(spans, 98) < 275
    assert np.percentile(ends, 99) < 512 * 1.06


def test_word_presets_keep_the_old_budgets_and_are_3x_longer():
    """The pre-0.4 word-read budgets survive as *_words presets; they hold ~3x the paper's text."""
    ref_pieces, _ = reference_documents(512, n=500)
    task = build("paper_step_sentence_reordering_words")
    lengths = [len(decode(task, example_at(task, 14, "train", i))[2]) for i in range(50)]
    assert all(512 < n <= 562 for n in lengths)
    ours = np.mean([est_pieces(decode(task, example_at(task, 14, "train", i))[2]) for i in range(50)])
    assert 2.8 < ours / ref_pieces < 3.6


def test_smoke_budgets_follow_the_config():
    task = build("smoke", tasks=["next_sentence", "sentence_reordering"])
    for i in range(64):
        head, source, target = decode(task, example_at(task, 8, "train", i))
        if head == "[next_sentence]":
            assert (len(source), len(target)) == (32, 16)
        else:
            assert 48 < len(target) and sorted(source) == sorted(target)


def test_step_overshoot_redraws():
    """With overshoot_limit 1 a document must end exactly 1 token past the budget, or be drawn again."""
    task = build("smoke", tasks=["sentence_reordering"], overshoot_limit=1)
    redraws = 0
    for i in range(64):
        ex = example_at(task, 14, "train", i)
        _, _, target = decode(task, ex)
        assert len(target) == 49
        redraws += ex.meta["redraws"]
    assert redraws > 0


# --------------------------------------------------------------------------- loss, presets, config


@pytest.mark.parametrize("preset", [p.name for p in SUMMARIZATION.presets if not p.name.startswith("ourtasks_")])
def test_loss_mask_exactly_on_summary_and_end(preset):
    task = build(preset)
    for i in range(8):
        ex = example_at(task, 9, "train", i)
        toks = ex.tokens.tolist()
        sep = toks.index(task.vocab.sep_id)
        expected = np.zeros(len(toks), dtype=np.int8)
        expected[sep + 1 :] = 1
        assert np.array_equal(ex.loss_mask, expected)
        assert task.vocab.name(toks[0]) in FAMILY_NAMES and toks[-1] == task.vocab.eos_id


def test_mixture_draws_every_task():
    task = build("smoke")
    heads = Counter(decode(task, ex)[0] for ex in VirtualDataset(task, seed=0, split="train", length=400))
    assert set(heads) == FAMILY_NAMES and min(heads.values()) > 60


def test_block_boundaries_do_not_change_examples():
    task = build("smoke")
    ds = VirtualDataset(task, seed=11, split="train", length=200)
    seq = [ds[i] for i in range(100)]
    fresh = build("smoke")
    assert [example_at(fresh, 11, "train", i) for i in (99, 33, 32, 31, 0)] == [seq[i] for i in (99, 33, 32, 31, 0)]


@pytest.mark.parametrize(
    "values, field",
    [
        ({"tasks": ["ourtask"]}, "tasks"),
        ({"tasks": []}, "tasks"),
        ({"subtasks": ["copy_first_sentence"]}, "subtasks"),
        ({"subtasks": ["copy_quoted", "copy_quoted"]}, "subtasks"),
        ({"tasks_per_document": 0}, "tasks_per_document"),
        ({"subtasks": ["copy_quoted", "copy_bulleted"], "tasks_per_document": 3}, "tasks_per_document"),
        ({"num_sentences": 4}, "num_sentences"),
        ({"sentence_length": 1, "sentence_length_tolerance": 0}, "sentence_length"),
        ({"tasks": ["masked_document"], "mask_span_max": 600}, "mask_span_max"),
        ({"tasks": ["masked_document"], "mask_span_min": 300}, "mask_span_min"),
        ({"tasks": ["masked_document"], "mask_window": 600}, "mask_window"),
        ({"mask_token_share": 0.95}, "mask_random_share"),
        ({"mask_token_share": 1.5}, "mask_token_share"),
        ({"tasks": ["next_sentence"], "step_sentences": 40}, "step_sentences"),
        ({"tasks_per_document": "3"}, "tasks_per_document"),
        ({"vocab_size": 10}, "vocab_size"),
    ],
)
def test_bad_config_names_the_field(values, field):
    with pytest.raises(ConfigError) as err:
        structure(values, SummarizationConfig, "$.task.params")
    message = str(err.value)
    assert f"$.task.params.{field}" in message and "\n" not in message.strip()


def test_stats_report_lengths_mix_and_shares():
    stats = build("smoke").stats(sample=160, seed=0)
    assert set(stats["task_mix"]) == {"ourtasks", "sentence_reordering", "next_sentence", "masked_document"}
    assert abs(sum(stats["task_mix"].values()) - 1) < 1e-9
    assert abs(sum(stats["subtask_share"].values()) - 3) < 1e-9
    assert stats["distinct_subtasks_per_document"] == {"3": 1.0}
    assert stats["summary_length"]["min"] >= 1 and stats["document_length"]["max"] > 48
    assert abs(sum(stats["mask_shares"].values()) - 1) < 1e-9
