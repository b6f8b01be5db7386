"""The procedural programs checked by an independent, plain-Python reference.

Every check below decodes an example with nothing but the documented layout, recomputes
the answer with obviously-correct Python (lists, loops, ``sorted``), and compares both
the tokens and the loss mask. Expected shares are derived by hand from the rules in
Jiang et al.'s code (see docs/tasks/procedural.md), never copied from our output.
"""

from __future__ import annotations

import json
import pickle
from collections import Counter

import attrs
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pptrain_core.config import structure, unstructure
from pptrain_core.data import example_at
from pptrain_core.errors import ConfigError
from pptrain_core.stats import task_stats
from pptrain_core.testing.checks import parametrize_with_task_checks
from pptrain_procedural.specs import (
    ALGORITHMIC,
    PROCEDURAL,
    PROGRAMS,
    LengthCurriculum,
    ProceduralConfig,
    curriculum_lengths,
)
from pptrain_procedural.task import ProceduralTask

# --------------------------------------------------------------------------- independent reference


def rule110(left, centre, right):
    """Rule 110's table, written out by hand (Wolfram's numbering: 110 = 0b01101110)."""
    table = {
        (1, 1, 1): 0,
        (1, 1, 0): 1,
        (1, 0, 1): 1,
        (1, 0, 0): 0,
        (0, 1, 1): 1,
        (0, 1, 0): 1,
        (0, 0, 1): 1,
        (0, 0, 0): 0,
    }
    return table[(left, centre, right)]


def unique_in_order(xs):
    out = []
    for x in xs:
        if x not in out:
            out.append(x)
    return out


def split_on(tokens, sep, count):
    """Cut ``tokens`` at its first ``count`` separators."""
    parts, cur = [], []
    for t in tokens:
        if t == sep and len(parts) < count:
            parts.append(cur)
            cur = []
        else:
            cur.append(t)
    parts.append(cur)
    return parts


def check_example(tokens, mask, program, n, v, eca_steps=1):
    """Recompute the example's output from its input and the expected mask; assert both.

    Returns a small dict of facts for distribution tests.
    """
    tokens = [int(t) for t in tokens]
    mask = [int(m) for m in mask]
    sep, pad = v, v + 1
    facts = {}
    assert len(tokens) == len(mask)
    assert mask[0] == 0
    if program in ("identity", "reverse", "sort", "set"):
        assert len(tokens) == 2 * n + 1
        x, out = tokens[:n], tokens[n + 1 :]
        assert tokens[n] == sep
        assert all(1 <= t < v for t in x)
        answer = {
            "identity": list(x),
            "reverse": x[::-1],
            "sort": sorted(x),
            "set": unique_in_order(x),
        }[program]
        expected_out = answer + [pad] * (n - len(answer))
        assert out == expected_out, (program, x, out)
        assert mask == [0] * (n + 1) + [1] * len(answer) + [0] * (n - len(answer))
        facts["repeats"] = n - len(unique_in_order(x))
    elif program == "union":
        h = n // 2
        assert len(tokens) == 2 * h + 2 + n
        a, b, out = split_on(tokens, sep, 2)
        assert len(a) == h and len(b) == h and len(out) == n
        answer = unique_in_order(a + b)
        assert out == answer + [pad] * (n - len(answer))
        assert mask == [0] * (2 * h + 2) + [1] * len(answer) + [0] * (n - len(answer))
    elif program == "delete":
        assert len(tokens) == 2 * n + 3
        x, q, out = split_on(tokens, sep, 2)
        assert len(x) == n and len(q) == 1 and len(out) == n
        q = q[0]
        assert 1 <= q < v
        answer = list(x)
        if q in answer:
            del answer[answer.index(q)]  # list.remove semantics: the first occurrence only
        assert out == answer + [pad] * (n - len(answer))
        assert mask == [0] * (n + 3) + [1] * len(answer) + [0] * (n - len(answer))
        facts["present"] = q in x
    elif program == "stack":
        assert len(tokens) == 2 * n
        ops = tokens[:n]
        assert tokens[n] == sep
        out = tokens[n + 1 :]
        stack, sizes_before = [], []
        for t in ops:
            sizes_before.append(len(stack))
            if t == 0:
                assert stack, "pop from an empty stack"
                stack.pop()
            else:
                assert 1 <= t < v
                assert t not in stack, "pushed a symbol already on the stack"
                stack.append(t)
        # push is forced while the stack holds at most one element
        for t, before in zip(ops, sizes_before, strict=True):
            if before <= 1:
                assert t != 0, "popped while the stack held at most one element"
        # the last step pops whenever more than one element is on the stack
        if sizes_before[-1] > 1:
            assert ops[-1] == 0
        if not stack:  # an empty final stack gets one symbol, not written as an operation
            extra = [t for t in out if t != pad]
            assert len(extra) == 1 and 1 <= extra[0] < v
            stack = extra
        contents = stack[::-1][: n - 1]  # top first; the 2n cap cuts only at n = 2
        assert out == contents + [pad] * (n - 1 - len(contents))
        assert mask == [0] * (n + 1) + [1] * len(contents) + [0] * (n - 1 - len(contents))
        facts["ops"] = ops
        facts["sizes_before"] = sizes_before
    elif program == "eca_rule110":
        states = split_on(tokens, sep, eca_steps)
        assert len(states) == eca_steps + 1
        bits = []
        for s in states:
            assert len(s) == n and set(s) <= {1, 2}
            bits.append([t - 1 for t in s])
        for prev, nxt in zip(bits, bits[1:], strict=False):
            want = [rule110(prev[(i - 1) % n], prev[i], prev[(i + 1) % n]) for i in range(n)]
            assert nxt == want
        expected_mask = [0] * n
        for _ in range(eca_steps):
            expected_mask += [0] + [1] * n
        assert mask == expected_mask
    elif program == "ww":
        assert len(tokens) == 2 * n
        assert tokens[:n] == tokens[n:]
        assert all(1 <= t < v for t in tokens)
        assert mask == [0] + [1] * (2 * n - 1)
    else:  # pragma: no cover
        raise AssertionError(program)
    if program != "ww":
        # loss only on output tokens: never on pads, separators or pops
        for t, m in zip(tokens, mask, strict=True):
            if m:
                assert t not in (sep, pad)
    return facts


def build(**kw):
    return ProceduralTask(ProceduralConfig(**kw))


# --------------------------------------------------------------------------- every program, many examples


@pytest.mark.parametrize("program", PROGRAMS)
@pytest.mark.parametrize("n,v", [(64, 100), (16, 100), (7, 5), (2, 100), (3, 4)])
def test_program_matches_reference(program, n, v):
    task = build(program=program, length=n, vocab_size=v)
    for i in range(150):
        ex = example_at(task, 1, "train", i)
        assert ex.meta["program"] == program
        check_example(ex.tokens, ex.loss_mask, program, n, v)


@settings(max_examples=60, deadline=None)
@given(
    program=st.sampled_from(PROGRAMS),
    n=st.integers(2, 40),
    v=st.integers(3, 120),
    seed=st.integers(0, 2**31),
    index=st.integers(0, 10**9),
    block=st.sampled_from([1, 3, 64]),
)
def test_reference_hypothesis(program, n, v, seed, index, block):
    task = build(program=program, length=n, vocab_size=v, block_size=block)
    ex = example_at(task, seed, "eval", index)
    check_example(ex.tokens, ex.loss_mask, program, n, v)


@pytest.mark.parametrize("steps", [1, 3])
def test_eca_multi_step(steps):
    task = build(program="eca_rule110", length=12, eca_steps=steps)
    for i in range(100):
        ex = example_at(task, 0, "train", i)
        check_example(ex.tokens, ex.loss_mask, "eca_rule110", 12, 100, eca_steps=steps)


def test_mixture_matches_reference_and_mixes_uniformly():
    task = build(program="mixture", length=10)
    counts = Counter()
    for i in range(1800):
        ex = example_at(task, 2, "train", i)
        counts[ex.meta["program"]] += 1
        check_example(ex.tokens, ex.loss_mask, ex.meta["program"], 10, 100)
    assert set(counts) == set(PROGRAMS)
    for p in PROGRAMS:  # 200 expected each; sd ~ 13
        assert 140 < counts[p] < 260, counts


def test_mixture_subset():
    task = build(program="mixture", length=6, mixture=("sort", "stack"))
    seen = {example_at(task, 0, "train", i).meta["program"] for i in range(50)}
    assert seen == {"sort", "stack"}


# --------------------------------------------------------------------------- distributions


def test_delete_query_present_share_matches_the_paper():
    # q is uniform on 1..99 independent of x; P(q in x) = 1 - (98/99)^64 ~ 0.478 (paper: ~48 %)
    expected = 1 - (98 / 99) ** 64
    assert abs(expected - 0.48) < 0.005
    task = build(program="delete", length=64)
    m = 4000
    present = sum(example_at(task, 5, "train", i).meta["query_present"] for i in range(m))
    sd = (expected * (1 - expected) / m) ** 0.5
    assert abs(present / m - expected) < 4 * sd


def test_symbols_are_uniform():
    task = build(program="identity", length=64)
    counts = Counter()
    for i in range(500):
        counts.update(example_at(task, 0, "train", i).tokens[:64].tolist())
    assert set(counts) == set(range(1, 100))
    # 32,000 draws over 99 symbols: ~323 each, sd ~ 18
    assert max(counts.values()) < 323 + 5 * 18 and min(counts.values()) > 323 - 5 * 18


def test_set_inputs_repeat_as_expected():
    # expected distinct symbols among 64 uniform draws from 99: 99 * (1 - (98/99)^64)
    expected_distinct = 99 * (1 - (98 / 99) ** 64)
    task = build(program="set", length=64)
    distinct = []
    for i in range(1000):
        ex = example_at(task, 0, "train", i)
        distinct.append(len(set(ex.tokens[:64].tolist())))
        assert int(ex.loss_mask.sum()) == distinct[-1]
    assert abs(np.mean(distinct) - expected_distinct) < 0.5
    assert max(distinct) < 64  # inputs really repeat


def test_stack_schedule_shares():
    """Before step floor(2n/3), a free choice pushes 75 % of the time; after, 25 %."""
    n = 64
    cut = 2 * n // 3
    task = build(program="stack", length=n)
    early, late = [0, 0], [0, 0]  # [pushes, choices]
    sizes = []
    for i in range(1500):
        ex = example_at(task, 0, "train", i)
        facts = check_example(ex.tokens, ex.loss_mask, "stack", n, 100)
        sizes.append(ex.meta["stack_size"])
        for t, (op, before) in enumerate(zip(facts["ops"], facts["sizes_before"], strict=True)):
            if before <= 1 or t == n - 1:
                continue
            bucket = early if t < cut else late
            bucket[0] += op != 0
            bucket[1] += 1
    assert abs(early[0] / early[1] - 0.75) < 0.01
    assert abs(late[0] / late[1] - 0.25) < 0.015
    assert min(sizes) >= 1


def test_stack_small_vocabulary_pops_when_no_symbol_is_free():
    task = build(program="stack", length=30, vocab_size=4)
    for i in range(200):
        ex = example_at(task, 0, "train", i)
        check_example(ex.tokens, ex.loss_mask, "stack", 30, 4)


def test_union_halves_and_padding():
    task = build(program="union", length=64)
    for i in range(50):
        ex = example_at(task, 0, "train", i)
        assert len(ex) == 2 * 32 + 2 + 64
        assert ex.tokens[32] == 100 and ex.tokens[65] == 100


def test_ww_is_a_copy_and_eca_states_are_binary():
    ex = example_at(build(program="ww", length=20), 0, "train", 0)
    assert ex.tokens[:20].tolist() == ex.tokens[20:].tolist()
    ex = example_at(build(program="eca_rule110", length=20), 0, "train", 0)
    assert set(ex.tokens.tolist()) <= {1, 2, 100}


# --------------------------------------------------------------------------- vocabulary, determinism


def test_vocabulary_layout():
    task = build()
    voc = task.vocab
    assert voc.size == 102 and voc.sep_id == 100 and voc.pad_id == 101
    assert voc.eos_id is None and voc.bos_id is None
    assert [voc.name(i) for i in (0, 1, 99, 100, 101)] == ["pop", "1", "99", "|", "<pad>"]


def test_block_size_one_and_blocks_are_pure():
    a = build(program="mixture", length=8, block_size=1)
    b = build(program="mixture", length=8, block_size=16)
    for t in (a, b):
        first = [example_at(t, 3, "train", i) for i in range(40)]
        again = [example_at(t, 3, "train", i) for i in reversed(range(40))][::-1]
        assert first == again
    copy = pickle.loads(pickle.dumps(b))
    assert example_at(copy, 3, "train", 17) == example_at(b, 3, "train", 17)


def test_meta_is_json_ready():
    task = build(program="mixture", length=8)
    for i in range(64):
        json.dumps(example_at(task, 0, "train", i).meta)


# --------------------------------------------------------------------------- config


def test_config_validation():
    with pytest.raises(ConfigError, match="program"):
        structure({"program": "sorting"}, ProceduralConfig, "$.task.params")
    with pytest.raises(ConfigError, match="length"):
        structure({"program": "union", "length": 1}, ProceduralConfig, "$.task.params")
    with pytest.raises(ConfigError, match="mixture"):
        structure({"program": "mixture", "mixture": ["sort", "nope"]}, ProceduralConfig, "$.task.params")
    with pytest.raises(ConfigError, match="vocab_size"):
        structure({"vocab_size": 2}, ProceduralConfig, "$.task.params")
    cfg = structure({"program": "identity", "length": 1}, ProceduralConfig)
    assert cfg.length == 1
    assert structure(json.loads(json.dumps(unstructure(cfg))), ProceduralConfig) == cfg


# --------------------------------------------------------------------------- curriculum


def test_curriculum():
    assert curriculum_lengths() == list(range(2, 65, 2))
    assert curriculum_lengths(2, 4, 9) == [2, 6, 9]
    cur = LengthCurriculum(target=6)
    assert cur.lengths() == [2, 4, 6]
    assert cur.next_length(2, 0.98) == 2
    assert cur.next_length(2, 0.99) == 4
    assert cur.next_length(6, 1.0) == 6
    config = ProceduralConfig(program="sort")
    for n in cur.lengths():  # a runner rebuilds the task at each stage's length
        ex = example_at(ProceduralTask(attrs.evolve(config, length=n)), 0, "train", 0)
        check_example(ex.tokens, ex.loss_mask, "sort", n, 100)


# --------------------------------------------------------------------------- stats


def test_stats():
    task = build(program="mixture", length=16)
    s = task.stats(sample=300, seed=0)
    assert abs(sum(s["program_mix"].values()) - 1) < 1e-9 and set(s["program_mix"]) == set(PROGRAMS)
    assert s["answer_length_by_program"]["identity"]["min"] == 16
    assert 0 < s["delete_query_present_share"] < 1
    merged = task_stats(build(program="stack", length=8), sample=20)
    assert merged["family"]["program_mix"] == {"stack": 1.0}
    assert "stack_final_size" in merged["family"]


# --------------------------------------------------------------------------- presets


@pytest.mark.parametrize("preset", PROCEDURAL.presets, ids=lambda p: p.name)
def test_every_preset_builds_and_samples(preset):
    cfg = structure(dict(preset.values), ProceduralConfig)
    task = PROCEDURAL.build(cfg)
    for i in range(20):
        ex = example_at(task, 0, "train", i)
        check_example(ex.tokens, ex.loss_mask, ex.meta["program"], cfg.length, cfg.vocab_size, cfg.eca_steps)


def test_preset_provenance():
    assert PROCEDURAL.default_preset == "paper_identity_len64"
    for p in ALGORITHMIC:
        assert PROCEDURAL.preset(f"paper_{p}_len64").status() == "verified"
        assert PROCEDURAL.preset(f"{p}_len16").provenance["length"].status == "ours"
    assert PROCEDURAL.preset("eca_rule110_len64").provenance["program"].status == "approximate"
    assert PROCEDURAL.preset("mixture_len64").status() == "ours"


def test_registered_through_the_entry_point():
    from pptrain_procedural import plugin

    seen = []
    plugin.register_tasks(register=seen.append)
    assert [s.name for s in seen] == ["procedural"]


@parametrize_with_task_checks([PROCEDURAL], entry_point_module="pptrain_procedural.plugin")
def test_conformance(check):
    check()
