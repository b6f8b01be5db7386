"""``pptrain compare``: the same downstream model and budget for several arms, over seeds.

For every seed and arm (see :class:`~pptrain_analytics.compare_config.ArmConfig`):

1. *phase 1* (synthetic, shuffled, natural arms): ``PrePreTrainer`` trains the downstream
   architecture on the arm's data for the synthetic budget ``S``, seeded by the seed, and
   exports a bundle; a bundle arm names an existing bundle;
2. a fresh downstream model is built with the seed (the same initialisation for every arm
   of a seed) and the bundle is transferred into it under the arm's policy
   (``pptrain_core.transfer``);
3. *downstream*: ``PrePreTrainer`` trains it on the ``text`` task for the arm's downstream
   budget (``D``; ``D - S`` for pre-pretrained arms in the substitutive design), reading
   the same windows in the same order for every arm of a seed, with the same optimiser; a
   ``TrainerCallback`` scores the fixed validation windows at downstream token 0 (after
   the transfer, before any step), every ``eval_every_tokens`` and at the end.

The run directory (``compare.json``, ``arms/<arm>/seed-<k>/{curve.jsonl, result.json}``)
is the contract with ``pptrain report``; see ``docs/compare.md``. Every JSON file is
written atomically. A finished (arm, seed) is skipped when the study is run again.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from pptrain_analytics.compare_config import ArmConfig, CompareConfig
from pptrain_core.config import load_file, parse_override, set_dotted, structure, unstructure
from pptrain_core.errors import ConfigError, UserError

FORMAT = 1
DEFAULT_POLICIES = {"synthetic": "reinit_embeddings", "shuffled": "reinit_embeddings", "natural": "full"}


# --------------------------------------------------------------------------- resolution


@attrs.define
class ResolvedArm:
    config: ArmConfig
    index: int
    task: Any = None
    """synthetic / shuffled: the resolved task of phase 1."""
    policy_name: str | None = None
    policy: Any = None
    bundle: Any = None

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def source(self) -> str | None:
        if self.config.kind == "bundle":
            return str(self.config.bundle)
        if self.config.kind in ("synthetic", "shuffled"):
            return str(self.config.task)
        if self.config.kind == "natural":
            return "downstream corpus"
        return None


@attrs.define
class Plan:
    """Budgets in whole optimizer steps (a token budget is rounded up to whole steps)."""

    downstream_tokens_per_step: int
    downstream_steps: int
    eval_every_steps: int
    synthetic_batch: int
    synthetic_seq_len: int
    synthetic_steps: int
    pre_downstream_steps: int
    """Downstream steps of an arm with a phase 1 (or a bundle): ``D`` additive, ``D - S`` substitutive."""

    @property
    def downstream_tokens(self) -> int:
        return self.downstream_steps * self.downstream_tokens_per_step

    @property
    def synthetic_tokens(self) -> int:
        return self.synthetic_steps * self.synthetic_batch * self.synthetic_seq_len

    def steps_for(self, arm: ArmConfig) -> int:
        return self.downstream_steps if arm.kind == "scratch" else self.pre_downstream_steps


@attrs.define
class ResolvedCompare:
    config: CompareConfig
    arms: list[ResolvedArm]
    adapter: Any
    registry: Any
    plan: Plan

    @property
    def run_dir(self) -> Path:
        return Path(self.config.output_dir)


def _at(path: str, fn: Callable[[], Any]) -> Any:
    """Run ``fn``; a :class:`UserError` that names no path is re-raised at ``path``."""
    try:
        return fn()
    except ConfigError:
        raise
    except UserError as exc:
        raise ConfigError(path, str(exc).rstrip(".")) from None


def _plan(config: CompareConfig) -> Plan:
    d = config.downstream
    tps = d.batch_size * d.seq_len
    steps_d = max(1, math.ceil(d.tokens / tps))
    every = max(1, round(d.eval_every_tokens / tps)) if d.eval_every_tokens else 0
    s = config.synthetic
    if s is None:
        return Plan(tps, steps_d, every, d.batch_size, d.seq_len, 0, steps_d)
    batch = s.batch_size or d.batch_size
    seq = s.seq_len or d.seq_len
    steps_s = max(1, math.ceil(s.tokens / (batch * seq)))
    pre = steps_d
    if config.design == "substitutive":
        pre = round((steps_d * tps - steps_s * batch * seq) / tps)
        if pre < 1:
            raise ConfigError(
                "$.synthetic.tokens",
                f"leaves no downstream step for pre-pretrained arms ({steps_s * batch * seq} synthetic tokens after "
                f"rounding to whole steps, {steps_d * tps} downstream); lower it or raise downstream.tokens",
            )
    return Plan(tps, steps_d, every, batch, seq, steps_s, pre)


def _check_positions(adapter: Any, config: CompareConfig, plan: Plan) -> None:
    """A model with fewer positions than a window would fail in every arm: say so before anything runs."""
    hf_config = getattr(adapter, "hf_config", None)
    if not callable(hf_config):
        return
    try:
        cfg = hf_config(512)
    except Exception:  # the adapter reports its own problems when it builds
        return
    positions = getattr(cfg, "n_positions", None) or getattr(cfg, "max_position_embeddings", None)
    needed = {"downstream.seq_len": config.downstream.seq_len}
    if config.synthetic is not None:  # packed synthetic windows and the natural warm-up
        needed["synthetic.seq_len"] = plan.synthetic_seq_len
    for field, length in needed.items():
        if isinstance(positions, int) and positions < length:
            raise ConfigError(
                "$.model.params",
                f"the model has {positions} positions, fewer than {field} = {length}; raise its n_positions "
                "(max_position_embeddings) or shorten the windows",
            )


def resolve_compare(data: Mapping[str, Any], *, registry: Any = None) -> ResolvedCompare:
    """Validate a whole study (config, tasks, policies, bundles, model, corpus) before anything is written."""
    from pptrain_analytics.corpus import check_sources
    from pptrain_core.bundle import load_bundle
    from pptrain_core.plugins import get_registry
    from pptrain_core.tasks import resolve
    from pptrain_core.training.job import build_adapter
    from pptrain_core.transfer import build_policy

    reg = registry or get_registry()
    config: CompareConfig = structure(dict(data), CompareConfig, "$")
    if config.design == "substitutive":
        for arm in config.arms:
            if arm.kind == "bundle" and config.synthetic is None:
                raise ConfigError(
                    "$.synthetic",
                    f"is required by bundle arm {arm.name!r} in the substitutive design: set "
                    "synthetic.tokens to the bundle's pre-pretraining budget",
                )
    plan = _plan(config)
    check_sources(config.corpus)
    adapter = _at("$.model.adapter", lambda: build_adapter(config.model.adapter, config.model.params, registry=reg))
    _check_positions(adapter, config, plan)
    arms = []
    for i, arm in enumerate(config.arms):
        ra = ResolvedArm(config=arm, index=i)
        where = f"$.arms[{i}]"
        if arm.kind in ("synthetic", "shuffled"):
            inner = _at(
                f"{where}.task", lambda a=arm, w=where: resolve(a.task, a.params, registry=reg, path=f"{w}.params")
            )
            if arm.kind == "synthetic":
                ra.task = inner
            else:
                params = {"task": inner.ref, "params": dict(arm.params), "keep_first": arm.keep_first}
                ra.task = _at(f"{where}.kind", lambda p=params, w=where: resolve("shuffled", p, registry=reg, path=w))
        if arm.kind == "bundle":
            ra.bundle = _at(f"{where}.bundle", lambda a=arm: load_bundle(a.bundle, registry=reg))
        if arm.kind != "scratch":
            name = arm.policy or (ra.bundle.suggested_policy if ra.bundle is not None else DEFAULT_POLICIES[arm.kind])
            ra.policy_name = name
            _at(f"{where}.policy", lambda n=name: reg.get("register_transfer_policies", n))
            ra.policy = build_policy(name, arm.policy_params, registry=reg, path=f"{where}.policy_params")
        arms.append(ra)
    for i, probe in enumerate(config.probes):
        _at(f"$.probes[{i}].metric", lambda p=probe: reg.get("register_metrics", p.metric))
    return ResolvedCompare(config=config, arms=arms, adapter=adapter, registry=reg, plan=plan)


def load_compare(path: str | Path, overrides: list[str] | None = None, *, registry: Any = None) -> ResolvedCompare:
    """Read a YAML/TOML study file, apply ``key.path=value`` overrides, and resolve it."""
    data = load_file(path)
    for item in overrides or []:
        key, value = parse_override(item)
        set_dotted(data, key, value)
    return resolve_compare(data, registry=registry)


# --------------------------------------------------------------------------- helpers


def _finite_or_none(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def _write_json(path: Path, data: Any) -> None:
    from pptrain_core.bundle import write_json_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, data)


def _write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    """Rewrite ``path`` with one JSON object per line, atomically (several processes may write it)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        for rec in records:
            f.write(json.dumps(rec) + "\n")
    os.replace(tmp, path)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def machine() -> dict[str, Any]:
    from pptrain_core.training.trainer import hardware

    return hardware()


def versions(registry: Any) -> dict[str, str]:
    from pptrain_core.training.trainer import versions as run_versions

    dists = ("pptrain-core", "pptrain-analytics", "torch", "transformers", "tokenizers", "datasets", "numpy")
    return run_versions(registry, dists)


def prebuilt(resolved: Any, task: Any) -> Any:
    """The resolved task with a factory that returns an already built task (no second corpus read)."""
    return attrs.evolve(resolved, spec=attrs.evolve(resolved.spec, factory=lambda _config: task))


class PreparedModelAdapter:
    """An adapter whose ``build`` hands out a model prepared beforehand (the transferred one)."""

    def __init__(self, inner: Any, model: Any):
        self.inner = inner
        self.model = model
        self.name = inner.name
        self.config = inner.config

    def build(self, vocab_size: int, *, seed: int | None = None) -> Any:
        rows = (
            self.model.get_input_embeddings().weight.shape[0] if hasattr(self.model, "get_input_embeddings") else None
        )
        if rows is not None and rows != vocab_size:
            raise ValueError(f"the prepared model has {rows} token rows, the downstream vocabulary {vocab_size}")
        return self.model

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _logits(model: Any, input_ids: Any) -> Any:
    out = model(input_ids=input_ids)
    if hasattr(out, "logits"):
        return out.logits
    return out if not isinstance(out, (tuple, list)) else out[0]


def eval_loss(model: Any, windows: Any, batch_size: int) -> float:
    """Mean next-token cross-entropy (nats) over every position but the first of each window."""
    import torch
    import torch.nn.functional as F

    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total, count = 0.0, 0
    try:
        with torch.no_grad():
            for start in range(0, len(windows), batch_size):
                ids = torch.as_tensor(windows[start : start + batch_size], dtype=torch.long, device=device)
                logits = _logits(model, ids).float()
                targets = ids[:, 1:]
                loss = F.cross_entropy(
                    logits[:, :-1].reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="sum"
                )
                total += float(loss)
                count += targets.numel()
    finally:
        model.train(was_training)
    return total / count


def _callback_class():
    from transformers import TrainerCallback

    class StepReporter(TrainerCallback):
        """Reports steps to the compare progress bar; optionally evaluates at token milestones."""

        def __init__(self, on_step: Callable[[int, int], None], evaluate: Callable[..., None] | None = None):
            self.on_step = on_step
            self.evaluate = evaluate

        def on_train_begin(self, args, state, control, model=None, **kwargs):
            if self.evaluate is not None:
                self.evaluate(model, state, None)

        def on_step_end(self, args, state, control, **kwargs):
            self.on_step(state.global_step, state.max_steps)

        def on_log(self, args, state, control, logs=None, model=None, **kwargs):
            if self.evaluate is not None and logs and "loss" in logs:
                self.evaluate(model, state, float(logs["loss"]))

    return StepReporter


# --------------------------------------------------------------------------- the study


@attrs.define
class Study:
    """A resolved comparison with its data, run arm by arm (see the module docstring)."""

    resolved: ResolvedCompare
    force: bool = False
    progress: bool = True
    text: Any = attrs.field(default=None, init=False)
    text_resolved: Any = attrs.field(default=None, init=False)
    eval_windows: Any = attrs.field(default=None, init=False)
    eval_hash: str = attrs.field(default="", init=False)
    phase1_info: dict[str, Any] | None = attrs.field(default=None, init=False)
    _progress: Any = attrs.field(default=None, init=False)
    _bar: Any = attrs.field(default=None, init=False)

    # ------------------------------------------------------------------ data

    def _text_config(self, seq_len: int, window_offset: int = 0) -> dict[str, Any]:
        c = self.resolved.config
        return {
            "corpus": unstructure(c.corpus),
            "tokenizer": unstructure(c.tokenizer),
            "seq_len": seq_len,
            "val_fraction": c.downstream.val_fraction,
            "window_offset": window_offset,
            "cache_dir": c.cache_dir,
        }

    def prepare(self) -> None:
        """Read, split and tokenize the corpus (cached), and fix the validation windows."""
        import numpy as np

        from pptrain_core.data import example_at
        from pptrain_core.tasks import resolve

        reg = self.resolved.registry
        d = self.resolved.config.downstream
        resolved = _at("$.corpus", lambda: resolve("text", self._text_config(d.seq_len), registry=reg, path="$"))
        self.text = _at("$.corpus", resolved.build)
        self.text_resolved = prebuilt(resolved, self.text)
        n_eval = min(d.eval_windows, self.text.n_windows("eval"))
        if n_eval < 1:
            raise ConfigError(
                "$.downstream.val_fraction",
                f"the validation split has {len(self.text.tokens('eval'))} tokens, fewer than one window of "
                f"{d.seq_len}; raise val_fraction or use a larger corpus",
            )
        if self.text.n_windows("train") < 1:
            raise ConfigError("$.corpus", "the training split holds less than one window; use a larger corpus")
        self.eval_windows = np.stack([example_at(self.text, 0, "eval", i).tokens for i in range(n_eval)])
        self.eval_hash = hashlib.sha256(self.eval_windows.astype(np.int64).tobytes()).hexdigest()

    def check_warmup_disjoint(self) -> None:
        """A natural warm-up must never read text the downstream stage trains on: refuse it before anything runs.

        The warm-up reads the last ``w`` windows of a seed's window order and the downstream
        stage the first ``d``; they are disjoint exactly when ``w + d <= n`` (validation windows
        come from held-out documents either way). Windows of two lengths cannot be kept apart.
        """
        r = self.resolved
        natural = [a for a in r.arms if a.config.kind == "natural"]
        if not natural:
            return
        plan = r.plan
        d = r.config.downstream
        if plan.synthetic_seq_len != d.seq_len:
            raise ConfigError(
                "$.synthetic.seq_len",
                f"is {plan.synthetic_seq_len} but downstream.seq_len is {d.seq_len}: a natural warm-up needs the "
                "downstream window length so its windows can be kept apart from the downstream ones; remove "
                "synthetic.seq_len or set it to downstream.seq_len",
            )
        n = self.text.n_windows("train")
        warm = plan.synthetic_steps * plan.synthetic_batch
        for arm in natural:
            down = plan.steps_for(arm.config) * d.batch_size
            if warm + down > n:
                raise ConfigError(
                    "$.corpus",
                    f"holds {n:,} training windows of {d.seq_len} tokens, fewer than the natural warm-up's {warm:,} plus "
                    f"the downstream stage's {down:,} (arm {arm.name!r}), so the warm-up would re-read downstream "
                    "text; use a larger corpus (e.g. {kind: embedded, name: python_stdlib}) or smaller budgets",
                )

    # ------------------------------------------------------------------ run-dir

    def compare_json(self, started: str, finished: str | None) -> dict[str, Any]:
        r = self.resolved
        c, plan = r.config, r.plan
        arms = []
        for arm in r.arms:
            extra: dict[str, Any] = {
                "downstream_tokens": plan.steps_for(arm.config) * plan.downstream_tokens_per_step,
                "synthetic_tokens": plan.synthetic_tokens if arm.config.pre_pretrains else 0,
            }
            if arm.task is not None:
                extra["task"] = arm.task.ref
                extra["task_config"] = unstructure(arm.task.config)
            if arm.config.policy_params:
                extra["policy_params"] = dict(arm.config.policy_params)
            arms.append(
                {
                    "name": arm.name,
                    "kind": arm.config.kind,
                    "policy": arm.policy_name,
                    "source": arm.source,
                    "extra": extra,
                }
            )
        return {
            "format": FORMAT,
            "design": c.design,
            "seeds": list(c.seeds),
            "vocab_size": self.text.vocab.size,
            "downstream_tokens": plan.downstream_tokens,
            "synthetic_tokens": plan.synthetic_tokens if c.synthetic is not None else 0,
            "baseline": c.baseline,
            "arms": arms,
            "corpus": self.text.describe(),
            "tokenizer": self.text.tokenizer.describe(),
            "model": {"adapter": r.adapter.name, "params": unstructure(r.adapter.config)},
            "eval": {"windows": int(len(self.eval_windows)), "seq_len": c.downstream.seq_len, "sha256": self.eval_hash},
            "plan": attrs.asdict(plan),
            "config": json.loads(json.dumps(unstructure(c))),
            "machine": machine(),
            "versions": versions(r.registry),
            "started": started,
            "finished": finished,
        }

    def arm_dir(self, arm: ResolvedArm, seed: int) -> Path:
        return self.resolved.run_dir / "arms" / arm.name / f"seed-{seed}"

    def is_done(self, arm: ResolvedArm, seed: int) -> bool:
        path = self.arm_dir(arm, seed) / "result.json"
        if self.force or not path.is_file():
            return False
        try:
            return json.loads(path.read_text(encoding="utf-8")).get("status") == "ok"
        except (OSError, ValueError):
            return False

    def check_existing(self) -> dict[str, Any] | None:
        """The ``compare.json`` of a compatible earlier run of this study (None if new); error if incompatible."""
        path = self.resolved.run_dir / "compare.json"
        if self.force or not path.is_file():
            return None
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            old = {}
        new = json.loads(json.dumps(unstructure(self.resolved.config)))
        if old.get("config") != new:
            diff = _first_difference(old.get("config"), new, "$")
            raise UserError(
                f"{str(self.resolved.run_dir)!r} holds a study with a different config (first difference at {diff}); "
                "pass --force to redo it there or choose another output_dir."
            )
        return old

    def check_same_data(self, old: dict[str, Any]) -> None:
        """A resumed study must see the data its finished arms saw (same documents, tokenizer, eval windows)."""
        now = {"corpus": self.text.describe().get("hash"), "vocab_size": self.text.vocab.size, "eval": self.eval_hash}
        before = {
            "corpus": old.get("corpus", {}).get("hash"),
            "vocab_size": old.get("vocab_size"),
            "eval": old.get("eval", {}).get("sha256"),
        }
        changed = [k for k in now if before[k] != now[k]]
        if changed:
            raise UserError(
                f"the {changed[0]} of {str(self.resolved.run_dir)!r} changed since its finished arms ran (the corpus "
                "files or the tokenizer differ); pass --force to redo the study or choose another output_dir."
            )

    # ------------------------------------------------------------------ progress

    def _on_step(self, label: str) -> Callable[[int, int], None]:
        def update(step: int, total: int) -> None:
            if self._progress is not None:
                self._progress.update(self._bar, completed=step, total=total, phase=label)

        return update

    # ------------------------------------------------------------------ one (arm, seed)

    def _run_config(self, out: Path, seed: int, *, phase: str, **extra: Any) -> Any:
        """A ``RunConfig`` for one phase; ``extra`` holds the budget and the batch settings."""
        from pptrain_core.training import RunConfig

        c = self.resolved.config
        section = c.downstream if phase == "downstream" else c.synthetic
        return RunConfig(
            output_dir=str(out),
            lr=section.lr,
            schedule=section.schedule,
            warmup_steps=section.warmup_steps,
            weight_decay=section.weight_decay,
            data_seed=seed,
            model_seed=seed,
            eval_examples=0,
            progress=False,
            resume="never",
            **extra,
        )

    def _phase_one(self, arm: ResolvedArm, seed: int, work: Path) -> tuple[Path | None, int | None]:
        """Pre-pretrain (synthetic, shuffled, natural) and return (bundle path, tokens seen).

        A natural warm-up also leaves what it read in ``self.phase1_info`` (for ``result.json``).
        """
        from pptrain_core.training import PrePreTrainer

        kind = arm.config.kind
        if kind == "bundle":
            return Path(arm.bundle.path), arm.bundle.meta.get("training", {}).get("tokens_seen")
        if kind == "scratch":
            return None, 0
        plan = self.resolved.plan
        s = self.resolved.config.synthetic
        extra: dict[str, Any] = {"batch_size": plan.synthetic_batch, "suggested_policy": arm.policy_name or "full"}
        if kind == "natural":
            task = self._warmup_task(arm)
            extra.update(max_steps=plan.synthetic_steps, collation="pad", seq_len=plan.synthetic_seq_len)
        elif s.collation == "pack":
            task = arm.task
            extra.update(max_steps=plan.synthetic_steps, collation="pack", seq_len=plan.synthetic_seq_len)
        else:
            task = arm.task
            extra.update(max_tokens=plan.synthetic_tokens, collation="pad")
        run = self._run_config(work / "phase1", seed, phase="synthetic", **extra)
        reporter = _callback_class()(self._on_step(f"{arm.name} seed {seed}: phase 1"))
        trainer = PrePreTrainer(task, self.resolved.adapter, run, callbacks=[reporter], registry=self.resolved.registry)
        result = trainer.fit()
        return result.bundle_dir, int(result.summary.get("tokens_seen") or 0)

    def _warmup_task(self, arm: ResolvedArm) -> Any:
        """The natural warm-up: the training windows the downstream stage reads last (or never).

        With ``n`` training windows and ``w`` warm-up windows, the warm-up reads positions
        ``n - w ... n - 1`` of the seed's window order, the downstream stage positions
        ``0 ...``: disjoint text whenever the corpus holds both.
        """
        from pptrain_core.tasks import resolve

        plan = self.resolved.plan
        if plan.synthetic_seq_len == self.resolved.config.downstream.seq_len:
            resolved, text = self.text_resolved, self.text
        else:
            reg = self.resolved.registry
            resolved = resolve("text", self._text_config(plan.synthetic_seq_len), registry=reg, path="$")
            text = resolved.build()
        n = text.n_windows("train")
        warm = plan.synthetic_steps * plan.synthetic_batch
        offset = (n - warm % n) % n
        downstream = self.resolved.plan.steps_for(arm.config) * self.resolved.config.downstream.batch_size
        self.phase1_info = {
            "train_windows": n,
            "warmup_windows": warm,
            "window_offset": offset,
            "downstream_windows": downstream,
            "overlaps_downstream": warm + downstream > n if text is self.text else None,
        }
        config = attrs.evolve(resolved.config, window_offset=offset)
        return prebuilt(attrs.evolve(resolved, config=config), _with_offset(text, config))

    def run_one(self, arm: ResolvedArm, seed: int) -> dict[str, Any]:
        """Run (arm, seed) into its directory; returns result.json's content."""
        from pptrain_core.bundle import load_bundle
        from pptrain_core.training import PrePreTrainer

        out = self.arm_dir(arm, seed)
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        plan = self.resolved.plan
        d = self.resolved.config.downstream
        t0 = time.perf_counter()
        records: list[dict[str, Any]] = []
        result: dict[str, Any] = {
            "status": "failed",
            "error": None,
            "final_eval_loss": None,
            "initial_eval_loss": None,
            "downstream_tokens": 0,
            "synthetic_tokens": 0,
            "wall_s": 0.0,
            "probes": {},
            "arm": arm.name,
            "seed": seed,
            "eval_windows_sha256": self.eval_hash,
        }
        try:
            self.phase1_info = None
            bundle_dir, synthetic_tokens = self._phase_one(arm, seed, out)
            result["synthetic_tokens"] = synthetic_tokens
            if self.phase1_info is not None:
                result["warmup"] = self.phase1_info
            model = self.resolved.adapter.build(self.text.vocab.size, seed=seed)
            if bundle_dir is not None:
                bundle = load_bundle(bundle_dir, registry=self.resolved.registry)
                report = arm.policy.apply_bundle(bundle, model, target_adapter=self.resolved.adapter)
                _write_json(out / "transfer_report.json", report.to_json())
                result["transfer"] = {"policy": arm.policy_name, "bundle": str(bundle_dir)}
            steps = plan.steps_for(arm.config)
            tps = plan.downstream_tokens_per_step
            every = plan.eval_every_steps
            seen: list[float] = []
            eval_bs = d.eval_batch_size or d.batch_size

            def evaluate(m: Any, state: Any, train_loss: float | None) -> None:
                step = int(state.global_step)
                if train_loss is not None:
                    seen.append(train_loss)
                    if not (step == state.max_steps or (every and step % every == 0)):
                        return
                elif step != 0:
                    return
                loss = eval_loss(m if m is not None else model, self.eval_windows, eval_bs)
                mean_train = sum(seen) / len(seen) if seen else None
                seen.clear()
                records.append(
                    {
                        "tokens": step * tps,
                        "step": step,
                        "eval_loss": _finite_or_none(loss),
                        "train_loss": _finite_or_none(mean_train),
                    }
                )
                _write_jsonl(out / "curve.jsonl", records)

            reporter = _callback_class()(self._on_step(f"{arm.name} seed {seed}: downstream"), evaluate)
            run = self._run_config(
                out / "downstream", seed, phase="downstream", max_steps=steps,
                batch_size=d.batch_size, seq_len=d.seq_len, collation="pad", export_bundle=False, logging_steps=1,
            )  # fmt: skip
            adapter = PreparedModelAdapter(self.resolved.adapter, model)
            PrePreTrainer(self.text_resolved, adapter, run, callbacks=[reporter], registry=self.resolved.registry).fit()
            result["downstream_tokens"] = records[-1]["tokens"] if records else 0
            result["initial_eval_loss"] = records[0]["eval_loss"] if records else None
            result["final_eval_loss"] = records[-1]["eval_loss"] if records else None
            bad = [r["tokens"] for r in records if r["eval_loss"] is None]
            if bad:
                result["error"] = f"non-finite eval loss at downstream tokens {bad[0]}"
            elif not records or records[-1]["step"] != steps:
                result["error"] = "the downstream run ended before its last evaluation"
            else:
                result["status"] = "ok"
            result["probes"] = self._probes(arm, bundle_dir, model, out, seed)
        except Exception as exc:  # one arm failing never stops the others
            result["error"] = f"{type(exc).__name__}: {exc}".strip()
            (out / "error.log").write_text(traceback.format_exc(), encoding="utf-8")
        result["wall_s"] = round(time.perf_counter() - t0, 3)
        if not records:
            _write_jsonl(out / "curve.jsonl", records)
        _write_json(out / "result.json", result)
        return result

    def _probes(self, arm: ResolvedArm, bundle_dir: Path | None, model: Any, out: Path, seed: int) -> dict[str, Any]:
        """Run every probe; a probe's own seeds (data, fresh initialisation) follow the study seed.

        Without that, a probe from scratch would be the same run for every seed, and its
        seed-to-seed spread (which the report's intervals and paired tests need) would be 0.
        A seed the study file gives a probe explicitly is kept.
        """
        results: dict[str, Any] = {}
        final_dir: Path | None = None
        for probe in self.resolved.config.probes:
            try:
                from pptrain_analytics.evaluate import evaluate
            except ImportError as exc:
                results[probe.metric] = {"error": f"pptrain_analytics.evaluate is not available: {exc}"}
                continue
            try:
                if probe.on == "final":
                    if final_dir is None:
                        final_dir = out / "final_model"
                        self.resolved.adapter.save(model, str(final_dir))
                    target: Any = str(final_dir)
                else:
                    target = str(bundle_dir) if bundle_dir is not None else None
                params = dict(probe.params)
                spec = self.resolved.registry.metrics.get(probe.metric)
                if spec is not None:
                    from pptrain_analytics.evaluate import accepted_settings

                    for key in ("seed", "model_seed"):
                        if key in accepted_settings(spec):
                            params.setdefault(key, seed)
                done = dict(evaluate(target, probe.metric, registry=self.resolved.registry, **params))
                # the metric's own figures at the top (what the report tabulates), how it ran below
                found = done.pop("result", None)
                figures = found if isinstance(found, dict) else {"value": found}
                results[probe.metric] = {"on": probe.on, **figures, "evaluation": done}
            except Exception as exc:
                results[probe.metric] = {"on": probe.on, "error": f"{type(exc).__name__}: {exc}"}
        return results

    # ------------------------------------------------------------------ all of it

    def run(self) -> dict[str, Any]:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        r = self.resolved
        old = self.check_existing()
        started = (old or {}).get("started") or _now()
        if self.progress:
            from rich.console import Console

            with Console().status("reading, splitting and tokenizing the corpus (cached after the first run)"):
                self.prepare()
        else:
            self.prepare()
        self.check_warmup_disjoint()
        if old:
            self.check_same_data(old)
        r.run_dir.mkdir(parents=True, exist_ok=True)
        _write_json(r.run_dir / "compare.json", self.compare_json(started, None))
        jobs = [(seed, arm) for seed in r.config.seeds for arm in r.arms]
        outcome: dict[str, dict[str, int]] = {a.name: {"ok": 0, "failed": 0, "skipped": 0} for a in r.arms}
        finals: dict[str, list[float]] = {a.name: [] for a in r.arms}
        if self.progress:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[phase]}"),
                TimeElapsedColumn(),
            )
            self._progress.start()
            overall = self._progress.add_task("arms x seeds", total=len(jobs), phase="")
            self._bar = self._progress.add_task("steps", total=1, phase="")
        try:
            for seed, arm in jobs:
                if self.is_done(arm, seed):
                    outcome[arm.name]["skipped"] += 1
                    res = json.loads((self.arm_dir(arm, seed) / "result.json").read_text(encoding="utf-8"))
                else:
                    res = self.run_one(arm, seed)
                    outcome[arm.name]["ok" if res["status"] == "ok" else "failed"] += 1
                if res.get("final_eval_loss") is not None:
                    finals[arm.name].append(res["final_eval_loss"])
                if self._progress is not None:
                    self._progress.update(overall, advance=1, phase=f"{arm.name} seed {seed}: {res['status']}")
        finally:
            if self._progress is not None:
                self._progress.stop()
                self._progress = None
        _write_json(r.run_dir / "compare.json", self.compare_json(started, _now()))
        report = None
        try:
            from pptrain_analytics.report import write_report
        except ImportError:
            write_report = None
        if write_report is not None:
            report = write_report(r.run_dir)
        return {
            "run_dir": str(r.run_dir),
            "design": r.config.design,
            "seeds": list(r.config.seeds),
            "downstream_tokens": r.plan.downstream_tokens,
            "synthetic_tokens": r.plan.synthetic_tokens if r.config.synthetic is not None else 0,
            "arms": {
                name: {
                    **counts,
                    "final_eval_loss_mean": (sum(finals[name]) / len(finals[name])) if finals[name] else None,
                }
                for name, counts in outcome.items()
            },
            "report": report,
        }


def _with_offset(text: Any, config: Any) -> Any:
    """A shallow copy of a built text task reading its training windows from ``config.window_offset``."""
    import copy

    other = copy.copy(text)
    other.config = config
    other._perms = type(text._perms)()
    return other


def _first_difference(old: Any, new: Any, path: str) -> str:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new), key=str):
            if old.get(key) != new.get(key):
                return _first_difference(old.get(key), new.get(key), f"{path}.{key}")
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            if a != b:
                return _first_difference(a, b, f"{path}[{i}]")
    return path


def run_compare(
    config: str | Path | Mapping[str, Any],
    *,
    overrides: list[str] | None = None,
    force: bool = False,
    progress: bool = True,
    registry: Any = None,
) -> dict[str, Any]:
    """Run a study from a file or a mapping; returns the summary (``--json`` prints it)."""
    if isinstance(config, Mapping):
        data = dict(config)
        for item in overrides or []:
            key, value = parse_override(item)
            set_dotted(data, key, value)
        resolved = resolve_compare(data, registry=registry)
    else:
        resolved = load_compare(config, overrides, registry=registry)
    return Study(resolved, force=force, progress=progress).run()
