"""Tests for Ri & Tsuruoka's artificial languages.

The checkers here are plain Python written from the paper's and the official code's
description (families.md §2), not from the generator: they parse heads ``(t`` and
dependents ``t)`` from display names, and compare statistics with numbers derived by hand.
"""

from __future__ import annotations

import math
import pickle
from collections import Counter, defaultdict

import attrs
import numpy as np
import pytest

from pptrain_core.config import FieldValueError, structure
from pptrain_core.data import VirtualDataset, example_at
from pptrain_core.errors import ConfigError
from pptrain_core.testing import parametrize_with_task_checks
from pptrain_dyck.language_specs import (
    ARTIFICIAL_LANGUAGE,
    OFFICIAL_CONFIG_FILES,
    WIKIPEDIA_SENTENCE_LENGTH_COUNTS,
    ArtificialLanguageConfig,
)
from pptrain_dyck.languages import ArtificialLanguageTask, flat_order, nesting_order

# families.md §2.1, typed in again on purpose (not imported from the code under test)
HISTOGRAM = [
    0, 0, 0, 0, 0, 0, 303, 303, 342, 308, 275, 310, 337, 356, 340, 309, 321, 358, 319, 331,
    343, 310, 310, 350, 284, 284, 307, 252, 246, 255, 209, 207, 177, 168, 165, 128, 149, 133,
    109, 123, 102, 99, 81, 81, 73, 60, 61, 44, 43, 43, 52, 39, 26, 30, 29, 24, 34, 18, 8, 17, 15,
]  # fmt: skip


# --------------------------------------------------------------------------- helpers


def task_for(preset: str, **overrides) -> ArtificialLanguageTask:
    values = dict(ARTIFICIAL_LANGUAGE.preset(preset).values)
    values.update(overrides)
    return ArtificialLanguageTask(structure(values, ArtificialLanguageConfig))


def sentences(task: ArtificialLanguageTask, n: int, *, seed: int = 0, split: str = "train") -> list[list[str]]:
    """The first ``n`` sentences as display names, BOS and EOS stripped (checked here)."""
    ds = VirtualDataset(task, seed=seed, split=split, length=n)
    out = []
    for ex in ds:
        names = [task.vocab.name(t) for t in ex.tokens.tolist()]
        assert names[0] == "<bos>" and names[-1] == "<eos>"
        assert ex.loss_mask.tolist() == [0] + [1] * (len(ex) - 1)
        out.append(names[1:-1])
    return out


def parse_arcs(names: list[str]) -> list[tuple[int, int]]:
    """(head position, dependent position) per pair: ``t)`` closes the latest open ``(t``."""
    open_heads: dict[str, list[int]] = defaultdict(list)
    arcs = []
    for i, name in enumerate(names):
        if name.startswith("("):
            open_heads[name[1:]].append(i)
        elif name.endswith(")"):
            word = name[:-1]
            assert open_heads[word], f"dependent {name} at {i} has no open head in {names}"
            arcs.append((open_heads[word].pop(), i))
        else:
            raise AssertionError(f"{name!r} is neither a head nor a dependent")
    assert not any(open_heads.values()), f"heads left unclosed in {names}"
    return arcs


def properly_nested(names: list[str]) -> bool:
    """Every dependent closes the most recently opened head, which is its own word's."""
    stack = []
    for name in names:
        if name.startswith("("):
            stack.append(name[1:])
        elif not stack or stack.pop() != name[:-1]:
            return False
    return not stack


def has_crossing(arcs: list[tuple[int, int]]) -> bool:
    return any(a < c < b < d for a, b in arcs for c, d in arcs)


def cancels_to_empty(words: list[str]) -> bool:
    """Cancel adjacent equal symbols until none are left: true for nested same-token pairs."""
    stack = []
    for w in words:
        if stack and stack[-1] == w:
            stack.pop()
        else:
            stack.append(w)
    return not stack


def ks_distance(samples: list[int], probs: dict[int, float]) -> float:
    counts = Counter(samples)
    n = len(samples)
    emp = theory = worst = 0.0
    for value in sorted(set(probs) | set(counts)):
        emp += counts.get(value, 0) / n
        theory += probs.get(value, 0.0)
        worst = max(worst, abs(emp - theory))
    return worst


def signed_arcs(order: list[int]) -> list[tuple[int, int]]:
    head_at = {j: i for i, j in enumerate(order) if j >= 0}
    return [(head_at[-1 - j], i) for i, j in enumerate(order) if j < 0]


# --------------------------------------------------------------------------- config and presets


def test_the_eleven_official_configs_are_presets():
    names = {p.name for p in ARTIFICIAL_LANGUAGE.presets}
    assert set(OFFICIAL_CONFIG_FILES) <= names and len(OFFICIAL_CONFIG_FILES) == 11
    assert names - set(OFFICIAL_CONFIG_FILES) == {"smoke"}
    assert ARTIFICIAL_LANGUAGE.default_preset == "nesting_dep_log_linear"
    assert list(WIKIPEDIA_SENTENCE_LENGTH_COUNTS) == HISTOGRAM
    for name, official in OFFICIAL_CONFIG_FILES.items():
        preset = ARTIFICIAL_LANGUAGE.preset(name)
        assert preset.status() == "verified", name
        assert preset.source.repo == "Ryou0634/artificial_language@ecf0d22"
        assert official in preset.source.note and official in preset.summary
    assert ARTIFICIAL_LANGUAGE.preset("smoke").status() == "ours"


@pytest.mark.parametrize("preset", [p.name for p in ARTIFICIAL_LANGUAGE.presets])
def test_every_preset_builds_and_generates(preset):
    config = structure(dict(ARTIFICIAL_LANGUAGE.preset(preset).values), ArtificialLanguageConfig)
    task = ARTIFICIAL_LANGUAGE.build(config)
    sents = sentences(task, 70)  # crosses a block boundary
    assert all(len(s) >= 1 for s in sents)
    assert all(task.vocab.name(t) not in ("<pad>", "<bos>", "<eos>") for t in range(task.n_symbols))


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"distribution": "gauss"}, "distribution"),
        ({"structure": "tree"}, "structure"),
        ({"vocab_size": 1}, "vocab_size"),
        ({"open_prob": 1.5}, "open_prob"),
        ({"embedding_dim": 0}, "embedding_dim"),
        ({"temperature": 0.0}, "temperature"),
        ({"topic_block": 0}, "topic_block"),
        ({"sentence_length_counts": (3, 1, 1)}, "sentence_length_counts"),
        ({"sentence_length_counts": (0, -1, 2)}, "sentence_length_counts"),
        ({"sentence_length_counts": (0, 0, 0)}, "sentence_length_counts"),
        ({"structure": "none", "same_open_and_close_token": True}, "same_open_and_close_token"),
    ],
)
def test_bad_config_values_name_their_field(values, field):
    with pytest.raises(FieldValueError) as info:
        ArtificialLanguageConfig(**values)
    assert info.value.field == field
    with pytest.raises(ConfigError, match=rf"\$\.{field}"):
        structure(values, ArtificialLanguageConfig)


def test_vocabulary_sizes_and_names():
    for preset, n_symbols in [
        ("no_structure_zipf", 16000),
        ("nesting_dep_uniform", 16000),
        ("flat_dep_log_linear", 16000),
        ("nesting_paren_zipf", 8000),
        ("flat_paren_zipf", 8000),
    ]:
        task = task_for(preset)
        assert task.vocab.size == n_symbols + 3
        specials = {task.vocab.pad_id, task.vocab.bos_id, task.vocab.eos_id}
        assert specials == {n_symbols, n_symbols + 1, n_symbols + 2}
        assert task.vocab.name(task.vocab.pad_id) == "<pad>"
    dep = task_for("nesting_dep_zipf").vocab
    heads = {dep.name(i) for i in range(16000) if dep.name(i).startswith("(")}
    deps = {dep.name(i) for i in range(16000) if dep.name(i).endswith(")")}
    assert heads == {f"({t}" for t in range(8000)} and deps == {f"{t})" for t in range(8000)}
    assert task_for("no_structure_uniform").vocab.name(15999) == "15999"
    assert task_for("flat_paren_zipf").vocab.name(7999) == "7999"


# --------------------------------------------------------------------------- determinism


def test_examples_are_a_pure_function_of_seed_split_index():
    a, b = task_for("nesting_dep_log_linear"), task_for("nesting_dep_log_linear")
    for i in (0, 63, 64, 1000):
        assert example_at(a, 5, "train", i) == example_at(b, 5, "train", i)
    train = [example_at(a, 5, "train", i) for i in range(8)]
    assert train != [example_at(a, 5, "eval", i) for i in range(8)]
    assert train != [example_at(a, 6, "train", i) for i in range(8)]
    ds = VirtualDataset(a, seed=5, split="train", length=200)
    assert [ds[i] for i in (150, 3, 70)] == [example_at(b, 5, "train", i) for i in (150, 3, 70)]
    # generate() through the base-class entry point gives the same example
    assert a.generate(np.random.default_rng(0), seed=5, split="train", index=70) == ds[70]


def test_language_embedding_comes_from_the_seed_only():
    a, b = task_for("no_structure_log_linear"), task_for("no_structure_log_linear")
    assert np.array_equal(a.embeddings(3), b.embeddings(3))
    assert a.embeddings(3).shape == (16000, 10)
    assert not np.array_equal(a.embeddings(3), a.embeddings(4))


def test_train_and_eval_share_one_language():
    """Aggregated over many topics, high-norm words dominate: same for every split of a seed."""
    task = task_for("no_structure_log_linear", vocab_size=2000)

    def top_words(seed, split):
        counts = Counter(w for s in sentences(task, 64 * 60, seed=seed, split=split) for w in s)
        return {w for w, _ in counts.most_common(100)}

    train = top_words(0, "train")
    same_language = len(train & top_words(0, "eval"))
    other_language = len(train & top_words(1, "train"))
    assert same_language >= 25 and same_language > 4 * max(other_language, 1), (same_language, other_language)


def test_pickle_stays_small_after_generation():
    task = task_for("no_structure_log_linear")
    example_at(task, 0, "train", 0)  # caches the 16,000 x 10 embedding
    blob = pickle.dumps(task)
    assert len(blob) < 200_000
    assert example_at(pickle.loads(blob), 0, "train", 5) == example_at(task, 0, "train", 5)


# --------------------------------------------------------------------------- sentence lengths


def test_no_structure_lengths_follow_the_wikipedia_histogram():
    lengths = [len(s) for s in sentences(task_for("no_structure_uniform"), 4096)]
    assert min(lengths) >= 6 and max(lengths) <= 60
    total = sum(HISTOGRAM)
    probs = {length: c / total for length, c in enumerate(HISTOGRAM) if c}
    assert ks_distance(lengths, probs) < 1.95 / math.sqrt(len(lengths))
    assert abs(sum(lengths) / len(lengths) - sum(k * p for k, p in probs.items())) < 0.5


def test_dependency_lengths_follow_the_2h_rule():
    total = sum(HISTOGRAM)
    pair_probs: dict[int, float] = defaultdict(float)
    for length, c in enumerate(HISTOGRAM):
        for h in (length // 2, length // 2 + 1):
            pair_probs[max(h, 1)] += c / total / 2
    for preset in ("nesting_dep_zipf", "flat_dep_log_linear", "nesting_paren_zipf"):
        lengths = [len(s) for s in sentences(task_for(preset), 4096)]
        assert all(n % 2 == 0 for n in lengths)
        assert min(lengths) >= 6 and max(lengths) <= 62
        assert ks_distance([n // 2 for n in lengths], pair_probs) < 1.95 / math.sqrt(len(lengths)), preset


def test_one_word_sentences_still_make_one_pair():
    task = task_for("nesting_dep_uniform", sentence_length_counts=(0, 1))
    assert {len(s) for s in sentences(task, 128)} == {2}


# --------------------------------------------------------------------------- structures


def test_nesting_arcs_are_properly_nested():
    for preset in ("nesting_dep_zipf", "nesting_dep_log_linear", "nesting_dep_uniform"):
        for names in sentences(task_for(preset), 1000):
            assert properly_nested(names), names
            assert not has_crossing(parse_arcs(names))


def test_flat_arcs_cross_and_every_head_is_closed_by_its_dependent():
    sents = sentences(task_for("flat_dep_uniform"), 1000)
    crossing = [has_crossing(parse_arcs(names)) for names in sents]  # parse_arcs checks closure
    assert sum(crossing) / len(crossing) > 0.8
    assert sum(not properly_nested(s) for s in sents) / len(sents) > 0.8


def test_dependencies_are_shorter_when_nesting():
    def mean_arc_length(preset):
        arcs = [b - a for names in sentences(task_for(preset), 1000) for a, b in parse_arcs(names)]
        return sum(arcs) / len(arcs)

    nesting, flat = mean_arc_length("nesting_dep_uniform"), mean_arc_length("flat_dep_uniform")
    assert nesting < 0.75 * flat, (nesting, flat)


def test_parenthesis_variants_use_one_symbol_per_pair():
    nested = sentences(task_for("nesting_paren_zipf"), 1000)
    flat = sentences(task_for("flat_paren_zipf"), 1000)
    for s in nested + flat:
        assert all(c % 2 == 0 for c in Counter(s).values()), s
        assert all(not (w.startswith("(") or w.endswith(")")) for w in s)
    assert all(cancels_to_empty(s) for s in nested)
    assert sum(not cancels_to_empty(s) for s in flat) / len(flat) > 0.5


def test_two_pair_arrangements_have_the_described_probabilities():
    """Length-3 sentences give 1 or 2 pairs; the 2-pair orders follow from the rules by hand.

    Nesting (open_prob 0.4): (a (b b) a) with 0.4, (a a) (b b) with 0.6.
    Flat: open b with probability 1/2, then close both in random order:
    (a a) (b b) 1/2, crossing (a (b a) b) 1/4, nested (a (b b) a) 1/4.
    """
    n = 64 * 100
    expected = {
        "nesting_dep_uniform": {"sequential": 0.6, "nested": 0.4, "crossing": 0.0},
        "flat_dep_uniform": {"sequential": 0.5, "nested": 0.25, "crossing": 0.25},
    }
    for preset, probs in expected.items():
        sents = sentences(task_for(preset, sentence_length_counts=(0, 0, 0, 1)), n)
        assert {len(s) for s in sents} == {2, 4}
        two = [s for s in sents if len(s) == 4]
        assert abs(len(two) / n - 0.5) < 0.03
        kinds = Counter()
        for s in two:
            (a1, b1), (a2, b2) = sorted(parse_arcs(s))
            kinds["sequential" if b1 < a2 else "nested" if b2 < b1 else "crossing"] += 1
        for kind, p in probs.items():
            assert abs(kinds[kind] / len(two) - p) < 0.03, (preset, kind, kinds)


def test_order_builders_give_exact_arcs():
    rng = np.random.default_rng(0)
    depths, crossings = [], 0
    for _ in range(300):
        h = int(rng.integers(1, 30))
        nest = nesting_order(h, rng.random(2 * h).tolist(), 0.4)
        flat = flat_order(h, rng.random(2 * h).tolist(), rng.random(2 * h).tolist())
        for order in (nest, flat):
            assert sorted(order) == sorted(list(range(h)) + [-1 - j for j in range(h)])
            assert [j for j in order if j >= 0] == list(range(h))  # heads open in order
            assert all(a < b for a, b in signed_arcs(order))
        assert not has_crossing(signed_arcs(nest))
        crossings += has_crossing(signed_arcs(flat))
        depth = 0
        for j in nest:
            depth += 1 if j >= 0 else -1
            depths.append(depth)
    assert crossings > 200
    # p(close) = 0.6 > p(open) keeps nesting shallow
    assert sum(depths) / len(depths) < 3


# --------------------------------------------------------------------------- word distributions


def test_uniform_covers_the_vocabulary_evenly():
    words = [int(w) for s in sentences(task_for("no_structure_uniform"), 64 * 40) for w in s]
    assert 0 <= min(words) and max(words) <= 15999
    buckets = Counter(w // 1000 for w in words)
    for b in range(16):
        assert abs(buckets[b] / len(words) - 1 / 16) < 0.01, buckets


def test_zipf_frequencies_fall_like_one_over_rank():
    words = Counter(w for s in sentences(task_for("no_structure_zipf"), 64 * 64) for w in s)
    n = sum(words.values())
    harmonic = sum(16000 // r for r in range(1, 16001))
    assert abs(words["0"] / n - 16000 / harmonic) < 0.01
    for rank in (2, 3, 4, 10):
        ratio = words["0"] / words[str(rank - 1)]
        assert abs(ratio / rank - 1) < 0.15, (rank, ratio)
    assert [w for w, _ in words.most_common(3)] == ["0", "1", "2"]


def test_dependency_words_come_from_the_zipf_half_vocabulary():
    heads = Counter(w for s in sentences(task_for("nesting_dep_zipf"), 64 * 32) for w in s if w.startswith("("))
    n = sum(heads.values())
    harmonic = sum(8000 // r for r in range(1, 8001))
    assert abs(heads["(0"] / n - 8000 / harmonic) < 0.015
    assert max(int(w[1:]) for w in heads) < 8000


def _jaccard(a: list[str], b: list[str]) -> float:
    sa, sb = set(a), set(b)
    return len(sa & sb) / len(sa | sb)


def test_log_linear_sentences_share_a_topic_within_a_block():
    task = task_for("no_structure_log_linear")
    sents = sentences(task, 64 * 8)
    same = [_jaccard(sents[i], sents[i + 1]) for i in range(len(sents) - 1) if (i + 1) % 64]
    across = [_jaccard(sents[i], sents[i + 64]) for i in range(len(sents) - 64)]
    assert sum(same) / len(same) > 4 * sum(across) / len(across)

    redraw = sentences(task_for("no_structure_log_linear", topic_block=1), 64 * 2)
    adjacent = [_jaccard(redraw[i], redraw[i + 1]) for i in range(len(redraw) - 1)]
    assert sum(adjacent) / len(adjacent) < 1.5 * sum(across) / len(across)


def test_topic_blocks_smaller_than_a_generation_block():
    task = task_for("no_structure_log_linear", topic_block=16)
    assert task.block_size % 16 == 0
    sents = sentences(task, 64 * 4)
    same = [_jaccard(sents[i], sents[i + 1]) for i in range(len(sents) - 1) if (i + 1) % 16]
    across = [_jaccard(sents[i], sents[i + 1]) for i in range(15, len(sents) - 1, 16)]
    assert sum(same) / len(same) > 4 * sum(across) / len(across)


def test_config_round_trip_keeps_the_histogram():
    config = task_for("smoke").config
    assert attrs.evolve(config, sentence_length_counts=[0, 2, 1]).sentence_length_counts == (0, 2, 1)


# --------------------------------------------------------------------------- conformance


@parametrize_with_task_checks([ARTIFICIAL_LANGUAGE], entry_point_module="pptrain_dyck.plugin")
def test_conformance(check):
    check()
