"""``pptrain fit JOB --eval-config EVAL.yaml``: measure what pre-pretraining did, right after it.

An eval file has two optional sections (a file with neither runs the default
``perplexity``)::

    perplexity:                 # held-out text perplexity, transferred vs from scratch
      text: text:pydoc_topics   # TASK[:PRESET] of text (the `text` task of pptrain-analytics)
      params: {seq_len: 128}    # overrides of that task
      policy: reinit_embeddings # how the bundle moves into the text model
      train_steps: 20           # steps on the text's train split before measuring (the same for both arms)
      eval_examples: 32         # windows of the text's held-out split
      baseline: true            # also train a model from scratch the same way, for reference
    metrics:                    # any registered model metric or probe, on the pre-pretrained model
      - {name: induction_head_score, params: {}}

The text model is the run's own adapter built for the text vocabulary. Each arm is a
short run of the core trainer under ``RUN/eval/<arm>/``; perplexity is ``exp`` of its
final eval loss (mean cross-entropy per loss token of the held-out windows). Results go
to ``RUN/eval/results.json`` and under ``eval`` in ``RUN/summary.json``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import attrs

from pptrain_core.config import at_least, in_range, load_file, structure
from pptrain_core.errors import UserError, quote


@attrs.frozen
class PerplexityConfig:
    text: str = "text:pydoc_topics"
    params: dict[str, Any] = attrs.Factory(dict)
    policy: str = "reinit_embeddings"
    policy_params: dict[str, Any] = attrs.Factory(dict)
    train_steps: int = attrs.field(default=20, validator=at_least(1))
    batch_size: int = attrs.field(default=8, validator=at_least(1))
    lr: float = attrs.field(default=1e-3, validator=in_range(0.0, 10.0, low_open=True))
    eval_examples: int = attrs.field(default=32, validator=at_least(1))
    baseline: bool = True
    seed: int = attrs.field(default=0, validator=at_least(0))


@attrs.frozen
class MetricEntry:
    name: str
    params: dict[str, Any] = attrs.Factory(dict)


@attrs.frozen
class EvalConfig:
    perplexity: PerplexityConfig | None = None
    metrics: list[MetricEntry] = attrs.Factory(list)


def load_eval_config(path: str | Path) -> EvalConfig:
    """Read and check an eval file (YAML, TOML or JSON) before any training starts."""
    data = load_file(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError(f"eval config {quote(str(path))} must be a mapping with perplexity and/or metrics sections.")
    if not data:
        data = {"perplexity": {}}
    config = structure(data, EvalConfig, "$")
    from pptrain_core.plugins import get_registry

    reg = get_registry()
    if config.perplexity is not None:
        from pptrain_core.tasks import split_ref

        name, _ = split_ref(config.perplexity.text)
        if name not in reg.tasks:
            hint = "install pptrain-analytics, which provides it" if name == "text" else "install its plugin"
            raise UserError(f"$.perplexity.text: task '{name}' is not installed; {hint}, or leave perplexity out.")
        reg.get("register_transfer_policies", config.perplexity.policy)
    for i, entry in enumerate(config.metrics):
        spec = reg.get("register_metrics", entry.name)
        if spec.kind != "model":
            raise UserError(
                f"$.metrics[{i}].name: metric '{entry.name}' reads a {spec.kind}, not one model; "
                "an eval file runs model metrics (use `pptrain evaluate` or `pptrain compare` for the others)."
            )
    return config


class _Prepared:
    """An adapter whose ``build`` returns a model made beforehand (the transferred text model)."""

    def __init__(self, adapter: Any, model: Any):
        self.adapter, self.model = adapter, model
        self.name, self.config = adapter.name, adapter.config

    def build(self, vocab_size: int, *, seed: int | None = None) -> Any:
        return self.model

    def __getattr__(self, key: str) -> Any:
        return getattr(self.adapter, key)


def _perplexity(cfg: PerplexityConfig, bundle: Any, adapter: Any, eval_dir: Path) -> dict[str, Any]:
    from pptrain_core.tasks import resolve
    from pptrain_core.training.config import RunConfig
    from pptrain_core.training.trainer import PrePreTrainer
    from pptrain_core.transfer import build_policy

    text = resolve(cfg.text, cfg.params, path="$.perplexity.params")
    vocab = text.build().vocab.size
    arms = ["transferred"] + (["scratch"] if cfg.baseline else [])
    out: dict[str, Any] = {"text": text.ref, "train_steps": cfg.train_steps, "eval_examples": cfg.eval_examples}
    for arm in arms:
        model = adapter.build(vocab, seed=cfg.seed)
        if arm == "transferred":
            policy = build_policy(cfg.policy, cfg.policy_params)
            report = policy.apply_bundle(bundle, model, target_adapter=adapter)
            out["transfer"] = {"policy": cfg.policy, **report.summary()}
        run = RunConfig(
            output_dir=str(eval_dir / arm),
            max_steps=cfg.train_steps,
            batch_size=cfg.batch_size,
            lr=cfg.lr,
            eval_examples=cfg.eval_examples,
            data_seed=cfg.seed,
            model_seed=cfg.seed,
            logging_steps=max(1, cfg.train_steps // 4),
            export_bundle=False,
            progress=False,
        )
        summary = PrePreTrainer(text, _Prepared(adapter, model), run).fit().summary
        loss = summary["eval_loss"]
        out[arm] = {"eval_loss": loss, "perplexity": math.exp(loss) if loss is not None else None}
    if cfg.baseline and out["transferred"]["eval_loss"] is not None and out["scratch"]["eval_loss"] is not None:
        out["loss_difference"] = out["transferred"]["eval_loss"] - out["scratch"]["eval_loss"]
    return out


def _metric(entry: MetricEntry, bundle: Any, reg: Any) -> dict[str, Any]:
    import inspect

    from pptrain_core.specs import resolve_factory

    spec = reg.get("register_metrics", entry.name)
    fields = {f.name for f in attrs.fields(spec.config_cls)}
    config = structure({k: v for k, v in entry.params.items() if k in fields}, spec.config_cls, "$.metrics.params")
    extra = {k: v for k, v in entry.params.items() if k not in fields}
    cls = resolve_factory(spec.factory)
    accepts = inspect.signature(cls.evaluate).parameters
    model = bundle.load_model(reg)
    context: dict[str, Any] = {}
    if "task" in accepts:
        context["task"] = bundle.task(reg).build()
    if "adapter" in accepts:
        context["adapter"] = bundle.adapter(reg)
    if "registry" in accepts:
        context["registry"] = reg
    if "progress" in accepts:
        context["progress"] = False
    if "device" in accepts:
        context["device"] = str(next(model.parameters()).device)
    result = cls(config).evaluate(model, **context, **extra)
    return {"metric": entry.name, "summary": spec.summary, "result": result}


def _plain(value: Any) -> Any:
    def default(obj: Any) -> Any:
        for attr in ("tolist", "item"):
            if hasattr(obj, attr):
                return getattr(obj, attr)()
        if attrs.has(type(obj)):
            return attrs.asdict(obj)
        return str(obj)

    text = json.dumps(value, default=default, allow_nan=True)
    return json.loads(text.replace("NaN", "null").replace("-Infinity", "null").replace("Infinity", "null"))


def run_eval_config(config: EvalConfig, result: Any, adapter: Any) -> dict[str, Any]:
    """Run the eval file's sections on a finished run; write and return the results."""
    from pptrain_core.bundle import write_json_atomic
    from pptrain_core.plugins import get_registry

    if result.bundle_dir is None:
        raise UserError("--eval-config needs the run's bundle; set run.export_bundle: true.")
    reg = get_registry()
    bundle = result.load_transfer_bundle(reg)
    eval_dir = Path(result.run_dir) / "eval"
    out: dict[str, Any] = {}
    if config.perplexity is not None:
        out["perplexity"] = _perplexity(config.perplexity, bundle, adapter, eval_dir)
    if config.metrics:
        out["metrics"] = [_metric(entry, bundle, reg) for entry in config.metrics]
    out = _plain(out)
    write_json_atomic(eval_dir / "results.json", out)
    summary_path = Path(result.run_dir) / "summary.json"
    summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.is_file() else {}
    summary["eval"] = out
    write_json_atomic(summary_path, summary)
    return out
