"""``pptrain transfer``: move a bundle into a downstream model and save it for any HF script.

The target is built fresh by a model adapter, from (in order of precedence) a model
file (YAML/TOML with ``adapter`` and ``params``, or a job file with a ``model``
section), a local ``save_pretrained`` directory, or the bundle's own architecture. Its
vocabulary size comes from ``--vocab-size``, from ``--tokenizer DIR`` (a local HF
tokenizer, copied into the output), or from the model directory's config.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs

from pptrain_core.errors import UserError


@attrs.define
class TransferResult:
    report: Any
    out_dir: Path | None
    target_adapter: str
    vocab_size: int


def _target_adapter(model: str | None, bundle: Any, registry: Any) -> tuple[Any, int | None]:
    """The adapter that builds the target, and the vocabulary size the model source implies."""
    from pptrain_core.config import load_file
    from pptrain_core.training.job import build_adapter

    if model is None:
        return bundle.adapter(registry), None
    path = Path(model)
    if path.is_dir():
        cfg = path / "config.json"
        if not cfg.is_file():
            raise UserError(f"--model {model!r} is a directory without config.json; pass a save_pretrained directory.")
        vocab = json.loads(cfg.read_text(encoding="utf-8")).get("vocab_size")
        adapter = build_adapter("hf_causal_lm", {"pretrained_dir": str(path)}, registry=registry, path="$.model.params")
        return adapter, vocab
    data = load_file(path)
    section = data.get("model", data)
    if not isinstance(section, dict) or "adapter" not in section:
        raise UserError(f"--model {model!r} must hold `adapter:` and `params:` (or a job file's `model:` section).")
    unknown = sorted(set(section) - {"adapter", "params"})
    if unknown:
        raise UserError(f"--model {model!r}: unknown key {unknown[0]!r}; a model section has adapter and params.")
    adapter = build_adapter(section["adapter"], section.get("params") or {}, registry=registry, path="$.model.params")
    return adapter, None


def transfer_bundle(
    bundle_path: str,
    *,
    out_dir: str | None,
    model: str | None = None,
    policy: str | None = None,
    policy_params: dict[str, Any] | None = None,
    vocab_size: int | None = None,
    tokenizer: str | None = None,
    seed: int = 0,
    dry_run: bool = False,
    registry: Any = None,
) -> TransferResult:
    """Apply a transfer policy to a fresh target model; save it (unless ``dry_run``)."""
    from pptrain_core.bundle import atomic_directory, load_bundle, write_json_atomic
    from pptrain_core.plugins import get_registry
    from pptrain_core.transfer import build_policy

    reg = registry or get_registry()
    if vocab_size is not None and tokenizer is not None:
        raise UserError("give --vocab-size or --tokenizer, not both.")
    if vocab_size is not None and vocab_size < 1:
        raise UserError(f"--vocab-size must be a positive number, got {vocab_size}.")
    if not dry_run and not out_dir:
        raise UserError("--out is required unless --dry-run is given.")
    bundle = load_bundle(bundle_path, registry=reg)
    adapter, implied_vocab = _target_adapter(model, bundle, reg)
    tok = None
    if tokenizer is not None:
        from transformers import AutoTokenizer

        if not Path(tokenizer).is_dir():
            raise UserError(f"--tokenizer {tokenizer!r} is not a directory; pass a local HF tokenizer folder.")
        tok = AutoTokenizer.from_pretrained(tokenizer, local_files_only=True)
        vocab_size = len(tok)
    vocab_size = vocab_size or implied_vocab
    if vocab_size is None:
        raise UserError("the target's vocabulary size is unknown; pass --vocab-size N or --tokenizer DIR.")
    name = policy or bundle.suggested_policy
    chosen = build_policy(name, policy_params or {}, registry=reg)
    target = adapter.build(vocab_size, seed=seed)
    report = chosen.apply_bundle(bundle, target, target_adapter=adapter, dry_run=dry_run)
    if dry_run:
        return TransferResult(report, None, adapter.name, vocab_size)

    def build(tmp: Path) -> None:
        adapter.save(target, str(tmp))
        if tok is not None:
            tok.save_pretrained(str(tmp))
        write_json_atomic(tmp / "transfer_report.json", report.to_json())
        frozen = [p for p, t in target.named_parameters() if not t.requires_grad]
        write_json_atomic(
            tmp / "transfer.json",
            {
                "bundle": str(Path(bundle_path).resolve()),
                "bundle_task": bundle.task_ref,
                "bundle_weights": bundle.meta["weights"],
                "policy": name,
                "policy_params": policy_params or {},
                "target_adapter": adapter.name,
                "vocab_size": vocab_size,
                "seed": seed,
                "frozen_parameters": frozen,
            },
        )

    out = atomic_directory(Path(out_dir), build)
    return TransferResult(report, out, adapter.name, vocab_size)
