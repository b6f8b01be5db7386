"""Transfer, with pptrain 0.3.0's names and meanings on top of the core's policies.

* :class:`ReinitializeEmbeddingTransferPolicy` keeps 0.3.0's meaning: everything but the
  token embedding and the output head is copied where the shapes match: position
  embeddings too (the core's policy leaves them fresh unless ``copy_positions``), and
  parameters the adapter gives no role (``copy_unknown``). A position table of another
  length stays fresh, as in 0.3.0 (the core would copy its first rows).
* :class:`SkipParametersTransferPolicy` ``(skip_parameter_names=(), skip_parameter_prefixes=())``:
  everything whose shapes match, except those names and prefixes (the core's ``skip``).
* Both return a :class:`TransferReport` (the core's, with 0.3.0's
  ``loaded_parameter_count``, ``skipped_parameters``, ``missing_parameters``), and take a
  :class:`TransferBundle` (a core bundle that also answers 0.3.0's attribute names).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from pptrain_core.bundle import BUNDLE_FILE, Bundle, load_bundle
from pptrain_core.errors import UserError
from pptrain_core.models import ParameterInfo
from pptrain_core.transfer import ReinitEmbeddingsConfig, SkipPrefixesConfig
from pptrain_core.transfer import TransferReport as CoreTransferReport
from pptrain_core.transfer.policies import (
    AttentionOnlyTransfer,
    FullTransfer,
    MeanEmbeddingsTransfer,
    MLPOnlyTransfer,
    Rule,
    SkipPrefixesTransfer,
    TransferPolicy,
)
from pptrain_core.transfer.policies import ReinitializeEmbeddingTransferPolicy as CoreReinitialize

LOADED = ("copied", "partially_copied", "mean_initialised")


@attrs.frozen(kw_only=True)
class TransferReport(CoreTransferReport):
    """The core report plus 0.3.0's three fields, computed from the rows."""

    @classmethod
    def of(cls, report: CoreTransferReport) -> TransferReport:
        return cls(**{f.name: getattr(report, f.name) for f in attrs.fields(CoreTransferReport)})

    @property
    def loaded_parameter_count(self) -> int:
        """Target parameters that received values from the source (tied weights count once)."""
        return sum(1 for r in self.rows if r.action in LOADED)

    @property
    def skipped_parameters(self) -> list[str]:
        """Source parameters that were not loaded (by the policy's rule, a shape mismatch, or no counterpart)."""
        return sorted(r.name for r in self.rows if r.source_shape is not None and r.action not in LOADED)

    @property
    def missing_parameters(self) -> list[str]:
        """Target parameters that kept their own values."""
        return sorted(r.name for r in self.rows if r.action not in LOADED and r.action != "source_only")


@attrs.define
class TransferBundle(Bundle):
    """A validated core bundle that also answers 0.3.0's ``TransferBundle`` attributes."""

    @classmethod
    def load(cls, run_dir: str | Path) -> TransferBundle:
        """The bundle of a run directory (``RUN/bundle``) or a bundle directory, validated."""
        path = Path(run_dir)
        if not (path / BUNDLE_FILE).is_file() and (path / "bundle" / BUNDLE_FILE).is_file():
            path = path / "bundle"
        bundle = load_bundle(path)
        return cls(path=bundle.path, meta=bundle.meta)

    @classmethod
    def of(cls, bundle: Bundle) -> TransferBundle:
        return cls(path=bundle.path, meta=bundle.meta)

    @property
    def run_dir(self) -> Path:
        return self.path.parent

    @property
    def model_dir(self) -> Path:
        """The directory with ``config.json`` and ``model.safetensors`` (the bundle itself)."""
        return self.path

    @property
    def tokenizer_spec(self) -> dict[str, Any]:
        ids = self.meta["vocab"]["special_ids"]
        extra = {"sep": ids["sep"]} if "sep" in ids else {}
        return {
            "vocab_size": self.meta["vocab"]["size"],
            "pad_token_id": ids.get("pad", 0),
            "bos_token_id": ids.get("bos"),
            "eos_token_id": ids.get("eos"),
            "extra_token_ids": extra,
        }

    @property
    def task_name(self) -> str:
        return self.meta["task"]["name"]

    @property
    def task_config(self) -> dict[str, Any]:
        return dict(self.meta["task"]["config"])

    @property
    def transfer_policy_name(self) -> str:
        return self.suggested_policy


def _infos(model: Any) -> list[ParameterInfo]:
    """A target's parameter list: roles from pptrain-hf for transformers models, none otherwise."""
    from transformers import PreTrainedModel

    if isinstance(model, PreTrainedModel):
        from pptrain_hf import HFCausalLMAdapter

        return list(HFCausalLMAdapter().parameters_info(model))
    seen: set[int] = set()
    out = []
    for name, p in model.named_parameters():
        if id(p) not in seen:
            seen.add(id(p))
            out.append(ParameterInfo(name, None, tuple(p.shape)))
    return out


class _LegacyEntryPoints:
    """0.3.0's ``apply_bundle(bundle, model)`` and ``apply_state_dict(state, model)``, returning its report."""

    def apply_bundle(self, bundle: Any, target_model: Any, *args: Any, **kwargs: Any) -> TransferReport:
        return TransferReport.of(super().apply_bundle(bundle, target_model, *args, **kwargs))  # type: ignore[misc]

    def apply_state_dict(self, source_state_dict: Mapping[str, Any], target_model: Any) -> TransferReport:
        """Transfer a plain state dict (names as in ``target_model``); roles from the target's names."""
        target = _infos(target_model)
        roles = {i.name: i for i in target}
        source = [
            attrs.evolve(roles[n], shape=tuple(t.shape)) if n in roles else ParameterInfo(n, None, tuple(t.shape))
            for n, t in source_state_dict.items()
        ]
        return TransferReport.of(self.apply(dict(source_state_dict), source, target_model, target))  # type: ignore[attr-defined]


class ReinitializeEmbeddingTransferPolicy(_LegacyEntryPoints, CoreReinitialize):
    """0.3.0's policy: copy everything but the token embedding and the head, where the shapes match.

    With no arguments: ``copy_positions=True`` and ``copy_unknown=True`` (0.3.0 copied position
    embeddings and every other matching tensor). A config object or mapping is used as given.
    """

    def __init__(self, config: Any = None, **options: Any) -> None:
        if config is None:
            config = ReinitEmbeddingsConfig(**{"copy_positions": True, "copy_unknown": True, **options})
            options = {}
        super().__init__(config, **options)

    def adjust(self, rule: Rule, info: ParameterInfo, source: ParameterInfo) -> Rule:
        if info.role == "position_embedding" and rule.verb == "copy" and tuple(source.shape) != tuple(info.shape):
            return Rule("fresh", "position embeddings of another length keep the target's initialisation (as in 0.3.0)")
        return super().adjust(rule, info, source)


class SkipParametersTransferPolicy(_LegacyEntryPoints, SkipPrefixesTransfer):
    """0.3.0's policy: copy every matching tensor except the given names and name prefixes."""

    def __init__(
        self,
        config: Any = None,
        *,
        skip_parameter_names: Sequence[str] = (),
        skip_parameter_prefixes: Sequence[str] = (),
        **options: Any,
    ) -> None:
        if isinstance(skip_parameter_names, str) or isinstance(skip_parameter_prefixes, str):
            raise UserError("skip_parameter_names and skip_parameter_prefixes take a list of names, not one string.")
        self.skip_names = tuple(skip_parameter_names)
        if config is None:
            prefixes = tuple(skip_parameter_prefixes) + self.skip_names
            if not prefixes:
                raise UserError(
                    "SkipParametersTransferPolicy needs skip_parameter_names or skip_parameter_prefixes; "
                    "to copy everything use pptrain.transfer.FullTransfer()."
                )
            config = SkipPrefixesConfig(prefixes=tuple(dict.fromkeys(prefixes)), copy_unknown=True, **options)
            options = {}
        super().__init__(config, **options)

    def decide(self, info: ParameterInfo) -> Rule:
        if info.name in self.skip_names:
            return Rule("skip", f"'{info.name}' is in skip_parameter_names")
        for prefix in self.config.prefixes:
            if info.name.startswith(prefix) and prefix not in self.skip_names:
                return Rule("skip", f"its name starts with the skipped prefix '{prefix}'")
        return FullTransfer.decide(self, info)


__all__ = [
    "AttentionOnlyTransfer",
    "FullTransfer",
    "MLPOnlyTransfer",
    "MeanEmbeddingsTransfer",
    "ReinitializeEmbeddingTransferPolicy",
    "SkipParametersTransferPolicy",
    "SkipPrefixesTransfer",
    "TransferBundle",
    "TransferPolicy",
    "TransferReport",
]
