"""``HFCausalLMAdapter``: any ``transformers`` causal LM, from a config or a local directory.

Built from a config alone (``AutoConfig.for_model``) or from a local ``save_pretrained``
directory; never from the network (every load passes ``local_files_only=True``). The
vocabulary size always follows the task.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import transformers
from torch import nn
from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedModel

from pptrain_core.errors import UserError
from pptrain_core.models import ParameterInfo
from pptrain_hf.common import check_vocab_size, report_unknown, seeded
from pptrain_hf.configs import HFModelConfig, model_type_problem, override_problems
from pptrain_hf.roles import POSITION_KEYS, structural_infos


class HFCausalLMAdapter:
    """The ``hf_causal_lm`` model adapter (see :class:`~pptrain_hf.configs.HFModelConfig`).

    >>> adapter = HFCausalLMAdapter(HFModelConfig("gpt2", {"n_layer": 2, "n_embd": 64, "n_head": 2}))
    >>> model = adapter.build(vocab_size=32, seed=0)  # doctest: +SKIP
    """

    name = "hf_causal_lm"

    def __init__(self, config: HFModelConfig | None = None):
        self.config = config if config is not None else HFModelConfig()

    def __repr__(self) -> str:
        return f"HFCausalLMAdapter({self.config!r})"

    # ------------------------------------------------------------------ build

    def hf_config(self, vocab_size: int) -> Any:
        """The transformers config a fresh model is built from, for a vocabulary of ``vocab_size``."""
        check_vocab_size(vocab_size)
        if self.config.pretrained_dir is None:
            model_type, settings = self.config.resolved_model_type, dict(self.config.overrides)
        else:
            model_type, settings = self._directory_settings()
        return config_for(model_type, settings, vocab_size)

    def build(self, vocab_size: int, *, seed: int | None = None) -> nn.Module:
        """A freshly initialised model (the directory's weights with ``load_weights``)."""
        check_vocab_size(vocab_size)
        with seeded(seed):
            if self.config.load_weights:
                model_type, settings = self._directory_settings()
                directory = _directory(self.config.pretrained_dir)
                with _loading(directory):
                    model = AutoModelForCausalLM.from_pretrained(
                        directory,
                        config=AutoConfig.for_model(model_type, **settings),
                        attn_implementation=self.config.attn_implementation,
                        **_load_kwargs(),
                    )
                for key, value in out_of_vocab_ids(model.config, vocab_size).items():
                    setattr(model.config, key, value)
                if model.get_input_embeddings().weight.shape[0] != vocab_size:
                    # new rows are drawn around the old rows' mean (transformers' mean_resizing)
                    model.resize_token_embeddings(vocab_size)
            else:
                model = AutoModelForCausalLM.from_config(
                    self.hf_config(vocab_size), attn_implementation=self.config.attn_implementation
                )
        _finish(model)
        rows = _token_rows(model)
        if rows != vocab_size:
            raise UserError(
                f"model_type {model.config.model_type!r} built a token embedding of {rows} rows for a vocabulary of "
                f"{vocab_size}; it keeps its vocabulary in a sub-config, so use its text-only model type instead."
            )
        return model

    def _directory_settings(self) -> tuple[str, dict[str, Any]]:
        """The model type and config keys of ``pretrained_dir``, with the overrides on top."""
        c = self.config
        directory = _directory(c.pretrained_dir)
        with _loading(directory):
            base = AutoConfig.from_pretrained(directory, local_files_only=True, trust_remote_code=False)
        if c.model_type is not None and c.model_type != base.model_type:
            raise UserError(
                f"model_type is {c.model_type!r} but pretrained_dir {c.pretrained_dir!r} holds a "
                f"{base.model_type!r} model; leave model_type out to use the directory's."
            )
        problems = override_problems(base, c.overrides)
        if problems:
            key, message = problems[0]
            raise UserError(f"overrides.{key} {message}.")
        settings = base.to_dict()
        settings.pop("model_type", None)
        settings.update(c.overrides)
        return base.model_type, settings

    # ------------------------------------------------------------------ roles

    def parameters_info(self, model: nn.Module) -> list[ParameterInfo]:
        """Roles from the module structure (see :mod:`pptrain_hf.roles`); unknowns warned about."""
        config = getattr(model, "config", None)
        positions = {v for k in POSITION_KEYS if isinstance(v := getattr(config, k, None), int)}
        infos = structural_infos(
            model,
            token_embedding=_call_or_none(model, "get_input_embeddings"),
            head=_call_or_none(model, "get_output_embeddings"),
            position_sizes=positions,
            patterns=self.config.role_patterns,
        )
        report_unknown(self.name, infos)
        return infos

    # ------------------------------------------------------------------ persistence

    def model_config(self, model: nn.Module) -> dict[str, Any]:
        """``{"adapter", "model_type", "hf_config"}``: the HF config as plain JSON.

        Private keys (``_name_or_path``: where a model was loaded from) are left out, so the
        description depends on the model, not on the directory it came from.
        """
        hf_config = json.loads(model.config.to_json_string(use_diff=False))
        return {
            "adapter": self.name,
            "model_type": model.config.model_type,
            "hf_config": {k: v for k, v in hf_config.items() if not k.startswith("_")},
        }

    def save(self, model: nn.Module, directory: str) -> None:
        """``save_pretrained``: ``config.json``, ``generation_config.json``, ``model.safetensors``."""
        kwargs = {}
        if "safe_serialization" in inspect.signature(model.save_pretrained).parameters:  # transformers 4.x
            kwargs["safe_serialization"] = True
        model.save_pretrained(directory, **kwargs)
        if not any(Path(directory).glob("*.safetensors")):
            raise RuntimeError(f"save_pretrained wrote no .safetensors file into {directory!r}")

    def load(self, directory: str) -> nn.Module:
        """The model saved in ``directory`` (local files only, float32, eval mode)."""
        path = _directory(directory, "model directory")
        with _loading(path):
            model = AutoModelForCausalLM.from_pretrained(
                path, attn_implementation=self.config.attn_implementation, **_load_kwargs()
            )
        _finish(model)
        return model


# ---------------------------------------------------------------------- helpers


def config_for(model_type: str, settings: dict[str, Any], vocab_size: int) -> Any:
    """``AutoConfig.for_model`` with the task's vocabulary and no special id outside it."""
    draft = AutoConfig.for_model(model_type, **settings)
    fixed = {}
    for key, value in out_of_vocab_ids(draft, vocab_size).items():
        try:  # some configs require an id (a multimodal model's image_token_id): keep theirs
            setattr(draft, key, value)
        except Exception:  # huggingface_hub StrictDataclassError on v5, TypeError/ValueError elsewhere
            continue
        fixed[key] = value
    return AutoConfig.for_model(model_type, **{**settings, **fixed, "vocab_size": vocab_size})


def out_of_vocab_ids(config: Any, vocab_size: int) -> dict[str, Any]:
    """The ``*_token_id`` settings that fall outside ``[0, vocab_size)``, with their fixed values.

    A GPT-2 config says ``eos_token_id=50256``; with a 40-symbol task vocabulary that id
    does not exist, and generation or padding code reading it would index out of range.
    Such ids become ``None``; lists (Llama 3's several end ids) keep their ids that fit.
    """
    fixed: dict[str, Any] = {}
    data = config.to_dict() if hasattr(config, "to_dict") else vars(config)
    for key, value in data.items():
        if not key.endswith("_token_id"):
            continue
        if isinstance(value, int) and not isinstance(value, bool) and not 0 <= value < vocab_size:
            fixed[key] = None
        elif isinstance(value, (list, tuple)):
            kept = [v for v in value if isinstance(v, int) and 0 <= v < vocab_size]
            if len(kept) != len(value):
                fixed[key] = kept if len(kept) > 1 else (kept[0] if kept else None)
    return fixed


def _finish(model: PreTrainedModel) -> None:
    vocab_size = getattr(model.config, "vocab_size", None)
    generation = getattr(model, "generation_config", None)
    if generation is not None and isinstance(vocab_size, int):
        for key, value in out_of_vocab_ids(generation, vocab_size).items():
            setattr(generation, key, value)
    if getattr(model, "loss_type", "") is None:
        # transformers falls back to this loss anyway, with a warning on every new model
        model.loss_type = "ForCausalLM"


def _load_kwargs() -> dict[str, Any]:
    """What every ``from_pretrained`` gets: local files, no custom code, no Hub kernels, float32 weights.

    ``trust_remote_code=False`` is explicit so transformers never asks (it prompts on a
    terminal when left ``None``); ``use_kernels=False`` keeps transformers 5 from
    swapping layers for kernels fetched from the Hub.
    """
    major, minor = (int(part) for part in re.findall(r"\d+", transformers.__version__)[:2])
    kwargs: dict[str, Any] = {"local_files_only": True, "trust_remote_code": False}
    if (major, minor) < (4, 56):  # pragma: no cover - old transformers
        kwargs["torch_dtype"] = torch.float32
    else:
        kwargs["dtype"] = torch.float32
    if major >= 5:
        kwargs["use_kernels"] = False
    return kwargs


#: config.json keys that make ``from_pretrained`` do more than build a model and read its weights.
REFUSED_CONFIG_KEYS = {
    "quantization_config": "asks for a quantizer (some fetch kernels from the Hub); pptrain loads float32 weights",
}


def _directory(path: str | None, what: str = "pretrained_dir") -> str:
    """``path`` if it holds a ``config.json`` transformers can build by itself (no custom code); else UserError."""
    p = Path(str(path)).expanduser()
    where = f"{what} {str(path)!r}"
    cfg = p / "config.json"
    if not cfg.is_file():
        raise UserError(f"{where} holds no config.json; point it at a local directory written by save_pretrained.")
    try:
        data = json.loads(cfg.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"{where}: config.json is not readable JSON ({_short(exc)}).") from None
    if not isinstance(data, dict):
        raise UserError(f"{where}: config.json must hold a JSON object, got {type(data).__name__}.")
    model_type = data.get("model_type")
    if not isinstance(model_type, str) or not model_type:
        raise UserError(f"{where}: config.json has no model_type string, so transformers cannot build it.")
    problem = model_type_problem(model_type)
    if problem:
        raise UserError(
            f"{where}: config.json names {problem}; pptrain builds only model types transformers ships "
            "and never runs a directory's own code."
        )
    for key, why in REFUSED_CONFIG_KEYS.items():
        if key in data:
            raise UserError(f"{where}: config.json has {key}, which {why}; remove it or use a full-precision model.")
    if (p / "adapter_config.json").exists():
        raise UserError(f"{where} holds adapter_config.json (a PEFT adapter); pptrain loads full models only.")
    return str(p)


@contextlib.contextmanager
def _loading(directory: str) -> Iterator[None]:
    """Turn transformers' failures on a directory's files into one :class:`UserError` sentence."""
    try:
        yield
    except UserError:
        raise
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, AttributeError) as exc:
        raise UserError(f"the model in {directory!r} cannot be loaded ({_short(exc)}).") from None


def _short(exc: BaseException, limit: int = 160) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _token_rows(model: nn.Module) -> int | None:
    embedding = _call_or_none(model, "get_input_embeddings")
    weight = getattr(embedding, "weight", None)
    return None if weight is None else int(weight.shape[0])


def _call_or_none(model: nn.Module, method: str) -> nn.Module | None:
    try:
        return getattr(model, method)()
    except (AttributeError, NotImplementedError):
        return None
