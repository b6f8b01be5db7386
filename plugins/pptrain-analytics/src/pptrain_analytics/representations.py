"""Representation metrics: layer-wise linear CKA, prediction divergence, induction-head score, effective rank.

The math lives in small pure numpy functions (:func:`linear_cka`, :func:`divergence_terms`,
:func:`induction_scores`, :func:`effective_rank`) that the tests check against
properties and hand-computed values; the metric classes only run the models and feed
those functions.

Inputs (CKA, divergence, effective rank) come from :func:`token_windows`: windows of a
task's eval split, or uniform random ids. A model here is a ``transformers`` causal LM
(hidden states and attentions come from ``output_hidden_states`` / ``output_attentions``;
attentions need ``attn_implementation="eager"``, which ``hf_causal_lm`` uses by default);
prediction divergence needs only logits, so any causal LM whose forward returns them works.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from pptrain_analytics.metric_specs import (
    CKAConfig,
    EffectiveRankConfig,
    InductionHeadConfig,
    InputsConfig,
    PredictionDivergenceConfig,
)
from pptrain_core.errors import UserError

LN2 = math.log(2.0)

# --------------------------------------------------------------------------- pure math


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA (Kornblith et al. 2019) of two feature matrices over the same ``n`` examples.

    ``x`` is ``(n, d1)``, ``y`` is ``(n, d2)``. With column-centred ``X`` and ``Y``:
    ``CKA = ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F)``, in ``[0, 1]``; invariant to
    orthogonal transforms and isotropic scaling of either side. NaN when a side has no
    variance.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(f"need two (n, d) matrices over the same n, got {x.shape} and {y.shape}")
    x = x - x.mean(axis=0, keepdims=True)
    y = y - y.mean(axis=0, keepdims=True)
    cross = np.linalg.norm(y.T @ x, "fro") ** 2
    norm = np.linalg.norm(x.T @ x, "fro") * np.linalg.norm(y.T @ y, "fro")
    if norm <= 0.0 or not np.isfinite(norm):
        return float("nan")
    return float(cross / norm)


def divergence_terms(logp: np.ndarray, logq: np.ndarray) -> dict[str, np.ndarray]:
    """Per-row divergences of two distributions given as log-probabilities (natural log).

    ``logp`` and ``logq`` are ``(n, V)`` and each row sums to 1 after ``exp``. Returns
    ``kl_pq`` = KL(p || q) = sum p (log p - log q), ``kl_qp`` = KL(q || p), and ``js`` =
    1/2 KL(p || m) + 1/2 KL(q || m) with m = (p + q) / 2 (bounded by ln 2), each of shape
    ``(n,)``; terms with zero probability contribute 0.
    """
    logp = np.asarray(logp, dtype=np.float64)
    logq = np.asarray(logq, dtype=np.float64)
    if logp.shape != logq.shape:
        raise ValueError(f"the two distributions differ in shape: {logp.shape} and {logq.shape}")
    p, q = np.exp(logp), np.exp(logq)
    logm = np.logaddexp(logp, logq) - LN2

    def kl(prob: np.ndarray, logprob: np.ndarray, logother: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            terms = np.where(prob > 0, prob * (logprob - logother), 0.0)
        return terms.sum(axis=-1)

    return {
        "kl_pq": kl(p, logp, logq),
        "kl_qp": kl(q, logq, logp),
        "js": 0.5 * kl(p, logp, logm) + 0.5 * kl(q, logq, logm),
    }


def induction_scores(attention: np.ndarray, block_len: int, start: int = 0) -> np.ndarray:
    """Olsson et al.'s prefix-matching score per head, from attention patterns.

    ``attention`` is ``(batch, heads, T, T)`` (rows: query positions, columns: keys) for
    sequences whose positions ``start .. start+block_len-1`` hold a block of tokens and
    ``start+block_len .. start+2*block_len-1`` the same block again. For a query at
    ``start + block_len + j`` (the repeat of the token at ``start + j``), the induction
    target is ``start + j + 1``, the token that followed the earlier occurrence. Returns
    the mean attention on that target over the batch and every ``j``: shape ``(heads,)``.
    """
    a = np.asarray(attention, dtype=np.float64)
    if a.ndim != 4:
        raise ValueError(f"attention must be (batch, heads, T, T), got shape {a.shape}")
    if start + 2 * block_len > a.shape[-1]:
        raise ValueError(f"{a.shape[-1]} positions cannot hold two blocks of {block_len} after {start}")
    j = np.arange(block_len)
    queries = start + block_len + j
    keys = start + j + 1
    return a[:, :, queries, keys].mean(axis=(0, 2))


def uniform_induction_baseline(block_len: int, start: int = 0) -> float:
    """What :func:`induction_scores` gives for causal attention spread evenly over the prefix."""
    queries = start + block_len + np.arange(block_len)
    return float(np.mean(1.0 / (queries + 1)))


def effective_rank(matrix: np.ndarray) -> float:
    """Roy & Vetterli's effective rank: ``exp(H)``, ``H`` the Shannon entropy of ``sigma / sum(sigma)``.

    Between 1 (rank one) and ``min(m, n)`` (all singular values equal); 0 for the zero matrix.
    """
    s = np.linalg.svd(np.asarray(matrix, dtype=np.float64), compute_uv=False)
    total = s.sum()
    if total <= 0.0 or not np.isfinite(total):
        return 0.0
    p = s / total
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


# --------------------------------------------------------------------------- inputs


def vocab_size_of(model: Any) -> int | None:
    """The number of token-embedding rows of a model (None when it cannot tell)."""
    get = getattr(model, "get_input_embeddings", None)
    if callable(get):
        try:
            return int(get().weight.shape[0])
        except (AttributeError, NotImplementedError):
            pass
    size = getattr(getattr(model, "config", None), "vocab_size", None)
    return int(size) if isinstance(size, int) else None


def token_windows(task: Any, vocab_limit: int, config: InputsConfig) -> tuple[np.ndarray, dict[str, Any]]:
    """``(n_sequences, seq_len)`` token ids and a description of where they come from.

    With a built task: its eval-split examples (from index ``seed * 10**6`` on) joined with
    its end token (when it has one) and cut into consecutive windows. Without: uniform ids in
    ``[0, vocab_limit)`` from the stream ``(seed, "analytics-inputs")``.
    """
    from pptrain_core.data import example_at, rng_for

    n, length = config.n_sequences, config.seq_len
    if task is None:
        ids = rng_for(config.seed, "analytics-inputs").integers(0, vocab_limit, size=(n, length))
        return ids.astype(np.int64), {"source": "uniform random ids", "vocab": vocab_limit, "seed": config.seed}
    need = n * length
    parts: list[np.ndarray] = []
    have, index = 0, config.seed * 10**6
    eos = task.vocab.eos_id
    while have < need:
        ex = example_at(task, config.seed, "eval", index)
        index += 1
        tokens = ex.tokens
        if eos is not None and (not len(tokens) or tokens[-1] != eos):
            tokens = np.append(tokens, eos)
        parts.append(tokens)
        have += len(tokens)
        if index - config.seed * 10**6 > 10 * need + 1000:
            raise UserError("the task produced too few tokens for the requested windows; lower n_sequences or seq_len.")
    ids = np.concatenate(parts)[:need].reshape(n, length).astype(np.int64)
    if int(ids.max()) >= vocab_limit:
        raise UserError(
            f"the task's token ids go up to {int(ids.max())} but the model has only {vocab_limit} token embeddings; "
            "choose a task with the model's vocabulary (--task) or leave --task out for random ids."
        )
    return ids, {"source": "task eval split", "vocab": task.vocab.size, "examples": index - config.seed * 10**6}


def _outputs(model: Any, ids: Any, **flags: bool) -> Any:
    return model(input_ids=ids, **flags)


def _logits(out: Any) -> Any:
    import torch

    if isinstance(out, torch.Tensor):
        return out
    logits = getattr(out, "logits", None)
    if logits is None and isinstance(out, dict):
        logits = out.get("logits")
    if logits is None:
        logits = out[0]
    return logits


def hidden_states(model: Any, ids: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Per layer (embeddings first, as ``output_hidden_states`` gives them) a ``(tokens, width)`` matrix."""
    import torch

    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    layers: list[list[np.ndarray]] | None = None
    try:
        with torch.no_grad():
            for start in range(0, len(ids), batch_size):
                batch = torch.as_tensor(ids[start : start + batch_size], device=device)
                try:
                    out = _outputs(model, batch, output_hidden_states=True)
                except TypeError:
                    out = None
                states = getattr(out, "hidden_states", None)
                if not states:
                    raise UserError(
                        f"{type(model).__name__} returns no hidden states; this metric needs a transformers model "
                        "(output_hidden_states)."
                    )
                if layers is None:
                    layers = [[] for _ in states]
                for i, h in enumerate(states):
                    layers[i].append(h.reshape(-1, h.shape[-1]).float().cpu().numpy())
    finally:
        model.train(was_training)
    return [np.concatenate(parts) for parts in layers or []]


# --------------------------------------------------------------------------- metrics


class CKAMetric:
    """Metric ``cka``: ``evaluate(model, other, *, task=None)``."""

    def __init__(self, config: CKAConfig | None = None):
        self.config = config or CKAConfig()

    def evaluate(self, model: Any, other: Any, *, task: Any = None) -> dict[str, Any]:
        c = self.config
        limit = min(v for v in (vocab_size_of(model), vocab_size_of(other)) if v is not None)
        ids, source = token_windows(task, limit, c)
        a = hidden_states(model, ids, c.batch_size)
        b = hidden_states(other, ids, c.batch_size)
        matrix = [[linear_cka(x, y) for y in b] for x in a]
        diagonal = [matrix[i][i] for i in range(len(a))] if len(a) == len(b) else None
        return {
            "layers": [len(a), len(b)],
            "matrix": matrix,
            "diagonal": diagonal,
            "mean_diagonal": float(np.mean(diagonal)) if diagonal else None,
            "tokens": int(ids.size),
            "inputs": source,
            "note": "layer 0 is the embedding output; the last hidden state is after the final norm",
        }


class PredictionDivergenceMetric:
    """Metric ``prediction_divergence``: ``evaluate(model, other, *, task=None)``; p = model, q = other."""

    def __init__(self, config: PredictionDivergenceConfig | None = None):
        self.config = config or PredictionDivergenceConfig()

    def evaluate(self, model: Any, other: Any, *, task: Any = None) -> dict[str, Any]:
        import torch

        c = self.config
        va, vb = vocab_size_of(model), vocab_size_of(other)
        if va is not None and vb is not None and va != vb:
            raise UserError(
                f"prediction_divergence compares next-token distributions over one vocabulary, but the models have "
                f"{va} and {vb} token embeddings; compare models that share a tokenizer."
            )
        ids, source = token_windows(task, va or vb or 2, c)
        sums = {"kl_pq": 0.0, "kl_qp": 0.0, "js": 0.0}
        agree = 0
        count = 0
        models = [(m, next(m.parameters()).device, m.training) for m in (model, other)]
        try:
            for m, _, _ in models:
                m.eval()
            with torch.no_grad():
                for start in range(0, len(ids), c.batch_size):
                    batch = torch.as_tensor(ids[start : start + c.batch_size])
                    lp, lq = (
                        torch.log_softmax(_logits(_outputs(m, batch.to(dev))).double(), dim=-1).cpu()
                        for m, dev, _ in models
                    )
                    if lp.shape != lq.shape:
                        raise UserError(
                            f"the models' logits differ in shape ({tuple(lp.shape)} and {tuple(lq.shape)}); "
                            "compare models that share a tokenizer."
                        )
                    lp, lq = lp.reshape(-1, lp.shape[-1]).numpy(), lq.reshape(-1, lq.shape[-1]).numpy()
                    terms = divergence_terms(lp, lq)
                    for key in sums:
                        sums[key] += float(terms[key].sum())
                    agree += int((lp.argmax(-1) == lq.argmax(-1)).sum())
                    count += lp.shape[0]
        finally:
            for m, _, training in models:
                m.train(training)
        out = {key: value / count for key, value in sums.items()}
        return {
            **out,
            "js_bound": LN2,
            "top1_agreement": agree / count,
            "positions": count,
            "units": "nats",
            "inputs": source,
        }


class InductionHeadMetric:
    """Metric ``induction_head_score``: ``evaluate(model)``; per layer and head, max and where it is."""

    def __init__(self, config: InductionHeadConfig | None = None):
        self.config = config or InductionHeadConfig()

    def sequences(self, vocab: int) -> np.ndarray:
        """``(n_sequences, 2 * block_len)``: a random block, then the same block again.

        Tokens inside a block are distinct when the vocabulary allows (so "the earlier
        occurrence" is unique), drawn from the stream ``(seed, "induction")``.
        """
        from pptrain_core.data import rng_for

        c = self.config
        rng = rng_for(c.seed, "induction")
        rows = []
        for _ in range(c.n_sequences):
            if c.block_len <= vocab:
                block = rng.choice(vocab, size=c.block_len, replace=False)
            else:
                block = rng.integers(0, vocab, size=c.block_len)
            rows.append(np.concatenate([block, block]))
        return np.stack(rows).astype(np.int64)

    def evaluate(self, model: Any) -> dict[str, Any]:
        import torch

        c = self.config
        vocab = vocab_size_of(model)
        if vocab is None:
            raise UserError("induction_head_score cannot tell the model's vocabulary size; use a transformers model.")
        n_pos = getattr(getattr(model, "config", None), "n_positions", None) or getattr(
            getattr(model, "config", None), "max_position_embeddings", None
        )
        if isinstance(n_pos, int) and 2 * c.block_len > n_pos:
            raise UserError(
                f"block_len {c.block_len} needs {2 * c.block_len} positions but the model has {n_pos}; "
                f"use --set block_len={n_pos // 2} or less."
            )
        ids = self.sequences(vocab)
        device = next(model.parameters()).device
        totals: np.ndarray | None = None
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                for start in range(0, len(ids), c.batch_size):
                    batch = torch.as_tensor(ids[start : start + c.batch_size], device=device)
                    try:
                        out = _outputs(model, batch, output_attentions=True)
                    except TypeError:
                        out = None
                    attentions = getattr(out, "attentions", None)
                    if not attentions or any(a is None for a in attentions):
                        raise UserError(
                            "the model returns no attention weights; load it with attn_implementation='eager' "
                            "(hf_causal_lm's default) to measure induction heads."
                        )
                    scores = np.stack(
                        [induction_scores(a.float().cpu().numpy(), c.block_len) * len(batch) for a in attentions]
                    )
                    totals = scores if totals is None else totals + scores
        finally:
            model.train(was_training)
        per_head = totals / len(ids)
        layer, head = np.unravel_index(int(per_head.argmax()), per_head.shape)
        return {
            "scores": per_head.tolist(),
            "max": float(per_head.max()),
            "argmax": {"layer": int(layer), "head": int(head)},
            "uniform_baseline": uniform_induction_baseline(c.block_len),
            "block_len": c.block_len,
            "sequences": c.n_sequences,
        }


class EffectiveRankMetric:
    """Metric ``effective_rank``: ``evaluate(model, *, task=None)``; hidden states and/or 2-D weights."""

    def __init__(self, config: EffectiveRankConfig | None = None):
        self.config = config or EffectiveRankConfig()

    def evaluate(self, model: Any, *, task: Any = None) -> dict[str, Any]:
        from pptrain_core.models import layer_index

        c = self.config
        out: dict[str, Any] = {"of": c.of}
        if c.of in ("both", "hidden_states"):
            vocab = vocab_size_of(model)
            if vocab is None:
                raise UserError("effective_rank cannot tell the model's vocabulary size; use a transformers model.")
            ids, source = token_windows(task, vocab, c)
            states = hidden_states(model, ids, c.batch_size)
            ranks = [effective_rank(h - h.mean(axis=0) if c.center else h) for h in states]
            out["hidden_states"] = {
                "effective_rank": ranks,
                "max_rank": [int(min(h.shape)) for h in states],
                "centered": c.center,
                "tokens": int(ids.size),
                "inputs": source,
            }
        if c.of in ("both", "weights"):
            rows = []
            for name, param in model.named_parameters():
                if param.ndim != 2:
                    continue
                w = param.detach().float().cpu().numpy()
                rows.append(
                    {
                        "name": name,
                        "layer": layer_index(name),
                        "shape": list(w.shape),
                        "effective_rank": effective_rank(w),
                        "max_rank": int(min(w.shape)),
                    }
                )
            out["weights"] = rows
        return out
