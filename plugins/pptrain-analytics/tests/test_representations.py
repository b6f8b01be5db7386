"""Representation metrics: the math against properties and hand computations, then on real tiny models.

CKA is compared with a naive implementation written from the paper's kernel formula
(HSIC with centring matrices), divergences with values worked out by hand, the
induction score with hand-built attention patterns, and effective rank with matrices
whose singular values are known.
"""

from __future__ import annotations

import math
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest

from pptrain_analytics.metric_specs import CKAConfig, EffectiveRankConfig, InductionHeadConfig, InputsConfig
from pptrain_analytics.representations import (
    CKAMetric,
    EffectiveRankMetric,
    InductionHeadMetric,
    PredictionDivergenceMetric,
    divergence_terms,
    effective_rank,
    induction_scores,
    linear_cka,
    token_windows,
    uniform_induction_baseline,
)
from pptrain_core.errors import UserError


@pytest.fixture(autouse=True)
def _one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def naive_cka(x, y):
    """Kornblith et al. eq. (1)-(3): HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)), K = X X^T, H = I - 11^T/n."""
    n = x.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n
    kx, ky = x @ x.T, y @ y.T

    def hsic(a, b):
        return np.trace(a @ h @ b @ h) / (n - 1) ** 2

    return hsic(kx, ky) / math.sqrt(hsic(kx, kx) * hsic(ky, ky))


def _orthogonal(rng, d):
    q, r = np.linalg.qr(rng.normal(size=(d, d)))
    return q * np.sign(np.diag(r))


# --------------------------------------------------------------------------- CKA


def test_cka_matches_the_kernel_formula_and_is_one_with_itself():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 6))
    y = x @ rng.normal(size=(6, 9)) + 0.5 * rng.normal(size=(40, 9))
    assert linear_cka(x, y) == pytest.approx(naive_cka(x, y), rel=1e-10)
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)


def test_cka_invariances():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 8))
    y = np.tanh(x @ rng.normal(size=(8, 5))) + 0.1 * rng.normal(size=(200, 5))
    base = linear_cka(x, y)
    assert linear_cka(x @ _orthogonal(rng, 8), y) == pytest.approx(base, rel=1e-9)
    assert linear_cka(x, y @ _orthogonal(rng, 5)) == pytest.approx(base, rel=1e-9)
    assert linear_cka(7.5 * x, 0.01 * y) == pytest.approx(base, rel=1e-9)
    assert linear_cka(x + 3.0, y - 1.0) == pytest.approx(base, rel=1e-9)  # centred features
    # not invariant to stretching a single direction: the check above is not vacuous
    stretch = np.ones(8)
    stretch[0] = 20.0
    assert abs(linear_cka(x * stretch, y) - base) > 1e-3


def test_cka_of_independent_features_is_small():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(4000, 10)), rng.normal(size=(4000, 10))
    assert linear_cka(x, y) < 0.02


# --------------------------------------------------------------------------- divergences


def test_divergences_of_a_two_state_example_by_hand():
    p, q = np.array([[0.5, 0.5]]), np.array([[0.9, 0.1]])
    got = divergence_terms(np.log(p), np.log(q))
    kl_pq = 0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1)
    kl_qp = 0.9 * math.log(0.9 / 0.5) + 0.1 * math.log(0.1 / 0.5)
    m = [0.7, 0.3]
    js = 0.5 * (0.5 * math.log(0.5 / m[0]) + 0.5 * math.log(0.5 / m[1])) + 0.5 * (
        0.9 * math.log(0.9 / m[0]) + 0.1 * math.log(0.1 / m[1])
    )
    assert got["kl_pq"][0] == pytest.approx(kl_pq, rel=1e-12)  # 0.5108...
    assert got["kl_qp"][0] == pytest.approx(kl_qp, rel=1e-12)  # 0.3681...
    assert got["js"][0] == pytest.approx(js, rel=1e-12)


def test_divergence_identities_and_bounds():
    rng = np.random.default_rng(3)
    logits_a, logits_b = rng.normal(size=(50, 7)) * 3, rng.normal(size=(50, 7)) * 3
    la = logits_a - np.log(np.exp(logits_a).sum(1, keepdims=True))
    lb = logits_b - np.log(np.exp(logits_b).sum(1, keepdims=True))
    same = divergence_terms(la, la)
    assert np.allclose([same["kl_pq"], same["kl_qp"], same["js"]], 0.0, atol=1e-12)
    ab, ba = divergence_terms(la, lb), divergence_terms(lb, la)
    assert np.allclose(ab["js"], ba["js"], rtol=1e-12)
    assert np.allclose(ab["kl_pq"], ba["kl_qp"], rtol=1e-12)
    assert np.all(ab["js"] <= math.log(2) + 1e-12) and np.all(ab["js"] > 0)
    # disjoint supports reach the bound exactly
    with np.errstate(divide="ignore"):
        disjoint = divergence_terms(np.log([[1.0, 0.0]]), np.log([[0.0, 1.0]]))
    assert disjoint["js"][0] == pytest.approx(math.log(2), rel=1e-12)


# --------------------------------------------------------------------------- induction score


def test_induction_score_on_hand_built_attention():
    block, start = 5, 1
    t = start + 2 * block
    uniform = np.tril(np.ones((t, t)))
    uniform /= uniform.sum(1, keepdims=True)
    induction = uniform.copy()
    for j in range(block):
        q = start + block + j
        induction[q] = 0.0
        induction[q, start + j + 1] = 1.0  # the token after the earlier occurrence
    previous = uniform.copy()
    for j in range(block):
        q = start + block + j
        previous[q] = 0.0
        previous[q, start + j] = 1.0  # the earlier occurrence itself, not the token after it
    attn = np.stack([induction, uniform, previous])[None]  # (1, 3 heads, t, t)
    scores = induction_scores(attn, block, start)
    assert scores[0] == pytest.approx(1.0)
    hand = np.mean([1.0 / (start + block + j + 1) for j in range(block)])
    assert scores[1] == pytest.approx(hand)
    assert uniform_induction_baseline(block, start) == pytest.approx(hand)
    assert scores[2] == pytest.approx(0.0)


def _gpt2(vocab_size=50, n_embd=16, n_layer=2, n_head=4, seed=0, n_positions=128):
    import torch
    from transformers import AutoModelForCausalLM, GPT2Config

    torch.manual_seed(seed)
    cfg = GPT2Config(
        vocab_size=vocab_size,
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=n_head,
        n_positions=n_positions,
        bos_token_id=None,
        eos_token_id=None,
    )
    return AutoModelForCausalLM.from_config(cfg, attn_implementation="eager")


def test_induction_metric_on_a_real_gpt2():
    metric = InductionHeadMetric(InductionHeadConfig(n_sequences=6, block_len=10, batch_size=4))
    seqs = metric.sequences(50)
    assert np.array_equal(seqs[:, :10], seqs[:, 10:])
    assert all(len(set(row[:10].tolist())) == 10 for row in seqs)  # distinct tokens inside a block
    result = metric.evaluate(_gpt2())
    scores = np.array(result["scores"])
    assert scores.shape == (2, 4)
    assert result["max"] == pytest.approx(scores.max())
    assert scores[result["argmax"]["layer"], result["argmax"]["head"]] == pytest.approx(scores.max())
    # a fresh GPT-2 (weights ~ N(0, 0.02)) attends almost uniformly: the score sits at the uniform baseline
    assert np.allclose(scores, result["uniform_baseline"], atol=0.01)


def test_induction_metric_needs_attention_weights():
    from transformers import AutoModelForCausalLM, GPT2Config

    cfg = GPT2Config(vocab_size=50, n_embd=16, n_layer=1, n_head=2, bos_token_id=None, eos_token_id=None)
    model = AutoModelForCausalLM.from_config(cfg, attn_implementation="sdpa")
    metric = InductionHeadMetric(InductionHeadConfig(n_sequences=2, block_len=4))
    try:
        result = metric.evaluate(model)
    except UserError as exc:
        assert "eager" in str(exc)
    else:  # transformers may fall back to eager on its own; then the scores must still be real
        assert np.array(result["scores"]).shape == (1, 2)


# --------------------------------------------------------------------------- effective rank


def test_effective_rank_of_known_spectra():
    assert effective_rank(np.eye(7)) == pytest.approx(7.0)
    assert effective_rank(3.0 * np.eye(4)) == pytest.approx(4.0)
    u, v = np.arange(1.0, 6.0), np.array([2.0, -1.0, 0.5])
    assert effective_rank(np.outer(u, v)) == pytest.approx(1.0, abs=1e-6)
    assert effective_rank(np.diag([1.0, 1.0, 0.0, 0.0])) == pytest.approx(2.0)
    p = np.array([0.75, 0.25])  # singular values 3 and 1
    assert effective_rank(np.diag([3.0, 1.0])) == pytest.approx(math.exp(-(p * np.log(p)).sum()))
    assert effective_rank(np.zeros((3, 3))) == 0.0


def test_effective_rank_metric_on_a_real_gpt2():
    model = _gpt2()
    result = EffectiveRankMetric(EffectiveRankConfig(n_sequences=4, seq_len=16)).evaluate(model)
    hidden = result["hidden_states"]
    assert len(hidden["effective_rank"]) == 3  # embeddings + 2 blocks
    assert all(1.0 <= r <= m for r, m in zip(hidden["effective_rank"], hidden["max_rank"], strict=True))
    names = {row["name"] for row in result["weights"]}
    two_d = {n for n, p in model.named_parameters() if p.ndim == 2}
    assert names == two_d
    attn = next(row for row in result["weights"] if row["name"] == "transformer.h.1.attn.c_attn.weight")
    assert attn["layer"] == 1 and attn["max_rank"] == 16


# --------------------------------------------------------------------------- pair metrics on real models


def test_cka_metric_model_with_itself_and_another():
    model, other = _gpt2(seed=0), _gpt2(seed=1)
    metric = CKAMetric(CKAConfig(n_sequences=4, seq_len=16))
    same = metric.evaluate(model, model)
    assert np.allclose(same["diagonal"], 1.0, atol=1e-6)
    assert same["layers"] == [3, 3] and len(same["matrix"]) == 3
    diff = metric.evaluate(model, other)
    assert all(0.0 <= v <= 1.0 for row in diff["matrix"] for v in row)
    assert diff["mean_diagonal"] < 0.999


def test_prediction_divergence_on_real_models():
    model, other = _gpt2(seed=0), _gpt2(seed=1)
    metric = PredictionDivergenceMetric()
    same = metric.evaluate(model, model)
    assert same["kl_pq"] == pytest.approx(0.0, abs=1e-9) and same["js"] == pytest.approx(0.0, abs=1e-9)
    assert same["top1_agreement"] == 1.0
    diff = metric.evaluate(model, other)
    assert 0.0 < diff["js"] <= math.log(2)
    assert diff["positions"] == 16 * 64
    with pytest.raises(UserError, match="share a tokenizer"):
        metric.evaluate(model, _gpt2(vocab_size=60))


# --------------------------------------------------------------------------- inputs


def test_token_windows_from_random_ids_and_from_a_task():
    from pptrain_core.tasks import resolve

    ids, source = token_windows(None, 30, InputsConfig(n_sequences=3, seq_len=8, seed=4))
    assert ids.shape == (3, 8) and ids.min() >= 0 and ids.max() < 30
    again, _ = token_windows(None, 30, InputsConfig(n_sequences=3, seq_len=8, seed=4))
    assert np.array_equal(ids, again) and source["source"] == "uniform random ids"
    dyck = resolve("dyck:smoke").build()
    ids, source = token_windows(dyck, dyck.vocab.size, InputsConfig(n_sequences=2, seq_len=40))
    assert ids.shape == (2, 40) and source["source"] == "task eval split"
    with pytest.raises(UserError, match="token embeddings"):
        token_windows(dyck, 3, InputsConfig(n_sequences=2, seq_len=40))
