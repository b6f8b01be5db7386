"""The built-in transfer policies: move pre-pretrained weights into a downstream model.

A policy decides per parameter *role* (``pptrain_core.models.ROLES``), never per name:
the source and the target are built by the same adapter, parameters are matched by
name, and the adapter's role for each decides what happens. Every decision lands in a
:class:`~pptrain_core.transfer.report.TransferReport` row with a reason.

Writing a policy: subclass :class:`TransferPolicy`, set ``name`` and ``config_cls`` and
implement :meth:`TransferPolicy.decide_role` (see ``docs/transfer.md``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import attrs
import torch

from pptrain_core.models import ParameterInfo
from pptrain_core.transfer.report import TransferError, TransferReport, TransferRow
from pptrain_core.transfer.specs import (
    AttentionOnlyConfig,
    FullTransferConfig,
    MeanEmbeddingsConfig,
    MLPOnlyConfig,
    ReinitEmbeddingsConfig,
    SkipPrefixesConfig,
    TransferConfig,
)

__all__ = [
    "AttentionOnlyTransfer",
    "BODY_ROLES",
    "EMBEDDING_ROLES",
    "FullTransfer",
    "MLPOnlyTransfer",
    "MeanEmbeddingsTransfer",
    "ReinitializeEmbeddingTransferPolicy",
    "Rule",
    "SkipPrefixesTransfer",
    "TransferPolicy",
]

#: Roles that depend on the vocabulary or the sequence length: never frozen by ``freeze``.
EMBEDDING_ROLES: frozenset[str] = frozenset({"token_embedding", "position_embedding", "head"})
#: The transformer body.
BODY_ROLES: frozenset[str] = frozenset({"attention", "mlp", "norm"})

#: What a policy can decide for one parameter (the shapes then decide the report action).
VERBS: tuple[str, ...] = ("copy", "mean", "fresh", "skip", "keep")


@attrs.frozen
class Rule:
    """A policy's decision for one parameter, before shapes are looked at.

    ``copy``: copy the source tensor (position embeddings of another length: the first
    rows); ``mean``: every row = the mean source row; ``fresh``: leave the target's own
    initialisation (reported ``reinitialised``); ``skip``: excluded by the user
    (``skipped``); ``keep``: not transferable (``kept``). ``reason`` is a sentence fragment
    saying why, shown in the report.
    """

    verb: str = attrs.field(validator=attrs.validators.in_(VERBS))
    reason: str


def _shape_text(shape: Sequence[int]) -> str:
    return "(" + ", ".join(map(str, shape)) + ")"


@attrs.frozen
class _Op:
    kind: str  # copy | rows | mean
    name: str
    source: Any
    rows: int = 0


class TransferPolicy:
    """Base class: matching, shape checks, the report, dry runs and freezing.

    Construct with no arguments (the default config), with a config object, with a
    mapping of settings (structured strictly), or with keyword options::

        ReinitializeEmbeddingTransferPolicy()
        ReinitializeEmbeddingTransferPolicy(ReinitEmbeddingsConfig(copy_positions=True))
        ReinitializeEmbeddingTransferPolicy({"copy_positions": True})
        ReinitializeEmbeddingTransferPolicy(copy_positions=True, freeze=True)
    """

    name: ClassVar[str] = "custom"
    config_cls: ClassVar[type] = TransferConfig

    def __init__(self, config: Any = None, **options: Any) -> None:
        if isinstance(config, Mapping):
            from pptrain_core.config import structure

            config = structure({**config, **options}, self.config_cls, "$.transfer.params")
        elif config is None:
            config = self.config_cls(**options)
        else:
            if not isinstance(config, self.config_cls):
                raise TypeError(
                    f"{type(self).__name__} takes a {self.config_cls.__name__}, got {type(config).__name__}"
                )
            if options:
                config = attrs.evolve(config, **options)
        self.config = config

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"

    # ------------------------------------------------------------------ decisions (override these)

    def decide(self, info: ParameterInfo) -> Rule:
        """The rule for one target parameter that has a source counterpart of the same role."""
        if info.role is None:
            if getattr(self.config, "copy_unknown", False):
                return Rule("copy", "the adapter gave it no role; copied because copy_unknown is set")
            return Rule(
                "keep",
                "the adapter gave it no role; unknown parameters are never copied silently "
                "(set copy_unknown=true to copy it)",
            )
        return self.decide_role(info)

    def decide_role(self, info: ParameterInfo) -> Rule:
        """The rule for a parameter with a known role. Subclasses implement this."""
        raise NotImplementedError

    def source_role(self, info: ParameterInfo) -> str | None:
        """The role of the source parameter that feeds ``info`` when it is not the one of the
        same name (None: the same-named one). ``mean_embeddings`` draws the output head from
        the source's token embedding, as Jiang et al.'s ``average`` strategy does."""
        return None

    def adjust(self, rule: Rule, info: ParameterInfo, source: ParameterInfo) -> Rule:
        """Revise a rule once the source's shape is known (default: unchanged)."""
        return rule

    def freezes(self, info: ParameterInfo, action: str) -> bool:
        """Whether to freeze a parameter after the transfer: with ``freeze``, every fully
        copied parameter that is not an embedding or the head (the transferred body)."""
        return bool(getattr(self.config, "freeze", False)) and action == "copied" and info.role not in EMBEDDING_ROLES

    # ------------------------------------------------------------------ entry points

    def apply_bundle(
        self,
        bundle: Any,
        target_model: torch.nn.Module,
        target_adapter: Any = None,
        dry_run: bool = False,
        *,
        target_infos: Sequence[ParameterInfo] | None = None,
    ) -> TransferReport:
        """Transfer a bundle's weights into ``target_model``.

        ``bundle`` needs ``parameters`` (a list of :class:`ParameterInfo`) and
        ``load_state_dict()``. The target's roles come from ``target_adapter`` (the adapter
        that built ``target_model``), or from ``target_infos``, or, when neither is given,
        from the bundle's own adapter (``bundle.adapter()``: the downstream model is
        expected to come from the same adapter as the pre-pretrained one).
        """
        if target_adapter is not None and target_infos is not None:
            raise TypeError("give target_adapter or target_infos, not both")
        notes: list[str] = []
        if target_adapter is not None:
            infos = list(target_adapter.parameters_info(target_model))
        elif target_infos is not None:
            infos = list(target_infos)
        else:
            adapter = getattr(bundle, "adapter", None)
            if adapter is not None and not hasattr(adapter, "parameters_info") and callable(adapter):
                adapter = adapter()
            if adapter is None or not hasattr(adapter, "parameters_info"):
                raise TransferError(
                    "cannot tell the roles of the target model's parameters; pass target_adapter= "
                    "(the adapter that built it) or target_infos= (its parameter list)."
                )
            infos = list(adapter.parameters_info(target_model))
            notes.append(f"target roles from the bundle's adapter '{getattr(adapter, 'name', type(adapter).__name__)}'")
        report = self.apply(bundle.load_state_dict(), list(bundle.parameters), target_model, infos, dry_run=dry_run)
        return attrs.evolve(report, notes=(*notes, *report.notes))

    @torch.no_grad()
    def apply(
        self,
        source_state: Mapping[str, torch.Tensor],
        source_infos: Sequence[ParameterInfo],
        target_model: torch.nn.Module,
        target_infos: Sequence[ParameterInfo],
        *,
        dry_run: bool = False,
    ) -> TransferReport:
        """Transfer ``source_state`` into ``target_model`` and report every parameter.

        Everything is checked and planned before anything is written, so an error leaves
        the model untouched. With ``dry_run`` the identical report is computed and the
        model (values and ``requires_grad``) is not touched at all.
        """
        params = dict(target_model.named_parameters())
        notes: list[str] = []
        tinfos = _check_infos(list(target_infos), "target")
        for info in tinfos:
            if info.name not in params:
                raise TransferError(
                    f"the target's parameter list names '{info.name}', which the target model does not have; "
                    "the adapter and the model disagree."
                )
            actual = tuple(params[info.name].shape)
            if tuple(info.shape) != actual:
                raise TransferError(
                    f"the target's parameter list gives '{info.name}' shape {_shape_text(info.shape)}, "
                    f"the model has {_shape_text(actual)}."
                )
        listed = {i.name for i in tinfos}
        unlisted = [n for n in params if n not in listed]
        for n in unlisted:
            tinfos.append(ParameterInfo(n, None, tuple(params[n].shape)))
        if unlisted:
            notes.append(
                f"{len(unlisted)} target parameter(s) missing from the adapter's list were treated as "
                f"unknown role: {', '.join(unlisted[:5])}{', ...' if len(unlisted) > 5 else ''}"
            )

        sinfos = _check_infos(list(source_infos), "source")
        sources: dict[str, ParameterInfo] = {}
        tensors: dict[str, torch.Tensor] = {}
        for info in sinfos:
            if info.name not in source_state:
                raise TransferError(
                    f"the source lists parameter '{info.name}' but its weights have no tensor of that name; "
                    "the bundle is damaged."
                )
            tensor = source_state[info.name]
            if tuple(tensor.shape) != tuple(info.shape):
                raise TransferError(
                    f"source parameter '{info.name}' is listed with shape {_shape_text(info.shape)} "
                    f"but its tensor has shape {_shape_text(tuple(tensor.shape))}; the bundle is damaged."
                )
            sources[info.name] = info
            tensors[info.name] = tensor
        ignored = [k for k in source_state if k not in sources]
        if ignored:
            notes.append(
                f"{len(ignored)} source tensor(s) not in the source's parameter list (buffers or tied copies) "
                f"were ignored: {', '.join(ignored[:5])}{', ...' if len(ignored) > 5 else ''}"
            )

        by_role: dict[str, ParameterInfo] = {}
        for info in sinfos:
            if info.role is not None:
                by_role.setdefault(info.role, info)
        rows: list[TransferRow] = []
        ops: list[_Op] = []
        freeze: list[str] = []
        for info in tinfos:
            src = sources.get(info.name)
            borrowed = self.source_role(info) if info.role is not None else None
            if borrowed is not None and borrowed in by_role:
                src = by_role[borrowed]
            row, op = self._plan(info, src, tensors.get(src.name) if src is not None else None, borrowed)
            rows.append(row)
            if op is not None:
                ops.append(op)
            if row.frozen:
                freeze.append(info.name)
        for info in sinfos:
            if info.name not in params:
                rows.append(
                    TransferRow(
                        name=info.name,
                        role=info.role,
                        layer=info.layer,
                        action="source_only",
                        reason="the target has no parameter of this name",
                        source_shape=info.shape,
                        target_shape=None,
                    )
                )

        if not dry_run:
            for op in ops:
                _execute(op, params[op.name])
            for name in freeze:
                params[name].requires_grad_(False)

        return TransferReport(
            policy=self.name,
            config=_config_data(self.config),
            dry_run=dry_run,
            rows=rows,
            notes=notes,
        )

    # ------------------------------------------------------------------ planning

    def _plan(
        self,
        info: ParameterInfo,
        src: ParameterInfo | None,
        tensor: torch.Tensor | None,
        borrowed: str | None = None,
    ) -> tuple[TransferRow, _Op | None]:
        tshape = tuple(info.shape)

        def row(action: str, reason: str, written: int = 0) -> TransferRow:
            return TransferRow(
                name=info.name,
                role=info.role,
                layer=info.layer,
                action=action,
                reason=_sentence(reason),
                source_shape=src.shape if src is not None else None,
                target_shape=tshape,
                frozen=self.freezes(info, action),
                written=written,
                source_name=src.name if src is not None and src.name != info.name else None,
            )

        if src is None:
            return row("kept", "the source has no parameter of this name; it keeps the target's initialisation"), None
        if src.role != info.role and src.role != borrowed:
            return (
                row(
                    "kept",
                    f"the source's adapter gives it role {src.role or 'unknown'} and the target's "
                    f"{info.role or 'unknown'}; not copied",
                ),
                None,
            )
        rule = self.adjust(self.decide(info), info, src)
        if rule.verb == "keep":
            return row("kept", rule.reason), None
        if rule.verb == "skip":
            return row("skipped", rule.reason), None
        if rule.verb == "fresh":
            return row("reinitialised", rule.reason), None

        sshape = tuple(src.shape)
        numel = _numel(tshape)
        mismatch = (
            f"{rule.reason}, but the shapes differ (source {_shape_text(sshape)}, target "
            f"{_shape_text(tshape)}); it keeps the target's initialisation"
        )
        if rule.verb == "copy":
            if sshape == tshape:
                return row("copied", rule.reason, numel), _Op("copy", info.name, tensor)
            if info.role == "position_embedding" and len(sshape) >= 1 and sshape[1:] == tshape[1:]:
                n_src, n_tgt = sshape[0], tshape[0]
                n = min(n_src, n_tgt)
                reason = f"{rule.reason}; the source has {n_src} rows and the target {n_tgt}: the first {n} rows copied"
                if n_tgt > n:
                    reason += f", rows {n} to {n_tgt - 1} keep the target's initialisation"
                else:
                    reason += f", source rows {n} to {n_src - 1} dropped"
                return row("partially_copied", reason, n * _numel(tshape[1:])), _Op("rows", info.name, tensor, n)
            return row("shape_mismatch", mismatch), None
        # mean
        if len(sshape) >= 1 and len(tshape) >= 1 and sshape[1:] == tshape[1:] and sshape[0] > 0:
            reason = (
                f"{rule.reason}: each of the target's {tshape[0]} rows set to the mean of the source's {sshape[0]} rows"
            )
            return row("mean_initialised", reason, numel), _Op("mean", info.name, tensor)
        return row("shape_mismatch", mismatch), None


# ---------------------------------------------------------------------- the built-in policies


class FullTransfer(TransferPolicy):
    """``full``: copy every parameter whose shape matches, embeddings and head included.

    For a shared tokenizer (Hu et al. 2025: no re-initialisation). With different
    vocabularies the token embeddings and an untied head are reported ``shape_mismatch``.
    """

    name = "full"
    config_cls = FullTransferConfig

    def decide_role(self, info: ParameterInfo) -> Rule:
        return Rule("copy", f"full transfer copies every parameter ({info.role})")


class ReinitializeEmbeddingTransferPolicy(TransferPolicy):
    """``reinit_embeddings`` (the default): copy attention, MLP and norms (final norm included);
    token embeddings and the head keep the target's fresh initialisation; position
    embeddings are copied only with ``copy_positions``."""

    name = "reinit_embeddings"
    config_cls = ReinitEmbeddingsConfig

    def decide_role(self, info: ParameterInfo) -> Rule:
        role = info.role
        if role in BODY_ROLES:
            return Rule("copy", f"body parameter ({role}) copied")
        if role == "position_embedding":
            if self.config.copy_positions:
                return Rule("copy", "position embedding copied because copy_positions is set")
            return Rule("fresh", "position embeddings keep the target's fresh initialisation (copy_positions is off)")
        what = "token embeddings keep" if role == "token_embedding" else "the output head keeps"
        return Rule("fresh", f"{what} the target's fresh initialisation")


class _ComponentTransfer(TransferPolicy):
    component: ClassVar[str] = ""

    def decide_role(self, info: ParameterInfo) -> Rule:
        role = info.role
        if role == self.component:
            return Rule("copy", f"{self.name} copies {role} parameters")
        if role == "norm" and self.config.include_norms:
            return Rule("copy", "norm copied because include_norms is set")
        extra = " (include_norms is off)" if role == "norm" else ""
        return Rule(
            "fresh", f"{self.name} copies {self.component} only; {role} keeps the target's fresh initialisation{extra}"
        )


class AttentionOnlyTransfer(_ComponentTransfer):
    """``attention_only``: copy attention parameters (norms with ``include_norms``); the rest starts fresh."""

    name = "attention_only"
    config_cls = AttentionOnlyConfig
    component = "attention"


class MLPOnlyTransfer(_ComponentTransfer):
    """``mlp_only``: copy MLP parameters (norms with ``include_norms``); the rest starts fresh."""

    name = "mlp_only"
    config_cls = MLPOnlyConfig
    component = "mlp"


class SkipPrefixesTransfer(FullTransfer):
    """``skip``: like ``full``, but parameters whose names start with one of ``prefixes`` are not copied."""

    name = "skip"
    config_cls = SkipPrefixesConfig

    def decide(self, info: ParameterInfo) -> Rule:
        for prefix in self.config.prefixes:
            if info.name.startswith(prefix):
                return Rule("skip", f"its name starts with the skipped prefix '{prefix}'")
        return super().decide(info)


class MeanEmbeddingsTransfer(TransferPolicy):
    """``mean_embeddings``: Jiang et al.'s algorithmic-task transfer (``everything`` with
    embedding strategy ``average``). The body and the final norm are copied; every row of
    the target's token embedding *and of its untied output head* becomes the mean of the
    source's token-embedding rows (not of the source's head), whatever the two vocabulary
    sizes; position embeddings: the target's rows are copied from the first source rows
    when the source has at least as many, otherwise every position keeps the target's
    fresh initialisation (``shorter_positions: first_rows`` copies what there is instead)."""

    name = "mean_embeddings"
    config_cls = MeanEmbeddingsConfig

    def source_role(self, info: ParameterInfo) -> str | None:
        if info.role == "head" and self.config.head_from == "token_embedding":
            return "token_embedding"
        return None

    def adjust(self, rule: Rule, info: ParameterInfo, source: ParameterInfo) -> Rule:
        if info.role == "position_embedding" and rule.verb == "copy" and self.config.shorter_positions == "fresh":
            have, want = int(source.shape[0]), int(info.shape[0])
            if have < want:
                return Rule(
                    "fresh",
                    f"the source has {have} position rows, fewer than the target's {want}: every position keeps the "
                    "target's fresh initialisation (Jiang et al.; shorter_positions: first_rows copies them)",
                )
        return rule

    def decide_role(self, info: ParameterInfo) -> Rule:
        role = info.role
        if role == "token_embedding":
            return Rule("mean", "token embedding mean-initialised")
        if role == "head":
            if self.config.head_from == "token_embedding":
                return Rule("mean", "output head mean-initialised from the source's token embedding")
            return Rule("mean", "output head mean-initialised from the source's head")
        if role == "position_embedding":
            if self.config.copy_positions:
                return Rule("copy", "position embedding copied")
            return Rule("fresh", "position embeddings keep the target's fresh initialisation (copy_positions is off)")
        return Rule("copy", f"body parameter ({role}) copied")


# ---------------------------------------------------------------------- helpers


def _numel(shape: Sequence[int]) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith(".") else text + "."


def _check_infos(infos: list[ParameterInfo], side: str) -> list[ParameterInfo]:
    seen: set[str] = set()
    for info in infos:
        if not isinstance(info, ParameterInfo):
            raise TypeError(f"the {side} parameter list must hold ParameterInfo objects, got {type(info).__name__}")
        if info.name in seen:
            raise TransferError(f"the {side}'s parameter list names '{info.name}' twice.")
        seen.add(info.name)
    return infos


def _config_data(config: Any) -> dict[str, Any]:
    if attrs.has(type(config)):
        from pptrain_core.config import unstructure

        data = unstructure(config)
        return dict(data) if isinstance(data, Mapping) else {"value": data}
    return {}


def _execute(op: _Op, param: torch.nn.Parameter) -> None:
    src = op.source.detach()
    if op.kind == "copy":
        param.copy_(src.to(device=param.device, dtype=param.dtype))
    elif op.kind == "rows":
        param[: op.rows].copy_(src[: op.rows].to(device=param.device, dtype=param.dtype))
    elif op.kind == "mean":
        mean = src.to(device="cpu", dtype=torch.float64).mean(dim=0)
        param.copy_(mean.to(device=param.device, dtype=param.dtype).expand_as(param))
    else:  # pragma: no cover - internal
        raise AssertionError(op.kind)
