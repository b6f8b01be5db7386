"""pptrain 0.3.0's model adapters, mapped onto pptrain-hf.

* :class:`HFModelConfig` ``(model_name_or_path, trust_remote_code=False, config_overrides={})``
  and :class:`HFCausalLMAdapter`: the pre-pretrained model is built from the directory's
  config (vocabulary from the task, ``config_overrides`` on top, fresh weights), exactly
  ``pptrain_hf.HFModelConfig(pretrained_dir=DIR, overrides=...)``;
  ``load_downstream_model()`` loads the directory's model *with* its weights. Models are
  read from local directories only, never downloaded; remote code is never run.
  :class:`HFCausalLMAdapter` also takes a modern ``pptrain_hf.HFModelConfig``.
* :class:`CallableCausalLMAdapter` and :class:`VocabSizeCausalLMAdapter`: your functions
  build the models. The pre-pretrained model must be a ``transformers`` model, because a
  bundle is rebuilt from data (its ``config.json``), never by calling your code; for a
  plain ``torch.nn.Module`` use ``pptrain_hf.TorchModuleAdapter``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Protocol

import attrs

from pptrain_core.errors import UserError, quote
from pptrain_hf import HFModelConfig as ModernHFModelConfig


@attrs.define
class TokenizerSpec:
    """0.3.0's vocabulary record, handed to ``create_prepretrain_model``."""

    vocab_size: int
    pad_token_id: int = 0
    bos_token_id: int | None = None
    eos_token_id: int | None = None
    extra_token_ids: dict[str, int] = attrs.Factory(dict)

    @classmethod
    def from_vocab(cls, vocab: Any) -> TokenizerSpec:
        """From a task vocabulary (:class:`pptrain_core.data.TokenizerSpec`)."""
        extra = {"sep": vocab.sep_id} if vocab.sep_id is not None else {}
        return cls(vocab.size, vocab.pad_id or 0, vocab.bos_id, vocab.eos_id, extra)

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


class CausalLMAdapter(Protocol):
    """0.3.0's adapter protocol: what :class:`pptrain.PrePreTrainer` accepts besides pptrain-hf adapters."""

    config: Any

    def create_prepretrain_model(self, tokenizer_spec: TokenizerSpec) -> Any: ...

    def load_downstream_model(self) -> Any: ...

    def load_downstream_tokenizer(self) -> Any | None: ...


# --------------------------------------------------------------------------- Hugging Face


@attrs.frozen
class HFModelConfig:
    """0.3.0's model config: a local model directory, and config keys to override."""

    model_name_or_path: str
    trust_remote_code: bool = False
    config_overrides: dict[str, Any] = attrs.field(factory=dict, converter=dict)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.model_name_or_path, str) or not self.model_name_or_path:
            raise UserError(f"model_name_or_path must be a model directory, got {quote(self.model_name_or_path)}.")
        if self.trust_remote_code:
            raise UserError(
                "trust_remote_code=True is refused: pptrain never runs code shipped with a model; "
                "use a model type that transformers implements."
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_name_or_path": self.model_name_or_path,
            "trust_remote_code": self.trust_remote_code,
            "config_overrides": dict(self.config_overrides),
        }

    def directory(self) -> str:
        """The local directory, or one sentence saying that models are never downloaded."""
        path = os.path.expanduser(self.model_name_or_path)
        if not os.path.isdir(path):
            raise UserError(
                f"model_name_or_path {quote(self.model_name_or_path)} is not a local directory; pptrain never "
                "downloads models: save the model with save_pretrained (or `hf download`) and pass its directory."
            )
        return path

    def to_modern(self) -> ModernHFModelConfig:
        """``pptrain_hf.HFModelConfig(pretrained_dir=..., overrides=...)``: the same pre-pretrained model."""
        return ModernHFModelConfig(pretrained_dir=self.directory(), overrides=dict(self.config_overrides))


def _local_kwargs() -> dict[str, Any]:
    return {"local_files_only": True, "trust_remote_code": False}


class HFCausalLMAdapter:
    """0.3.0's ``HFCausalLMAdapter(HFModelConfig(...))``; also takes a ``pptrain_hf.HFModelConfig``."""

    def __init__(self, config: HFModelConfig | ModernHFModelConfig):
        if not isinstance(config, (HFModelConfig, ModernHFModelConfig)):
            raise UserError(f"HFCausalLMAdapter takes an HFModelConfig, got {type(config).__name__}.")
        self.config = config

    def __repr__(self) -> str:
        return f"HFCausalLMAdapter({self.config!r})"

    def core(self) -> Any:
        """The ``hf_causal_lm`` adapter that trains and exports the pre-pretrained model."""
        from pptrain_hf import HFCausalLMAdapter as Modern

        modern = self.config.to_modern() if isinstance(self.config, HFModelConfig) else self.config
        return Modern(modern)

    def _directory(self, what: str) -> str:
        if isinstance(self.config, HFModelConfig):
            return self.config.directory()
        if self.config.pretrained_dir:
            return self.config.pretrained_dir
        raise UserError(f"{what} needs a model directory: HFModelConfig(model_name_or_path=DIR).")

    def create_prepretrain_model(self, tokenizer_spec: TokenizerSpec) -> Any:
        """A fresh model for the task's vocabulary (0.3.0 semantics: the directory's config, fresh weights)."""
        return self.core().build(tokenizer_spec.vocab_size)

    def load_downstream_model(self) -> Any:
        """The directory's model with its own weights and vocabulary (local files only)."""
        from transformers import AutoConfig

        from pptrain_hf import HFCausalLMAdapter as Modern

        directory = self._directory("load_downstream_model")
        vocab = AutoConfig.from_pretrained(directory, **_local_kwargs()).vocab_size
        return Modern(ModernHFModelConfig(pretrained_dir=directory, load_weights=True)).build(vocab)

    def load_downstream_tokenizer(self) -> Any:
        """The directory's tokenizer (pad = eos when it has no pad token), or None when it has none."""
        from transformers import AutoTokenizer

        directory = self._directory("load_downstream_tokenizer")
        try:
            tokenizer = AutoTokenizer.from_pretrained(directory, **_local_kwargs())
        except (OSError, ValueError):
            return None
        if tokenizer.pad_token_id is None and tokenizer.eos_token_id is not None:
            tokenizer.pad_token = tokenizer.eos_token
        return tokenizer


# --------------------------------------------------------------------------- your own functions


@attrs.define
class CallableAdapterConfig:
    """0.3.0's config of a callable adapter: just a name."""

    name: str = "callable"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name}


class CallableCausalLMAdapter:
    """``create_prepretrain_model(tokenizer_spec)`` and ``load_downstream_model()`` are your functions."""

    def __init__(
        self,
        *,
        create_prepretrain_model: Callable[[TokenizerSpec], Any],
        load_downstream_model: Callable[[], Any],
        load_downstream_tokenizer: Callable[[], Any] | None = None,
        name: str = "callable",
    ):
        self._create = create_prepretrain_model
        self._load = load_downstream_model
        self._tokenizer = load_downstream_tokenizer
        self.config = CallableAdapterConfig(name=name)

    def create_prepretrain_model(self, tokenizer_spec: TokenizerSpec) -> Any:
        return self._create(tokenizer_spec)

    def load_downstream_model(self) -> Any:
        return self._load()

    def load_downstream_tokenizer(self) -> Any | None:
        return self._tokenizer() if self._tokenizer is not None else None


class VocabSizeCausalLMAdapter(CallableCausalLMAdapter):
    """Like :class:`CallableCausalLMAdapter`, but ``create_prepretrain_model(vocab_size)`` takes the size only."""

    def __init__(
        self,
        *,
        create_prepretrain_model: Callable[[int], Any],
        load_downstream_model: Callable[[], Any],
        load_downstream_tokenizer: Callable[[], Any] | None = None,
        name: str = "vocab-size",
    ):
        super().__init__(
            create_prepretrain_model=lambda spec: create_prepretrain_model(spec.vocab_size),
            load_downstream_model=load_downstream_model,
            load_downstream_tokenizer=load_downstream_tokenizer,
            name=name,
        )


class CallableBridge:
    """Our adapter protocol over a callable adapter whose models are ``transformers`` models.

    Building calls your function (seeded, with the task's vocabulary); roles, saving and
    loading are ``hf_causal_lm``'s, so the bundle is data that any pptrain rebuilds.
    """

    name = "hf_causal_lm"

    def __init__(self, adapter: CallableCausalLMAdapter, vocab: Any):
        from pptrain_hf import HFCausalLMAdapter as Modern

        self.adapter = adapter
        self.spec = TokenizerSpec.from_vocab(vocab)
        self.config = ModernHFModelConfig()
        self._hf = Modern(self.config)

    def build(self, vocab_size: int, *, seed: int | None = None) -> Any:
        import torch
        from transformers import PreTrainedModel

        spec = attrs.evolve(self.spec, vocab_size=vocab_size)
        if seed is not None:
            torch.manual_seed(seed)
        model = self.adapter.create_prepretrain_model(spec)
        if not isinstance(model, PreTrainedModel):
            raise UserError(
                f"{type(self.adapter).__name__} '{self.adapter.config.name}' built a {type(model).__name__}, not a "
                "transformers model; a bundle is rebuilt from data, never by calling your function, so wrap a plain "
                "torch module with pptrain_hf.TorchModuleAdapter(TorchModuleConfig(factory='package.module:function'))."
            )
        self.config = ModernHFModelConfig(model_type=model.config.model_type)
        from pptrain_hf import HFCausalLMAdapter as Modern

        self._hf = Modern(self.config)
        return model

    def parameters_info(self, model: Any) -> Any:
        return self._hf.parameters_info(model)

    def model_config(self, model: Any) -> dict[str, Any]:
        return self._hf.model_config(model)

    def save(self, model: Any, directory: str) -> None:
        self._hf.save(model, directory)

    def load(self, directory: str) -> Any:
        return self._hf.load(directory)


def core_adapter(adapter: Any, vocab: Any) -> Any:
    """The adapter the core trainer uses for ``adapter`` (a 0.3.0 adapter or a modern one)."""
    if isinstance(adapter, HFCausalLMAdapter):
        return adapter.core()
    if isinstance(adapter, CallableCausalLMAdapter):
        return CallableBridge(adapter, vocab)
    if all(hasattr(adapter, m) for m in ("build", "parameters_info", "save", "load", "name")):
        return adapter  # a modern adapter (pptrain_hf.HFCausalLMAdapter, TorchModuleAdapter, ...)
    raise UserError(
        f"model_adapter must be an HFCausalLMAdapter, a CallableCausalLMAdapter or a pptrain-hf adapter, "
        f"got {type(adapter).__name__}."
    )


__all__ = [
    "CallableAdapterConfig",
    "CallableCausalLMAdapter",
    "CausalLMAdapter",
    "HFCausalLMAdapter",
    "HFModelConfig",
    "TokenizerSpec",
    "VocabSizeCausalLMAdapter",
]
