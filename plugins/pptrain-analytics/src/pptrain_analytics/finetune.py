"""Fine-tuning probes (metrics ``needle`` and ``reversed_addition``): Jiang et al.'s algorithmic protocol.

Given a starting model (or none: from scratch), build the probe model, a GPT-2 of
Jiang et al.'s size (2 layers, 4 heads, width 16, dropout 0, untied head, the task's
``n_positions``); transfer the starting weights into it under a named policy (default
``mean_embeddings``: body copied, every token-embedding row set to the mean source row,
position rows copied); fine-tune it on the probe task with :class:`PrePreTrainer`; and
measure accuracy on the scored positions only (needle: the answer token) on held-out
examples, at the start, every ``eval_every`` steps, and at the end.

The accuracy is the official one: argmax of the logits at position ``t - 1`` against
token ``t``, pooled over every scored position of every eval example.
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from pptrain_analytics.metric_specs import FinetuneProbeConfig
from pptrain_core.errors import UserError

#: The paper's fine-tuning settings (Jiang et al., downstream/algorithmic_tasks), for the record.
PAPER_SETTINGS = {
    "steps": 10_000,
    "batch_size": 1_000,
    "lr": 1e-3,
    "schedule": "cosine",
    "warmup_steps": 500,
    "weight_decay": 0.001,
    "eval_examples": 4_000,
    "eval_every": 50,
    "n_layer": 2,
    "n_head": 4,
    "n_embd": 16,
}


# --------------------------------------------------------------------------- scoring (pure)


def score_predictions(predicted_next: np.ndarray, tokens: np.ndarray, loss_mask: np.ndarray) -> dict[str, Any]:
    """Accuracy on the scored positions only.

    ``predicted_next[b, t]`` is the model's argmax at position ``t`` (its guess for token
    ``t + 1``); it has one column fewer than ``tokens`` (or the same number, the last column
    then being ignored). ``loss_mask[b, t] == 1`` marks token ``t`` as scored.

    Returns ``accuracy`` (correct scored tokens / scored tokens, pooled, as the official
    ``compute_metrics``), ``sequence_accuracy`` (examples whose scored tokens are all
    right) and ``targets`` (scored tokens).
    """
    tokens = np.asarray(tokens)
    mask = np.asarray(loss_mask).astype(bool)
    pred = np.asarray(predicted_next)[:, : tokens.shape[1] - 1]
    target, scored = tokens[:, 1:], mask[:, 1:]
    if mask[:, 0].any():
        raise ValueError("the first token cannot be scored: nothing precedes it")
    correct = (pred == target) & scored
    n = int(scored.sum())
    rows = scored.any(axis=1)
    all_right = (correct.sum(axis=1) == scored.sum(axis=1)) & rows
    return {
        "accuracy": float(correct.sum() / n) if n else float("nan"),
        "sequence_accuracy": float(all_right.sum() / rows.sum()) if rows.any() else float("nan"),
        "targets": n,
    }


def predict_next(model: Any, tokens: Any, batch_size: int = 256) -> np.ndarray:
    """Argmax next-token predictions of ``model`` for every position of ``tokens`` (N, L) -> (N, L)."""
    import torch

    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    try:
        with torch.no_grad():
            for start in range(0, tokens.shape[0], batch_size):
                batch = torch.as_tensor(tokens[start : start + batch_size], device=device)
                result = model(input_ids=batch)
                logits = result if isinstance(result, torch.Tensor) else getattr(result, "logits", None)
                if logits is None:
                    logits = result["logits"] if isinstance(result, dict) else result[0]
                out.append(logits.argmax(-1).cpu().numpy())
    finally:
        model.train(was_training)
    return np.concatenate(out)


# --------------------------------------------------------------------------- plumbing


class _Prebuilt:
    """An adapter whose ``build`` hands the trainer a model that already holds the transfer."""

    def __init__(self, inner: Any, model: Any):
        self.inner, self.model = inner, model
        self.name, self.config = inner.name, inner.config

    def build(self, vocab_size: int, *, seed: int | None = None) -> Any:
        rows = self.model.get_input_embeddings().weight.shape[0]
        if rows != vocab_size:  # pragma: no cover - guarded by construction
            raise RuntimeError(f"the probe model has {rows} token rows, the task {vocab_size}")
        return self.model

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _accuracy_callback(eval_tokens: np.ndarray, eval_mask: np.ndarray, every: int, curve: list[dict[str, Any]]):
    from transformers import TrainerCallback

    class AccuracyCurve(TrainerCallback):
        """Measure the probe accuracy on the held-out examples at step 0, every ``every`` steps and at the end."""

        def _measure(self, model: Any, step: int, batch: int) -> None:
            scores = score_predictions(predict_next(model, eval_tokens), eval_tokens, eval_mask)
            curve.append({"step": step, "examples_seen": step * batch, **scores})

        def on_train_begin(self, args, state, control, model=None, **kwargs):
            if state.global_step == 0 and model is not None:
                self._measure(model, 0, args.per_device_train_batch_size * args.gradient_accumulation_steps)

        def on_step_end(self, args, state, control, model=None, **kwargs):
            step = state.global_step
            if model is not None and ((every and step % every == 0) or step == state.max_steps):
                self._measure(model, step, args.per_device_train_batch_size * args.gradient_accumulation_steps)

    return AccuracyCurve()


def _architecture_problem(report: Any, source: Any, config: FinetuneProbeConfig) -> str | None:
    """Why the starting model does not fit the probe model (None when the transfer is sound)."""
    rows = list(report.rows)
    body = {"attention", "mlp", "norm"}
    bad = [r for r in rows if r.action == "shape_mismatch"]
    bad += [r for r in rows if r.role in body and r.action in ("kept", "source_only")]
    moved = [r for r in rows if r.action in ("copied", "partially_copied", "mean_initialised")]
    if not bad and moved:
        return None
    cfg = getattr(source, "config", None)
    have = ", ".join(
        f"{k}={getattr(cfg, k)}" for k in ("n_layer", "n_head", "n_embd") if isinstance(getattr(cfg, k, None), int)
    )
    want = f"n_layer={config.n_layer}, n_head={config.n_head}, n_embd={config.n_embd}"
    first = bad[0] if bad else None
    detail = f" ({first.name}: source {first.source_shape}, probe {first.target_shape})" if first else ""
    src = f"the starting model has {have}" if have else "the starting model is not a GPT-2 of that shape"
    return (
        f"the probe fine-tunes a GPT-2 with {want} and {src}{detail}; set n_layer, n_head and n_embd "
        "to the starting model's (e.g. --set n_embd=64), as Jiang et al. pre-pretrain the probe's own architecture"
    )


# --------------------------------------------------------------------------- the probes


class FinetuneProbe:
    """``evaluate(model=None, *, adapter=None)``: fine-tune the probe model from ``model`` (None: scratch)."""

    task_name: ClassVar[str] = ""
    #: Tokens a random guess gets right, as a function of the task (None: not meaningful).
    chance: ClassVar[Any] = None

    def __init__(self, config: FinetuneProbeConfig | None = None):
        self.config = config or FinetuneProbeConfig()

    def resolved_task(self) -> Any:
        """The probe task at the configured preset (from this plugin's own spec, no registry needed)."""
        from pptrain_analytics.probe_specs import PROBE_TASKS
        from pptrain_core.config import structure
        from pptrain_core.tasks import ResolvedTask, find_preset

        spec = next(s for s in PROBE_TASKS if s.name == self.task_name)
        preset = find_preset(spec, self.config.preset)
        config = structure(dict(preset.values), spec.config_cls, "$.task.params")
        return ResolvedTask(spec=spec, preset=preset, config=config)

    def probe_adapter(self, n_positions: int, registry: Any = None) -> Any:
        """The ``hf_causal_lm`` adapter of the probe model (GPT-2, dropout 0, untied head)."""
        from pptrain_core.training.job import build_adapter

        c = self.config
        overrides = {
            "n_layer": c.n_layer,
            "n_head": c.n_head,
            "n_embd": c.n_embd,
            "n_positions": n_positions,
            "resid_pdrop": 0.0,
            "embd_pdrop": 0.0,
            "attn_pdrop": 0.0,
            "tie_word_embeddings": False,
        }
        params = {"model_type": "gpt2", "overrides": overrides, "attn_implementation": "eager"}
        return build_adapter("hf_causal_lm", params, registry=registry, path="$.metric.params")

    def evaluate(
        self, model: Any = None, *, adapter: Any = None, registry: Any = None, progress: bool = False
    ) -> dict[str, Any]:
        """Transfer ``model`` (None: scratch) into the probe model, fine-tune, and measure accuracy."""
        from pptrain_core.config import unstructure
        from pptrain_core.data import VirtualDataset
        from pptrain_core.training.config import RunConfig
        from pptrain_core.training.trainer import PrePreTrainer
        from pptrain_core.transfer import build_policy

        c = self.config
        t0 = time.perf_counter()
        resolved = self.resolved_task()
        task = resolved.build()
        n_positions = c.n_positions or task.n_positions
        if n_positions < task.length:
            raise UserError(
                f"n_positions {n_positions} is shorter than the {task.length}-token {self.task_name} sequences; "
                f"use at least {task.length} (or 0 for the paper's value)."
            )
        target_adapter = self.probe_adapter(n_positions, registry)
        target = target_adapter.build(task.vocab.size, seed=c.model_seed)
        transfer: dict[str, Any] | None = None
        if model is not None:
            policy = build_policy(c.policy, registry=registry, path="$.metric.params.policy")
            source_infos = (adapter or target_adapter).parameters_info(model)
            state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
            report = policy.apply(state, source_infos, target, target_adapter.parameters_info(target))
            problem = _architecture_problem(report, model, c)
            if problem:
                raise UserError(problem)
            counts: dict[str, int] = {}
            roles: dict[str, set[str]] = {}
            for row in report.rows:
                counts[row.action] = counts.get(row.action, 0) + 1
                roles.setdefault(row.role or "unknown", set()).add(row.action)
            transfer = {
                "policy": c.policy,
                "actions": counts,
                "roles": {role: sorted(actions) for role, actions in sorted(roles.items())},
                "notes": list(report.notes),
            }

        eval_set = VirtualDataset(task, seed=c.seed, split="eval", length=c.eval_examples)
        eval_tokens = np.stack([ex.tokens for ex in eval_set])
        eval_mask = np.stack([ex.loss_mask for ex in eval_set])
        curve: list[dict[str, Any]] = []
        callback = _accuracy_callback(eval_tokens, eval_mask, c.eval_every, curve)
        with tempfile.TemporaryDirectory(prefix="pptrain-probe-") as tmp:
            run = RunConfig(
                output_dir=c.output_dir or str(Path(tmp) / "run"),
                max_steps=c.steps,
                batch_size=c.batch_size,
                lr=c.lr,
                schedule=c.schedule,
                warmup_steps=c.warmup_steps,
                weight_decay=c.weight_decay,
                data_seed=c.seed,
                model_seed=c.model_seed,
                logging_steps=max(1, c.eval_every or c.steps),
                eval_examples=0,
                resume="never",
                progress=progress,
                export_bundle=False,
            )
            fit = PrePreTrainer(
                resolved, _Prebuilt(target_adapter, target), run, callbacks=[callback], registry=registry
            ).fit()
        final = curve[-1]
        chance = self.chance(task) if self.chance else None
        return {
            "task": resolved.ref,
            "task_config": unstructure(resolved.config),
            "start": "scratch" if model is None else "transferred",
            "transfer": transfer,
            "accuracy": final["accuracy"],
            "sequence_accuracy": final["sequence_accuracy"],
            "initial_accuracy": curve[0]["accuracy"],
            "chance_accuracy": chance,
            "eval_examples": c.eval_examples,
            "eval_targets": final["targets"],
            "curve": curve,
            "model": {
                "model_type": "gpt2",
                "n_layer": c.n_layer,
                "n_head": c.n_head,
                "n_embd": c.n_embd,
                "n_positions": n_positions,
                "parameters": int(sum(p.numel() for p in target.parameters())),
            },
            "training": {
                "steps": fit.summary.get("steps"),
                "batch_size": c.batch_size,
                "lr": c.lr,
                "schedule": c.schedule,
                "warmup_steps": c.warmup_steps,
                "weight_decay": c.weight_decay,
                "seed": c.seed,
                "model_seed": c.model_seed,
                "train_loss_last": _finite(fit.summary.get("train_loss_last")),
                "tokens_seen": fit.summary.get("tokens_seen"),
            },
            "paper_settings": PAPER_SETTINGS,
            "wall_s": round(time.perf_counter() - t0, 3),
        }


def _finite(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def _needle_chance(task: Any) -> float:
    return 1.0 / (task.half - 1)


class NeedleProbe(FinetuneProbe):
    """Metric ``needle``: Jiang et al.'s needle-in-a-haystack probe (``condattendstream_30``)."""

    task_name = "needle"
    chance = staticmethod(_needle_chance)


class ReversedAdditionProbe(FinetuneProbe):
    """Metric ``reversed_addition``: Jiang et al.'s reversed-addition probe (``additionstream_10``)."""

    task_name = "reversed_addition"


__all__ = [
    "FinetuneProbe",
    "NeedleProbe",
    "PAPER_SETTINGS",
    "ReversedAdditionProbe",
    "predict_next",
    "score_predictions",
]
