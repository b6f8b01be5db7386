"""Transfer bundles: what pre-pretraining hands to the downstream stage.

A bundle is a directory::

    bundle.json          format version, versions, task + preset + resolved config + seeds,
                         adapter + model config, parameter roles, training summary,
                         sha256 of every weight file, the suggested transfer policy
    model.safetensors    the weights (written by the adapter; safetensors only, no pickle)
    config.json          the model config (written by the adapter)
    tokenizer/           the task vocabulary as an HF PreTrainedTokenizerFast

It is written into a temporary sibling directory and renamed into place at the end,
so a crash never leaves a directory that looks like a valid bundle. :func:`load_bundle`
checks everything and fails with one sentence (a :class:`UserError`) on a missing file,
a hash mismatch, an unknown format version, or a plugin that is not installed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from pptrain_core.errors import UserError
from pptrain_core.models import ParameterInfo

FORMAT_VERSION = 1
SUPPORTED_FORMATS = (1,)
BUNDLE_FILE = "bundle.json"
TOKENIZER_DIR = "tokenizer"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def atomic_directory(final: Path, build) -> Path:
    """Run ``build(tmp_dir)`` and move the result to ``final`` in one rename.

    An existing ``final`` is replaced only after the new directory is complete.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        build(tmp)
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-", dir=final.parent))
            os.replace(final, old / final.name)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to ``path`` through a temporary file and a rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, sort_keys=False, default=str)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bundle(
    directory: str | Path,
    *,
    model: Any,
    adapter: Any,
    adapter_name: str,
    adapter_config: Any,
    resolved_task: Any,
    vocab: Any,
    seeds: Mapping[str, int],
    training: Mapping[str, Any],
    versions: Mapping[str, str],
    suggested_policy: str = "reinit_embeddings",
) -> Path:
    """Write a complete bundle for ``model`` atomically; returns its path."""
    from pptrain_core.config import unstructure
    from pptrain_core.hf_tokenizer import hf_tokenizer

    infos = adapter.parameters_info(model)

    def build(tmp: Path) -> None:
        adapter.save(model, str(tmp))
        hf_tokenizer(vocab).save_pretrained(str(tmp / TOKENIZER_DIR))
        weights = sorted(p.name for p in tmp.glob("*.safetensors"))
        if not weights:
            raise RuntimeError(f"adapter {adapter_name!r} saved no .safetensors file")
        if any(tmp.glob("*.bin")) or any(tmp.glob("*.pt")):
            raise RuntimeError(f"adapter {adapter_name!r} wrote pickle-based weights; bundles hold safetensors only")
        meta = {
            "format_version": FORMAT_VERSION,
            "versions": dict(versions),
            "task": {
                "name": resolved_task.spec.name,
                "preset": resolved_task.preset.name if resolved_task.preset else None,
                "ref": resolved_task.ref,
                "config": unstructure(resolved_task.config),
            },
            "seeds": dict(seeds),
            "vocab": {"size": vocab.size, "special_ids": vocab.special_ids()},
            "adapter": {
                "name": adapter_name,
                "config": unstructure(adapter_config),
                "model_config": adapter.model_config(model),
            },
            "parameters": [{"name": p.name, "role": p.role, "shape": list(p.shape), "layer": p.layer} for p in infos],
            "training": dict(training),
            "weights": {name: sha256_file(tmp / name) for name in weights},
            "suggested_policy": suggested_policy,
        }
        write_json_atomic(tmp / BUNDLE_FILE, meta)

    return atomic_directory(Path(directory), build)


@attrs.define
class Bundle:
    """A validated bundle on disk. Weights are read only when asked for."""

    path: Path
    meta: dict[str, Any]

    @property
    def parameters(self) -> list[ParameterInfo]:
        return [ParameterInfo(p["name"], p["role"], tuple(p["shape"]), p.get("layer")) for p in self.meta["parameters"]]

    @property
    def suggested_policy(self) -> str:
        return self.meta["suggested_policy"]

    @property
    def task_ref(self) -> str:
        return self.meta["task"]["ref"]

    def load_state_dict(self) -> dict[str, Any]:
        """All weights as CPU tensors (safetensors; tied parameters appear once)."""
        from safetensors.torch import load_file

        state: dict[str, Any] = {}
        for name in self.meta["weights"]:
            state.update(load_file(str(self.path / name)))
        return state

    def adapter(self, registry: Any = None) -> Any:
        """The model adapter that wrote the bundle, built from its recorded config."""
        from pptrain_core.config import structure
        from pptrain_core.plugins import get_registry

        reg = registry or get_registry()
        spec = reg.get("register_model_adapters", self.meta["adapter"]["name"])
        config = structure(self.meta["adapter"]["config"], spec.config_cls, "$.adapter.config")
        from pptrain_core.specs import resolve_factory

        return resolve_factory(spec.factory)(config)

    def load_model(self, registry: Any = None) -> Any:
        """The pre-pretrained model, as the adapter rebuilds it from local files."""
        return self.adapter(registry).load(str(self.path))

    def tokenizer(self) -> Any:
        from transformers import PreTrainedTokenizerFast

        return PreTrainedTokenizerFast.from_pretrained(str(self.path / TOKENIZER_DIR))

    def task(self, registry: Any = None) -> Any:
        """The resolved task the bundle was trained on (needs its plugin installed)."""
        from pptrain_core.tasks import resolve

        task = self.meta["task"]
        ref = task["name"] + (f":{task['preset']}" if task["preset"] else "")
        return resolve(ref, task["config"], registry=registry, path="$.task.config")


def load_bundle(path: str | Path, *, registry: Any = None, verify: bool = True) -> Bundle:
    """Open and validate a bundle; every problem is one :class:`UserError` sentence."""
    from pptrain_core.plugins import get_registry

    p = Path(path)
    if not p.is_dir():
        raise UserError(f"bundle {str(p)!r} is not a directory; pass the bundle/ folder of a finished run.")
    meta_path = p / BUNDLE_FILE
    if not meta_path.is_file():
        raise UserError(f"bundle {str(p)!r} has no {BUNDLE_FILE}; it is incomplete or not a pptrain bundle.")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"bundle {str(p)!r}: {BUNDLE_FILE} is not valid JSON ({exc}).") from None
    version = meta.get("format_version") if isinstance(meta, dict) else None
    if version not in SUPPORTED_FORMATS:
        raise UserError(
            f"bundle {str(p)!r} has format version {version!r}, this pptrain-core reads "
            f"{', '.join(map(str, SUPPORTED_FORMATS))}; upgrade pptrain-core."
        )
    for key in ("task", "adapter", "parameters", "weights", "suggested_policy"):
        if key not in meta:
            raise UserError(f"bundle {str(p)!r}: {BUNDLE_FILE} lacks the {key!r} entry; the bundle is damaged.")
    for required in ("config.json", f"{TOKENIZER_DIR}/tokenizer.json"):
        if not (p / required).is_file():
            raise UserError(f"bundle {str(p)!r} is missing {required}; the bundle is incomplete.")
    for name, digest in meta["weights"].items():
        fp = p / name
        if not fp.is_file():
            raise UserError(f"bundle {str(p)!r} is missing its weight file {name}; the bundle is incomplete.")
        if verify and sha256_file(fp) != digest:
            raise UserError(
                f"bundle {str(p)!r}: {name} does not match its recorded sha256; the file is corrupted or was changed."
            )
    reg = registry or get_registry()
    task_name = meta["task"]["name"]
    if task_name not in reg.tasks:
        plugin = meta.get("versions", {}).get("task_plugin") or "the plugin that provides it"
        raise UserError(
            f"bundle {str(p)!r} was trained on task '{task_name}', which is not installed; install {plugin}."
        )
    adapter_name = meta["adapter"]["name"]
    if adapter_name not in reg.model_adapters:
        plugin = meta.get("versions", {}).get("adapter_plugin") or "the plugin that provides it"
        raise UserError(
            f"bundle {str(p)!r} needs the model adapter '{adapter_name}', which is not installed; install {plugin}."
        )
    return Bundle(path=p, meta=meta)
