"""The conformance suite every model adapter passes (see :mod:`pptrain_core.models`).

``parametrize_with_adapter_checks`` turns a list of cases into one pytest case per
(case, check)::

    from pptrain_core.testing.adapters import AdapterCase, parametrize_with_adapter_checks

    @parametrize_with_adapter_checks([AdapterCase(MyAdapter(MyConfig(layers=2)), vocab_size=37)])
    def test_adapter_conformance(check):
        check()

A case is an :class:`AdapterCase` or a plain ``(adapter, vocab_size)`` tuple. Keep the
models tiny: every check builds its own. The checks are the promises the trainer, the
bundle writer and the transfer policies rely on:

* ``protocol``: the adapter has the methods of :class:`~pptrain_core.models.ModelAdapter`
  and a valid ``name``;
* ``forward``: ``forward(input_ids, attention_mask, labels)`` gives a finite scalar
  ``loss`` and ``logits`` of shape ``(batch, time, vocab_size)``;
* ``unshifted_labels``: the loss is the mean cross-entropy of ``logits[:, :-1]`` against
  ``labels[:, 1:]`` with -100 ignored, so labels are never pre-shifted;
* ``parameter_roles``: ``parameters_info`` lists every named parameter exactly once (tied
  ones once) with its true shape, roles from ``ROLES``, no unknown role (unless the case
  allows it), and token-embedding (and head) rows equal to the vocabulary size;
* ``seed_determinism``: the same seed gives identical weights, another seed different
  ones, and building with a seed leaves the caller's global torch RNG as it was;
* ``save_load``: ``save`` writes safetensors (no pickle) and ``load`` gives back identical
  tensors, identical logits and the same ``model_config``;
* ``model_config_json``: ``model_config`` is plain JSON and survives a round trip.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs

from pptrain_core.models import ROLES, ModelAdapter

BATCH, TIME = 2, 8
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


@attrs.frozen
class AdapterCase:
    """One adapter to check, the vocabulary size to build it for, and what it may leave unknown."""

    adapter: Any
    vocab_size: int = 37
    id: str | None = None
    """The pytest id; defaults to the adapter's name (and model type, when its config has one)."""
    allow_unknown: bool = False
    """Allow parameters without a role (for architectures the adapter does not claim to cover)."""

    @property
    def label(self) -> str:
        if self.id:
            return self.id
        kind = getattr(getattr(self.adapter, "config", None), "model_type", None)
        name = getattr(self.adapter, "name", type(self.adapter).__name__)
        return f"{name}:{kind}" if kind else str(name)


@attrs.frozen
class AdapterCheck:
    """One conformance check bound to one case; call it to run it."""

    case: AdapterCase
    name: str
    run: Callable[[AdapterCase], None] = attrs.field(repr=False)

    @property
    def id(self) -> str:
        return f"{self.case.label}-{self.name}"

    def __call__(self) -> None:
        self.run(self.case)


# --------------------------------------------------------------------------- helpers


def _inputs(vocab_size: int, seed: int = 1234):
    import torch

    g = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(0, vocab_size, (BATCH, TIME), generator=g)
    attention_mask = torch.ones_like(input_ids)
    labels = input_ids.clone()
    labels[0, :3] = -100  # a prompt without loss
    labels[1, -2:] = -100  # right padding
    attention_mask[1, -2:] = 0
    return input_ids, attention_mask, labels


def _field(output: Any, key: str) -> Any:
    if isinstance(output, dict):
        return output.get(key)
    return getattr(output, key, None)


def _run(model: Any, vocab_size: int, with_labels: bool = True):
    import torch

    input_ids, attention_mask, labels = _inputs(vocab_size)
    model.eval()
    with torch.no_grad():
        out = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels if with_labels else None)
    return out, input_ids, attention_mask, labels


def _state(model: Any) -> dict[str, Any]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def _same_state(a: dict[str, Any], b: dict[str, Any]) -> bool:
    import torch

    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# --------------------------------------------------------------------------- checks


def check_protocol(case: AdapterCase) -> None:
    """The adapter has every method of the contract and a registrable name."""
    import re

    adapter = case.adapter
    assert isinstance(adapter, ModelAdapter), f"{adapter!r} lacks part of the ModelAdapter protocol"
    assert isinstance(adapter.name, str) and re.match(r"^[a-z][a-z0-9_]*$", adapter.name), (
        f"adapter name {adapter.name!r} must be lower-case letters, digits and underscores"
    )


def check_forward(case: AdapterCase) -> None:
    """forward(input_ids, attention_mask, labels) gives a finite scalar loss and (B, T, V) logits."""
    import torch

    model = case.adapter.build(case.vocab_size, seed=0)
    out, *_ = _run(model, case.vocab_size)
    logits, loss = _field(out, "logits"), _field(out, "loss")
    assert isinstance(logits, torch.Tensor), f"forward returned no logits tensor: {type(out).__name__}"
    assert tuple(logits.shape) == (BATCH, TIME, case.vocab_size), (
        f"logits have shape {tuple(logits.shape)}, expected {(BATCH, TIME, case.vocab_size)}"
    )
    assert isinstance(loss, torch.Tensor) and loss.dim() == 0, "forward with labels returned no scalar loss"
    assert torch.isfinite(loss), f"the loss is not finite: {loss}"
    out, *_ = _run(model, case.vocab_size, with_labels=False)
    assert isinstance(_field(out, "logits"), torch.Tensor), "forward without labels returned no logits"


def check_unshifted_labels(case: AdapterCase) -> None:
    """The model shifts: position t's logits are scored against labels[t + 1]; -100 is ignored."""
    import torch
    from torch.nn import functional as F

    model = case.adapter.build(case.vocab_size, seed=0)
    out, _, _, labels = _run(model, case.vocab_size)
    logits, loss = _field(out, "logits").float(), _field(out, "loss")
    expected = F.cross_entropy(
        logits[:, :-1].reshape(-1, case.vocab_size), labels[:, 1:].reshape(-1), ignore_index=-100
    )
    unshifted = F.cross_entropy(logits.reshape(-1, case.vocab_size), labels.reshape(-1), ignore_index=-100)
    assert torch.allclose(loss.float(), expected, rtol=1e-4, atol=1e-5), (
        f"loss {loss.item():.6f} is not the shifted cross-entropy {expected.item():.6f}"
        + (" but the unshifted one: the model expects pre-shifted labels" if torch.isclose(loss, unshifted) else "")
    )


def check_parameter_roles(case: AdapterCase) -> None:
    """Every parameter once, true shapes, known roles, token embedding (and head) rows == vocab."""
    import warnings

    model = case.adapter.build(case.vocab_size, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an adapter may warn about unknowns; the assertions below judge
        infos = case.adapter.parameters_info(model)
    names = [p.name for p in infos]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    assert not duplicated, f"parameters listed more than once: {duplicated[:5]}"
    params = dict(model.named_parameters())
    assert set(names) == set(params), (
        f"parameters_info and named_parameters differ: missing {sorted(set(params) - set(names))[:5]}, "
        f"extra {sorted(set(names) - set(params))[:5]}"
    )
    for p in infos:
        assert tuple(p.shape) == tuple(params[p.name].shape), f"{p.name}: shape {p.shape} is not the parameter's"
        assert p.role is None or p.role in ROLES, f"{p.name}: role {p.role!r} is not one of {ROLES}"
    unknown = [p.name for p in infos if p.role is None]
    assert case.allow_unknown or not unknown, f"{len(unknown)} parameters have no role: {unknown[:5]}"
    token = [p for p in infos if p.role == "token_embedding"]
    assert token, "no parameter has the role token_embedding"
    for p in token + [p for p in infos if p.role == "head"]:
        assert p.shape[0] == case.vocab_size, f"{p.name} ({p.role}) has {p.shape[0]} rows for {case.vocab_size} ids"


def check_seed_determinism(case: AdapterCase) -> None:
    """Same seed, same weights; another seed, other weights; the caller's RNG untouched."""
    import torch

    before = torch.get_rng_state()
    first = _state(case.adapter.build(case.vocab_size, seed=11))
    assert torch.equal(before, torch.get_rng_state()), "building with a seed changed the global torch RNG"
    again = _state(case.adapter.build(case.vocab_size, seed=11))
    other = _state(case.adapter.build(case.vocab_size, seed=12))
    assert _same_state(first, again), "the same seed gave different weights"
    assert not _same_state(first, other), "a different seed gave identical weights"


def check_save_load(case: AdapterCase) -> None:
    """save writes safetensors only; load restores identical tensors, logits and model_config."""
    import torch

    adapter = case.adapter
    model = adapter.build(case.vocab_size, seed=5)
    with tempfile.TemporaryDirectory() as tmp:
        adapter.save(model, tmp)
        files = [p.name for p in Path(tmp).rglob("*") if p.is_file()]
        assert any(f.endswith(".safetensors") for f in files), f"save wrote no .safetensors file: {files}"
        pickled = [f for f in files if f.endswith(PICKLE_SUFFIXES)]
        assert not pickled, f"save wrote pickle-based files: {pickled}"
        loaded = adapter.load(tmp)
    assert _same_state(_state(model), _state(loaded)), "the loaded model's tensors differ from the saved ones"
    out, *_ = _run(model, case.vocab_size)
    again, *_ = _run(loaded, case.vocab_size)
    assert torch.allclose(_field(out, "logits"), _field(again, "logits"), atol=1e-6), "loaded logits differ"
    assert adapter.model_config(loaded) == adapter.model_config(model), "model_config changed on save -> load"


def check_model_config_json(case: AdapterCase) -> None:
    """model_config is a mapping of plain JSON data that survives a round trip."""
    config = case.adapter.model_config(case.adapter.build(case.vocab_size, seed=0))
    assert isinstance(config, dict), f"model_config returned {type(config).__name__}, not a dict"
    text = json.dumps(config, allow_nan=False)
    assert json.loads(text) == config, "model_config changed on a JSON round trip"


ADAPTER_CHECKS: dict[str, Callable[[AdapterCase], None]] = {
    "protocol": check_protocol,
    "forward": check_forward,
    "unshifted_labels": check_unshifted_labels,
    "parameter_roles": check_parameter_roles,
    "seed_determinism": check_seed_determinism,
    "save_load": check_save_load,
    "model_config_json": check_model_config_json,
}


def _as_case(case: AdapterCase | tuple[Any, int]) -> AdapterCase:
    if isinstance(case, AdapterCase):
        return case
    adapter, vocab_size = case
    return AdapterCase(adapter, vocab_size)


def adapter_checks(cases: Sequence[AdapterCase | tuple[Any, int]]) -> list[AdapterCheck]:
    """Every check for every case."""
    return [AdapterCheck(c, name, fn) for c in map(_as_case, cases) for name, fn in ADAPTER_CHECKS.items()]


def parametrize_with_adapter_checks(cases: Sequence[AdapterCase | tuple[Any, int]]):
    """A pytest decorator: one test case per (case, check), argument name ``check``."""
    import pytest

    checks = adapter_checks(cases)
    return pytest.mark.parametrize("check", checks, ids=[c.id for c in checks])
