"""NCA generator: layout, patch ids, loss mask, gzip filter, determinism, pools, configs.

Expected values are derived here from the paper's description (families.md section 1 and
the official code's behaviour described there), never copied from our output.
"""

from __future__ import annotations

import gzip
import io
import pickle
import re

import attrs
import numpy as np
import pytest
import torch

from pptrain_core.config import FieldValueError, structure
from pptrain_core.data import example_at
from pptrain_core.testing.checks import parametrize_with_task_checks
from pptrain_nca.rollout import (
    TRUNCATED_STD,
    decode_patches,
    frame_tokens,
    gzip_ratio,
    in_band,
    sample_next,
    sample_rule,
)
from pptrain_nca.specs import NCA, NCAConfig
from pptrain_nca.task import NCATask

torch.set_num_threads(1)


def build(preset: str, **over) -> NCATask:
    cfg = structure(dict(NCA.preset(preset).values), NCAConfig)
    return NCATask(attrs.evolve(cfg, **over))


@pytest.fixture(scope="module")
def paper() -> NCATask:
    return build("paper_web_text")


# --------------------------------------------------------------------------- conformance


@parametrize_with_task_checks([NCA], entry_point_module="pptrain_nca.plugin")
def test_conformance(check):
    check()


# --------------------------------------------------------------------------- layout


def test_paper_layout_and_vocabulary(paper):
    ex = example_at(paper, 0, "train", 3)
    assert paper.vocab.size == 10_002
    assert len(ex) == 1024
    assert ex.tokens.max() < 10_002 and ex.tokens.min() >= 0
    starts = np.flatnonzero(ex.tokens == 10_000)
    ends = np.flatnonzero(ex.tokens == 10_001)
    # 27 frames of 38 tokens: 27 starts (the last frame is cut after 36 of its tokens), 26 ends
    assert starts.tolist() == [38 * k for k in range(27)]
    assert ends.tolist() == [38 * k + 37 for k in range(26)]
    assert paper.vocab.name(10_000) == "<grid>" and paper.vocab.name(10_001) == "</grid>"


def test_patch_id_formula_recomputed_from_cells():
    rng = np.random.default_rng(1)
    for states, p, g in ((10, 2, 12), (3, 2, 6), (2, 3, 9)):
        grid = rng.integers(0, states, size=(g, g))
        toks = frame_tokens(grid[None, None], states, p)[0]
        expected = [states ** (p * p)]
        for by in range(0, g, p):
            for bx in range(0, g, p):
                v = 0
                for a in range(p):
                    for b in range(p):
                        v += int(grid[by + a, bx + b]) * states ** (a * p + b)
                expected.append(v)
        expected.append(states ** (p * p) + 1)
        assert toks.tolist() == expected
        assert (decode_patches(toks[1:-1], states, p, g) == grid).all()
    # the paper's corner convention: (0,0)->10^0, (0,1)->10^1, (1,0)->10^2, (1,1)->10^3
    patch = np.array([[1, 2], [3, 4]])
    grid = np.zeros((12, 12), dtype=int)
    grid[:2, :2] = patch
    assert frame_tokens(grid[None, None], 10, 2)[0][1] == 4321


def test_example_frames_decode_to_grids(paper):
    ex = example_at(paper, 0, "train", 0)
    frames = paper.frames_of(ex.tokens)
    assert len(frames) == 26 and frames[0].shape == (12, 12)
    again = frame_tokens(np.stack(frames)[None], 10, 2)[0]
    assert (again == ex.tokens[: 26 * 38]).all()


# --------------------------------------------------------------------------- loss mask


def _official_predicted(seq_len: int, frame_len: int = 38, frames: int = 27, min_grid: int = 1) -> set[int]:
    """Token indices the official NCADataset trains on: mask target[:min_grid*frame_len],
    shift (inputs seq[:-1], targets target[1:]), truncate both to seq_len."""
    total = frames * frame_len
    target = np.arange(total)
    target[: min_grid * frame_len] = -100
    targets = target[1:][:seq_len]
    return {int(t) for t in targets if t != -100}


def test_loss_mask_exact_positions(paper):
    ex = example_at(paper, 0, "train", 0)
    assert ex.loss_mask[:38].sum() == 0
    assert ex.loss_mask[38:].all()
    ours = set(np.flatnonzero(ex.loss_mask).tolist())
    official = _official_predicted(1024)
    # the official predicts tokens 38..1024; our 1024-token window holds 38..1023
    assert min(official) == 38 and max(official) == 1024
    assert ours == official - {1024}
    assert ex.loss_mask[38] == 1 and ex.tokens[38] == 10_000  # delimiters carry loss


def test_seq_len_1025_reproduces_official_targets_exactly():
    task = build("paper_web_text", seq_len=1025)
    ex = example_at(task, 0, "train", 0)
    assert len(ex) == 1025 and task.config.frames == 27
    assert set(np.flatnonzero(ex.loss_mask).tolist()) == _official_predicted(1024)


# --------------------------------------------------------------------------- gzip filter


def _official_gzip_ratio(ids: np.ndarray) -> float:
    raw = np.asarray(ids, dtype="<i4").tobytes()
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9) as fh:
        fh.write(raw)
    return len(buf.getvalue()) / len(raw)


def test_gzip_ratio_on_known_grids():
    const = np.zeros((10, 12, 12), dtype=int)
    ids_const = frame_tokens(const[None], 10, 2)[0]
    ids_const = ids_const[(ids_const < 10_000)]
    assert len(ids_const) == 360
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 10, size=(10, 12, 12))
    ids_noise = frame_tokens(noise[None], 10, 2)[0]
    ids_noise = ids_noise[ids_noise < 10_000]
    r_const, r_noise = gzip_ratio(ids_const), gzip_ratio(ids_noise)
    assert r_const == pytest.approx(_official_gzip_ratio(ids_const))
    assert r_noise == pytest.approx(_official_gzip_ratio(ids_noise))
    assert r_const < 0.05  # 1,440 zero bytes compress to a few dozen
    # uniform ids < 10^4 carry ~13.3 bits in 32: ratio near 0.42 plus deflate overhead
    assert 0.4 < r_noise < 0.7
    # random 32-bit words do not compress at all
    words = rng.integers(-(2**31), 2**31, size=360)
    assert _official_gzip_ratio(words) > 1.0 and gzip_ratio(words) > 1.0


def test_band_edges_are_strict():
    assert not in_band(0.5, 0.5, 1.0)
    assert not in_band(1.0, 0.5, 1.0)
    assert in_band(np.nextafter(0.5, 1.0), 0.5, 1.0)
    assert in_band(np.nextafter(1.0, 0.0), 0.5, 1.0)
    assert not in_band(0.2, 0.3, 0.4) and not in_band(0.45, 0.3, 0.4)


def test_accepted_rules_are_inside_the_band():
    task = build("paper_code")
    found = task.search_rules(0, "train", 0, range(6))
    for rule in found.values():
        assert 0.3 < rule.ratio < 0.4 and rule.attempts >= 1


# --------------------------------------------------------------------------- rules


def test_lecun_normal_truncated_and_rescaled():
    rng = np.random.default_rng(0)
    w1 = np.concatenate([sample_rule(rng, 10).w1.ravel() for _ in range(300)])
    std = np.sqrt(1 / 90)
    assert np.abs(w1).max() <= 2 * std / TRUNCATED_STD + 1e-6
    assert w1.var() == pytest.approx(1 / 90, rel=0.05)  # Flax rescales so the variance is 1/fan_in


def test_rule_is_pure_function_of_slot_including_rejection_loop():
    a = build("paper_web_text").search_rules(5, "train", 0, range(10))
    b = build("paper_web_text").search_rules(5, "train", 0, [7])
    c = build("paper_web_text").search_rules(5, "train", 0, [9, 7, 3])
    for j in (7,):
        for other in (b, c):
            assert other[j].attempts == a[j].attempts and other[j].ratio == a[j].ratio
            assert all(np.array_equal(x, y) for x, y in zip(other[j].weights, a[j].weights, strict=True))


def test_eval_rules_disjoint_from_train_rules():
    task = build("smoke", num_rules=32, eval_num_rules=32)
    train = task.search_rules(0, "train", 0, range(32))
    evals = task.search_rules(0, "eval", 0, range(32))
    train_keys = {r.weights.w1.tobytes() for r in train.values()}
    eval_keys = {r.weights.w1.tobytes() for r in evals.values()}
    assert len(train_keys) == 32 and len(eval_keys) == 32
    assert not train_keys & eval_keys


def test_rule_pool_fixed_vs_per_epoch():
    fixed = build("smoke")
    per_epoch = build("smoke", rule_pool="per_epoch")
    n = fixed.config.sims_per_epoch
    a, b = example_at(fixed, 0, "train", 1), example_at(fixed, 0, "train", 1 + n)
    assert a.meta["rule"] == b.meta["rule"] and a.meta["rule_ratio"] == b.meta["rule_ratio"]
    assert b.meta["pool_epoch"] == 0 and not np.array_equal(a.tokens, b.tokens)
    c, d = example_at(per_epoch, 0, "train", 1), example_at(per_epoch, 0, "train", 1 + n)
    assert c == a  # epoch 0 is the same in both modes
    assert d.meta["pool_epoch"] == 1 and d.meta["rule"] == c.meta["rule"]
    w0 = per_epoch.rules_for(0, "train", [(0, 1)])[0].weights.w1
    w1 = per_epoch.rules_for(0, "train", [(1, 1)])[0].weights.w1
    assert not np.array_equal(w0, w1)


def test_rules_in_a_worker_pool_match_in_process():
    cfg = attrs.evolve(build("smoke").config, num_rules=600, probe_workers=2)
    pooled = NCATask(cfg)
    assert pooled.prefetch_rules(0, "train") == 600
    local = NCATask(attrs.evolve(cfg, probe_workers=0)).search_rules(0, "train", 0, [0, 299, 599])
    for j, rule in local.items():
        got = pooled.rules_for(0, "train", [(0, j)])[0]
        assert got.ratio == rule.ratio and np.array_equal(got.weights.w3, rule.weights.w3)


# --------------------------------------------------------------------------- determinism and batching


def test_block_and_single_generation_agree():
    single = build("smoke", block_size=1)
    blocked = build("smoke", block_size=8)
    odd = build("smoke", block_size=5)
    for i in range(12):
        e1 = example_at(single, 3, "train", i)
        assert e1 == example_at(blocked, 3, "train", i) == example_at(odd, 3, "train", i)
    assert blocked.examples(3, "train", [9])[0] == example_at(blocked, 3, "train", 9)
    # a paper preset too: example 40 alone == inside its block of 32
    p1, p32 = build("paper_web_text", block_size=1), build("paper_web_text", block_size=32)
    assert example_at(p1, 0, "eval", 40) == example_at(p32, 0, "eval", 40)


def test_seed_split_index_change_examples():
    task = build("smoke")
    base = example_at(task, 0, "train", 0)
    assert base != example_at(task, 1, "train", 0)
    assert base != example_at(task, 0, "eval", 0)
    assert base != example_at(task, 0, "train", 1)
    again = pickle.loads(pickle.dumps(task))
    assert example_at(again, 0, "train", 0) == base


# --------------------------------------------------------------------------- sampling


def test_temperature_zero_is_argmax_without_nan():
    # B=1, S=3 states, 3 cells: [0, 1, .5] -> 1; [0, -1, .5] -> 2; [.7, .7, .1] -> 0 (first maximum)
    logits = torch.tensor([[[0.0, 0.0, 0.7], [1.0, -1.0, 0.7], [0.5, 0.5, 0.1]]])
    out = sample_next(logits, torch.rand(1, 3), 0.0)
    assert out.tolist() == [[1, 2, 0]]
    task = build("smoke", temperature=0.0)
    ex = example_at(task, 0, "train", 0)
    assert ex.tokens.max() < task.vocab.size
    frames = task.frames_of(ex.tokens)
    again = example_at(build("smoke", temperature=0.0), 0, "train", 0)
    assert ex == again and len(frames) == 8


def test_tiny_temperature_samples_ties_uniformly_and_follows_clear_maxima():
    n = 20_000
    tie = torch.zeros(1, 4, n)  # every state equal: a fair 4-way draw
    u = torch.from_numpy(1 - np.random.default_rng(0).random((1, n), dtype=np.float32))
    counts = torch.bincount(sample_next(tie, u, 1e-4)[0], minlength=4).numpy()
    assert (np.abs(counts / n - 0.25) < 0.02).all()
    clear = torch.tensor([0.0, 0.3, 0.1, -0.2]).view(1, 4, 1).expand(1, 4, n).contiguous()
    assert (sample_next(clear, u, 1e-4) == 1).all()
    # u = 1 (largest uniform) must not select a zero-probability state after the maximum
    one = torch.ones(1, 1)
    assert sample_next(torch.tensor([[[0.0], [5.0], [-3.0]]]), one, 1e-4).item() == 1


# --------------------------------------------------------------------------- configs


def test_non_default_sizes_vocabulary_follows():
    task = NCATask(
        NCAConfig(
            grid_size=9,
            num_states=2,
            patch_size=3,
            seq_len=60,
            num_rules=4,
            eval_num_rules=4,
            band_lower=0.0,
            band_upper=2.0,
            block_size=4,
        )
    )
    assert task.vocab.size == 2**9 + 2 and task.config.frame_len == 9 + 2
    ex = example_at(task, 0, "train", 0)
    assert len(ex) == 60 and ex.tokens.max() < 514
    assert np.flatnonzero(ex.tokens == 512).tolist() == list(range(0, 60, 11))
    assert ex.loss_mask[:11].sum() == 0 and ex.loss_mask[11:].all()
    t2 = NCATask(
        NCAConfig(grid_size=8, num_states=3, seq_len=72, num_rules=4, eval_num_rules=4, band_lower=0.0, band_upper=2.0)
    )
    assert t2.vocab.size == 83 and t2.config.frames == 4
    assert example_at(t2, 0, "train", 0).tokens.max() < 83


def test_invalid_configs_name_the_field():
    with pytest.raises(FieldValueError, match="patch_size"):
        NCAConfig(grid_size=12, patch_size=5)
    with pytest.raises(FieldValueError, match="band_upper"):
        NCAConfig(band_lower=0.5, band_upper=0.5)
    with pytest.raises(FieldValueError, match="num_states"):
        NCAConfig(num_states=10, patch_size=4, grid_size=12)
    with pytest.raises(FieldValueError, match="num_frames"):
        NCAConfig(num_frames=3)


def test_paper_presets_record_the_budget():
    for name in ("paper_web_text", "paper_math", "paper_code"):
        cfg = structure(dict(NCA.preset(name).values), NCAConfig)
        assert (cfg.num_rules, cfg.sims_per_epoch, cfg.epochs) == (16_000, 16_000, 10)
        assert cfg.token_budget == 163_840_000 and cfg.frames == 27 and cfg.frame_len == 38
    assert NCA.preset("paper_code").values["band_lower"] == 0.3
    assert NCA.preset("paper_code").values["band_upper"] == 0.4


# --------------------------------------------------------------------------- inspection


def test_stats_and_rendering():
    task = build("smoke")
    stats = task.stats(sample=16, seed=0)
    assert 0 < stats["acceptance_rate"] <= 1 and stats["candidates"] >= 16
    assert 0.3 < stats["ratio_quantiles_accepted"]["q05"] <= stats["ratio_quantiles_accepted"]["q95"] < 1.0
    assert 0 <= stats["band_stability"] <= 1
    assert 0 < stats["distinct_patch_ids"] <= 256 and 0 < stats["top10_patch_share"] <= 1
    assert stats["rank_frequency_slope"] < 0
    ex = example_at(task, 0, "train", 0)
    text = task.render(ex)
    assert text.count("<grid>") == 8 and text.splitlines()[1] == "".join(
        str(v) for v in task.frames_of(ex.tokens)[0][0]
    )
    from rich.console import Console

    console = Console(record=True, width=200, color_system="truecolor")
    console.print(task.render_rich(ex))
    assert "██" in console.export_text()


def _grid_rows(grid) -> list[str]:
    return ["".join(str(int(v)) for v in row) for row in grid]


def test_rich_view_writes_digits_where_there_is_no_colour():
    from rich.console import Console

    task = build("smoke")
    ex = example_at(task, 0, "train", 0)
    frames = task.frames_of(ex.tokens)
    for console in (
        Console(file=io.StringIO(), width=200),  # a pipe or a file
        Console(file=io.StringIO(), width=200, force_terminal=True, no_color=True),  # NO_COLOR
    ):
        console.print(task.render_rich(ex))
        text = re.sub(r"\x1b\[[0-9;]*m", "", console.file.getvalue())  # NO_COLOR keeps bold and dim
        assert "██" not in text  # today: every cell is the same block without colour
        lines = [line.split() for line in text.splitlines()]
        for f, grid in enumerate(frames):  # frame f is column f of every grid row, side by side
            assert [row[f] for row in lines[1 : 1 + len(grid)]] == _grid_rows(grid)


def test_piped_sample_prints_digit_grids(capsys):
    from pptrain_core.cli import main

    try:
        main(["sample", "nca:smoke", "-n", "1"])
    except SystemExit as exc:
        assert not exc.code
    out = capsys.readouterr().out
    first = _grid_rows(build("smoke").frames_of(example_at(build("smoke"), 0, "train", 0).tokens)[0])
    assert "██" not in out and all(row in out for row in first)
