"""Parameter roles read from a model's module structure, and how unknowns are reported.

The rule for a parameter, first that applies:

0. a user pattern (``HFModelConfig.role_patterns``) matches its name -> that role;
1. it *is* the input embedding's weight (the same tensor) -> ``token_embedding``; a weight
   tied to it is listed once, under the name ``named_parameters()`` gives it;
2. it belongs to the output embedding module and is not tied -> ``head``;
3. otherwise the modules that hold it are read from the nearest outwards, and the first
   one recognised decides. Class names are read without the model's own prefix
   (``Qwen3_5Moe`` in ``Qwen3_5MoeGatedDeltaNet``), so a model called "...Moe" does not
   make every one of its modules an MoE:

   * an ``nn.Embedding`` (other than the input embedding) -> ``position_embedding`` when
     its class name says ``Position`` or its row count is one of the config's position
     sizes (GPT-2 ``wpe``: ``n_positions`` rows); any other embedding stops the walk and
     leaves the parameter unknown (a token-type or per-layer table is not a position);
   * a norm (a torch norm layer, or a class name containing ``Norm``) -> ``norm``;
   * a class name containing ``Attention`` -> ``attention``;
   * a class name containing ``MLP``, ``Mlp``, ``FeedForward``, ``FFN``, ``MoE``, ``Moe``
     or ``Expert`` -> ``mlp``.

4. nothing recognised -> ``None``: reported (:func:`pptrain_hf.common.report_unknown`), never guessed.

Nearest first means a norm inside an attention block (Qwen3's ``q_norm``) is a ``norm``,
and a projection inside it is ``attention``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping

from torch import nn

from pptrain_core.models import ParameterInfo, layer_index

_NORM_TYPES = tuple(
    t
    for t in (
        nn.LayerNorm,
        getattr(nn, "RMSNorm", None),
        nn.GroupNorm,
        nn.BatchNorm1d,
        nn.BatchNorm2d,
        nn.InstanceNorm1d,
    )
    if t is not None
)
_MLP_WORDS = ("MLP", "Mlp", "FeedForward", "FFN", "Ffn", "MoE", "Moe", "Expert")

#: HF config keys whose value is the number of positions a learned position table holds.
POSITION_KEYS = ("max_position_embeddings", "n_positions", "n_ctx", "max_seq_len", "seq_length", "max_sequence_length")

_UNKNOWN = "unknown"  # an embedding that is neither token nor position: stop, report


_HEAD_SUFFIX = re.compile(r"(ForCausalLM|LMHeadModel|ModelWithLMHead|ForConditionalGeneration|Model)$")


def model_prefix(model: nn.Module) -> str:
    """The model family's class-name prefix: ``GPT2`` for ``GPT2LMHeadModel``, ``""`` if unclear."""
    name = type(model).__name__
    m = _HEAD_SUFFIX.search(name)
    return name[: m.start()] if m else ""


def module_role(module: nn.Module, position_sizes: Collection[int], prefix: str = "") -> str | None:
    """The role a module gives the parameters it holds, or ``None`` if it says nothing."""
    cls = type(module).__name__
    if prefix and cls.startswith(prefix):
        cls = cls[len(prefix) :]
    if isinstance(module, nn.Embedding):
        if "Position" in cls or module.num_embeddings in position_sizes:
            return "position_embedding"
        return _UNKNOWN
    if isinstance(module, _NORM_TYPES) or "Norm" in cls:
        return "norm"
    if "Attention" in cls:
        return "attention"
    if any(word in cls for word in _MLP_WORDS):
        return "mlp"
    return None


def structural_infos(
    model: nn.Module,
    *,
    token_embedding: nn.Module | None,
    head: nn.Module | None,
    position_sizes: Collection[int] = (),
    patterns: Mapping[str, str] | None = None,
) -> list[ParameterInfo]:
    """Every parameter of ``model`` (tied ones once) with the role its module structure gives it.

    ``patterns`` (regular expression -> role, tried in order with ``re.search`` on the full
    parameter name) come first: the user's word beats the structure.
    """
    compiled = [(re.compile(p), role) for p, role in (patterns or {}).items()]
    prefix = model_prefix(model)
    modules = dict(model.named_modules())
    token_ids = {id(p) for p in token_embedding.parameters()} if token_embedding is not None else set()
    head_ids = {id(p) for p in head.parameters()} - token_ids if head is not None else set()
    infos = []
    for name, param in model.named_parameters():
        role = next((r for rx, r in compiled if rx.search(name)), None)
        if role is None and id(param) in token_ids:
            role = "token_embedding"
        elif role is None and id(param) in head_ids:
            role = "head"
        elif role is None:
            found = next(filter(None, (module_role(modules[o], position_sizes, prefix) for o in _owners(name))), None)
            role = None if found == _UNKNOWN else found
        infos.append(ParameterInfo(name=name, role=role, shape=tuple(param.shape), layer=layer_index(name)))
    return infos


def _owners(name: str) -> Iterable[str]:
    """``a.b.c.weight`` -> ``a.b.c``, ``a.b``, ``a``, ``""`` (the module names, nearest first)."""
    parts = name.split(".")[:-1]
    for i in range(len(parts), -1, -1):
        yield ".".join(parts[:i])
