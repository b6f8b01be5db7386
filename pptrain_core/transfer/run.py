"""``pptrain transfer``: move a bundle into a downstream model and save it for any HF script.

The target is built fresh by a model adapter, from (in order of precedence) a model
file (YAML/TOML with ``adapter`` and ``params``, or a job file with a ``model``
section), a local ``save_pretrained`` directory, or the bundle's own architecture. Its
vocabulary size comes from ``--vocab-size``, from ``--tokenizer DIR`` (a local HF
tokenizer, copied into the output), or from the model directory's config.

The bundle is data: without ``--model`` its recorded adapter is used only when that
adapter's config names no code (see :meth:`pptrain_core.bundle.Bundle.adapter`).

``--out`` must be new or empty. ``--overwrite`` replaces only an earlier transfer
output: a directory whose ``transfer.json`` says ``"written_by": "pptrain transfer"``
and which holds nothing but the files that transfer listed there.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs

from pptrain_core.errors import UserError

#: ``transfer.json``'s mark: the directory is a transfer output, which ``--overwrite`` may replace.
WRITTEN_BY = "pptrain transfer"
RECORD = "transfer.json"


@attrs.define
class TransferResult:
    report: Any
    out_dir: Path | None
    target_adapter: str
    vocab_size: int


def _target_adapter(model: Any, bundle: Any, registry: Any) -> tuple[Any, int | None]:
    """The adapter that builds the target, and the vocabulary size the model source implies.

    ``model`` is a model file or a ``save_pretrained`` directory (a path), an adapter
    object (Python), or None for the bundle's own adapter (refused if it names code).
    """
    from pptrain_core.training.job import build_adapter

    if model is None:
        return bundle.adapter(registry), None
    if hasattr(model, "build") and hasattr(model, "parameters_info"):
        return model, None
    path = Path(model)
    if not path.is_dir():
        return adapter_from_model_file(model, registry), None
    vocab = _config_vocab(path, model)
    adapter = build_adapter("hf_causal_lm", {"pretrained_dir": str(path)}, registry=registry, path="$.model.params")
    return adapter, vocab


def _config_vocab(path: Path, model: str) -> int | None:
    """``vocab_size`` of a save_pretrained directory's config.json (None when it has none)."""
    cfg = path / "config.json"
    if not cfg.is_file():
        raise UserError(f"--model {model!r} is a directory without config.json; pass a save_pretrained directory.")
    try:
        data = json.loads(cfg.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise UserError(f"--model {model!r}: config.json is not readable JSON.") from None
    vocab = data.get("vocab_size") if isinstance(data, dict) else None
    return vocab if type(vocab) is int and vocab > 0 else None


def adapter_from_model_file(model: str, registry: Any, option: str = "--model") -> Any:
    """The adapter a model file describes: ``adapter:`` + ``params:``, or a job file's ``model:`` section.

    This is how a user names the code that builds a model (a ``torch_module`` factory):
    in a file they wrote, never through a bundle.
    """
    from pptrain_core.config import load_file
    from pptrain_core.training.job import build_adapter

    data = load_file(Path(model))
    section = data.get("model", data)
    if not isinstance(section, dict) or "adapter" not in section:
        raise UserError(f"{option} {model!r} must hold `adapter:` and `params:` (or a job file's `model:` section).")
    unknown = sorted(set(section) - {"adapter", "params"})
    if unknown:
        raise UserError(f"{option} {model!r}: unknown key {unknown[0]!r}; a model section has adapter and params.")
    if not isinstance(section["adapter"], str):
        raise UserError(f"{option} {model!r}: adapter must be an adapter name such as hf_causal_lm or torch_module.")
    params = section.get("params") or {}
    if not isinstance(params, dict):
        raise UserError(f"{option} {model!r}: params must be a mapping of the adapter's settings.")
    return build_adapter(section["adapter"], params, registry=registry, path="$.model.params")


def previous_transfer(directory: Path) -> bool:
    """Whether ``directory`` is an earlier transfer output holding only the files that transfer wrote."""
    record = directory / RECORD
    if record.is_symlink() or not record.is_file():
        return False
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(data, dict) or data.get("written_by") != WRITTEN_BY:
        return False
    files = data.get("files")
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        return False
    present = set()
    for entry in directory.iterdir():
        if entry.is_symlink() or not entry.is_file():
            return False
        present.add(entry.name)
    return present <= set(files)


def _check_out(out_dir: str, bundle_path: str, overwrite: bool) -> None:
    """Refuse an ``--out`` that holds anything but a previous transfer output (that only with ``--overwrite``)."""
    from pptrain_core.outputs import check_output_dir

    out = Path(out_dir)
    bundle = Path(bundle_path).resolve()
    target = out.resolve()
    if target == bundle or bundle in target.parents:
        raise UserError(f"--out {out_dir!r} is inside the bundle; choose a directory outside it.")
    if target in bundle.parents:
        raise UserError(f"--out {out_dir!r} contains the bundle; choose a directory that does not.")
    if not check_output_dir(out, option="--out", markers=[RECORD], kind="a transfer output"):
        return
    if not previous_transfer(out):
        raise UserError(
            f"--out {out_dir!r} holds files that pptrain transfer did not write; choose another --out, "
            "since --overwrite replaces only an earlier transfer output as it was written."
        )
    if not overwrite:
        raise UserError(
            f"--out {out_dir!r} already holds a transfer output; pass --overwrite to replace it or choose another --out."
        )


def transfer_bundle(
    bundle_path: str,
    *,
    out_dir: str | None,
    model: Any = None,
    policy: str | None = None,
    policy_params: dict[str, Any] | None = None,
    vocab_size: int | None = None,
    tokenizer: str | None = None,
    seed: int = 0,
    dry_run: bool = False,
    overwrite: bool = False,
    registry: Any = None,
) -> TransferResult:
    """Apply a transfer policy to a fresh target model; save it (unless ``dry_run``).

    ``out_dir`` must be new or empty; with ``overwrite`` it may also be an earlier
    transfer output, which is then replaced in one step. Anything else is refused.
    """
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
    if not dry_run:
        _check_out(out_dir, bundle_path, overwrite)
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
    from pptrain_core.training.checks import check_model_fits

    check_model_fits(adapter, vocab_size, field="--vocab-size" if tokenizer is None else "--tokenizer", seed=seed)
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
        written = sorted({p.name for p in tmp.iterdir()} | {RECORD})
        if any(not p.is_file() or p.is_symlink() for p in tmp.iterdir()):
            raise RuntimeError(f"adapter {adapter.name!r} saved a directory or a link; a transfer output is flat")
        write_json_atomic(
            tmp / RECORD,
            {
                "written_by": WRITTEN_BY,
                "files": written,
                "bundle": str(Path(bundle_path).resolve()),
                "bundle_digest": bundle.digest,
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

    _check_out(out_dir, bundle_path, overwrite)  # again: the directory may have changed while the model was built
    out = atomic_directory(Path(out_dir), build)
    return TransferResult(report, out, adapter.name, vocab_size)
