"""Transfer policies: exactly the right parameters change, and the report says so."""

from __future__ import annotations

import json
import subprocess
import sys

import attrs
import pytest
import torch
from torch import nn

from pptrain_core.config import FieldValueError, structure
from pptrain_core.errors import ConfigError
from pptrain_core.hookspecs import hookimpl
from pptrain_core.models import ParameterInfo, layer_index
from pptrain_core.transfer import (
    ACTIONS,
    TRANSFER_POLICIES,
    AttentionOnlyConfig,
    MeanEmbeddingsConfig,
    ReinitEmbeddingsConfig,
    SkipPrefixesConfig,
    TransferError,
    TransferReport,
    build_policy,
)
from pptrain_core.transfer.policies import (
    AttentionOnlyTransfer,
    FullTransfer,
    MeanEmbeddingsTransfer,
    MLPOnlyTransfer,
    ReinitializeEmbeddingTransferPolicy,
    Rule,
    SkipPrefixesTransfer,
    TransferPolicy,
)
from pptrain_core.transfer.report import TransferRow

torch.set_num_threads(1)


# ---------------------------------------------------------------------- a tiny transformer-like model


class Block(nn.Module):
    def __init__(self, d: int, hidden: int):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = nn.ModuleDict({"qkv": nn.Linear(d, 3 * d), "proj": nn.Linear(d, d)})
        self.ln2 = nn.LayerNorm(d)
        self.mlp = nn.ModuleDict({"fc": nn.Linear(d, hidden), "proj": nn.Linear(hidden, d)})


class Tiny(nn.Module):
    """Embeddings, positions, two blocks, final norm, a head, and an unclassified ``gate``."""

    def __init__(self, vocab=11, n_pos=8, d=6, hidden=12, seed=0, tie=False, dtype=torch.float32):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(n_pos, d)
        self.blocks = nn.ModuleList([Block(d, hidden) for _ in range(2)])
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)
        if tie:
            self.head.weight = self.tok.weight
        self.gate = nn.Parameter(torch.zeros(d))
        # every parameter random and seed-dependent, so source and target differ everywhere
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g))
        self.to(dtype)


def role_of(name: str) -> str | None:
    if name.startswith("tok."):
        return "token_embedding"
    if name.startswith("pos."):
        return "position_embedding"
    if ".attn." in name:
        return "attention"
    if ".mlp." in name:
        return "mlp"
    if ".ln" in name or name.startswith("ln_f."):
        return "norm"
    if name.startswith("head."):
        return "head"
    return None


def infos(model: nn.Module) -> list[ParameterInfo]:
    return [ParameterInfo(n, role_of(n), tuple(p.shape), layer_index(n)) for n, p in model.named_parameters()]


class FakeBundle:
    """What a policy needs from a bundle: ``parameters`` and ``load_state_dict()``."""

    def __init__(self, model: nn.Module, adapter=None):
        self.parameters = infos(model)
        self._state = {n: p.detach().clone() for n, p in model.named_parameters()}
        if adapter is not None:
            self.adapter = adapter

    def load_state_dict(self):
        return dict(self._state)


class FakeAdapter:
    name = "tiny"

    def parameters_info(self, model):
        return infos(model)


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def grads(model: nn.Module) -> dict[str, bool]:
    return {n: p.requires_grad for n, p in model.named_parameters()}


def transfer(policy, source: nn.Module, target: nn.Module, *, dry_run=False):
    before = snapshot(target)
    report = policy.apply(snapshot(source), infos(source), target, infos(target), dry_run=dry_run)
    return report, before, snapshot(target)


def check_rows_against_tensors(report, src, before, after):
    """Every row's action is what actually happened to its tensor."""
    for row in report.rows:
        if row.action == "source_only":
            assert row.name not in after
            continue
        new, old = after[row.name], before[row.name]
        if row.action == "copied":
            assert torch.equal(new, src[row.name].to(new.dtype)), row.name
        elif row.action == "partially_copied":
            n = min(src[row.name].shape[0], new.shape[0])
            assert torch.equal(new[:n], src[row.name][:n].to(new.dtype)), row.name
            assert torch.equal(new[n:], old[n:]), row.name
            assert row.written == n * new[0].numel()
        elif row.action == "mean_initialised":
            mean = src[row.source_name or row.name].double().mean(0).to(new.dtype)
            assert torch.allclose(new, mean.expand_as(new)), row.name
        else:  # reinitialised, kept, skipped, shape_mismatch: untouched
            assert torch.equal(new, old), (row.name, row.action)
            assert row.written == 0


def actions(report) -> dict[str, str]:
    return {r.name: r.action for r in report.rows}


def by_role(model: nn.Module, report) -> dict[str | None, set[str]]:
    out: dict[str | None, set[str]] = {}
    for r in report.rows:
        out.setdefault(r.role, set()).add(r.action)
    return out


BODY = {"attention": {"copied"}, "mlp": {"copied"}, "norm": {"copied"}}

CASES = [
    (FullTransfer(), {**BODY, "token_embedding": {"copied"}, "position_embedding": {"copied"}, "head": {"copied"}}),
    (
        ReinitializeEmbeddingTransferPolicy(),
        {
            **BODY,
            "token_embedding": {"reinitialised"},
            "position_embedding": {"reinitialised"},
            "head": {"reinitialised"},
        },
    ),
    (
        ReinitializeEmbeddingTransferPolicy(copy_positions=True),
        {**BODY, "token_embedding": {"reinitialised"}, "position_embedding": {"copied"}, "head": {"reinitialised"}},
    ),
    (
        AttentionOnlyTransfer(),
        {
            "attention": {"copied"},
            "mlp": {"reinitialised"},
            "norm": {"reinitialised"},
            "token_embedding": {"reinitialised"},
            "position_embedding": {"reinitialised"},
            "head": {"reinitialised"},
        },
    ),
    (
        AttentionOnlyTransfer(include_norms=True),
        {
            "attention": {"copied"},
            "mlp": {"reinitialised"},
            "norm": {"copied"},
            "token_embedding": {"reinitialised"},
            "position_embedding": {"reinitialised"},
            "head": {"reinitialised"},
        },
    ),
    (
        MLPOnlyTransfer(),
        {
            "attention": {"reinitialised"},
            "mlp": {"copied"},
            "norm": {"reinitialised"},
            "token_embedding": {"reinitialised"},
            "position_embedding": {"reinitialised"},
            "head": {"reinitialised"},
        },
    ),
    (
        MeanEmbeddingsTransfer(),
        {
            **BODY,
            "token_embedding": {"mean_initialised"},
            "position_embedding": {"copied"},
            "head": {"mean_initialised"},
        },
    ),
]


@pytest.mark.parametrize("policy, expected", CASES, ids=lambda x: repr(x) if isinstance(x, TransferPolicy) else "")
def test_each_policy_changes_exactly_the_right_parameters(policy, expected):
    source, target = Tiny(seed=1), Tiny(seed=2)
    src = snapshot(source)
    report, before, after = transfer(policy, source, target)
    assert by_role(target, report) == {**expected, None: {"kept"}}
    check_rows_against_tensors(report, src, before, after)
    # the unclassified parameter is never copied silently, and says why
    gate = report.row("gate")
    assert gate.action == "kept" and "no role" in gate.reason and "copy_unknown" in gate.reason
    # every parameter listed exactly once, in the model's order
    assert [r.name for r in report.rows] == list(dict(target.named_parameters()))
    assert report.policy == policy.name
    assert all(r.reason.endswith(".") and r.reason[0].isupper() for r in report.rows)


def test_skip_prefixes_leaves_matching_parameters_and_copies_the_rest():
    source, target = Tiny(seed=1), Tiny(seed=2)
    policy = SkipPrefixesTransfer(prefixes=("blocks.0.", "head"))
    report, before, after = transfer(policy, source, target)
    check_rows_against_tensors(report, snapshot(source), before, after)
    for r in report.rows:
        if r.name.startswith(("blocks.0.", "head")):
            assert r.action == "skipped" and "skipped prefix" in r.reason
        elif r.name == "gate":
            assert r.action == "kept"
        else:
            assert r.action == "copied", r.name
    assert report.row("head.weight").reason == "Its name starts with the skipped prefix 'head'."
    # a skip prefix wins over copy_unknown
    report = SkipPrefixesTransfer(prefixes=("gate",), copy_unknown=True).apply(
        snapshot(source), infos(source), Tiny(seed=2), infos(target)
    )
    assert report.row("gate").action == "skipped"


@pytest.mark.parametrize("tie", [False, True])
def test_mean_embeddings_rows_are_the_source_mean_with_another_vocabulary(tie):
    source, target = Tiny(vocab=11, seed=1, tie=tie), Tiny(vocab=17, seed=2, tie=tie)
    report, before, after = transfer(MeanEmbeddingsTransfer(), source, target)
    check_rows_against_tensors(report, snapshot(source), before, after)
    mean = source.tok.weight.detach().double().mean(0).float()
    assert target.tok.weight.shape == (17, 6)
    for row in target.tok.weight.detach():
        assert torch.allclose(row, mean)
    # the head (untied or tied) holds the mean of the source's *token embedding* (Jiang et
    # al.'s "average": lm_head rows = mean of wte rows), never the mean of the source's head
    assert torch.allclose(target.head.weight.detach(), mean.expand(17, 6))
    if not tie:
        own = source.head.weight.detach().double().mean(0).float()
        assert not torch.allclose(target.head.weight.detach(), own.expand(17, 6))
        assert report.row("head.weight").source_name == "tok.weight"
    assert report.row("tok.weight").action == "mean_initialised"
    assert report.row("tok.weight").source_shape == (11, 6) and report.row("tok.weight").target_shape == (17, 6)
    assert "17 rows" in report.row("tok.weight").reason and "11 rows" in report.row("tok.weight").reason
    assert ("head.weight" in actions(report)) is (not tie)
    # the body is copied
    assert torch.equal(target.blocks[1].mlp["fc"].weight, source.blocks[1].mlp["fc"].weight)


def test_mean_embeddings_head_from_a_tied_source_and_from_the_source_head():
    # Jiang et al.'s case: a tied pre-pretrained model (no head parameter of its own) into
    # an untied probe model: the head must not keep its fresh initialisation
    source, target = Tiny(vocab=11, seed=1, tie=True), Tiny(vocab=17, seed=2, tie=False)
    report, before, after = transfer(MeanEmbeddingsTransfer(), source, target)
    check_rows_against_tensors(report, snapshot(source), before, after)
    mean = source.tok.weight.detach().double().mean(0).float()
    assert report.row("head.weight").action == "mean_initialised"
    assert torch.allclose(after["head.weight"], mean.expand(17, 6))
    # the option: an untied source's own head
    source = Tiny(vocab=11, seed=3, tie=False)
    report, before, after = transfer(MeanEmbeddingsTransfer(head_from="head"), source, Tiny(vocab=17, seed=4))
    own = source.head.weight.detach().double().mean(0).float()
    assert torch.allclose(after["head.weight"], own.expand(17, 6))
    assert report.row("head.weight").source_name is None


@pytest.mark.parametrize("n_src, n_tgt", [(8, 12), (8, 5), (8, 8)])
def test_mean_embeddings_copies_positions_only_from_a_source_at_least_as_long(n_src, n_tgt):
    # Jiang et al.: the first rows are copied when the source has >= the target's positions,
    # otherwise every position keeps the target's initialisation
    source, target = Tiny(n_pos=n_src, seed=1), Tiny(n_pos=n_tgt, seed=2)
    report, before, after = transfer(MeanEmbeddingsTransfer(), source, target)
    check_rows_against_tensors(report, snapshot(source), before, after)
    row = report.row("pos.weight")
    if n_src >= n_tgt:
        assert torch.equal(after["pos.weight"], source.pos.weight.detach()[:n_tgt])
        assert row.action in ("copied", "partially_copied")
    else:
        assert row.action == "reinitialised" and torch.equal(after["pos.weight"], before["pos.weight"])
        assert "fewer than the target's 12" in row.reason
    # shorter_positions: first_rows copies what there is
    report, before, after = transfer(MeanEmbeddingsTransfer(shorter_positions="first_rows"), source, target)
    n = min(n_src, n_tgt)
    assert torch.equal(after["pos.weight"][:n], source.pos.weight.detach()[:n])
    assert torch.equal(after["pos.weight"][n:], before["pos.weight"][n:])


@pytest.mark.parametrize("n_src, n_tgt", [(8, 12), (8, 5)])
@pytest.mark.parametrize(
    "policy",
    [
        MeanEmbeddingsTransfer(shorter_positions="first_rows"),
        FullTransfer(),
        ReinitializeEmbeddingTransferPolicy(copy_positions=True),
    ],
)
def test_position_embeddings_of_another_length_are_partially_copied(policy, n_src, n_tgt):
    source, target = Tiny(n_pos=n_src, seed=1), Tiny(n_pos=n_tgt, seed=2)
    report, before, after = transfer(policy, source, target)
    check_rows_against_tensors(report, snapshot(source), before, after)
    row = report.row("pos.weight")
    n = min(n_src, n_tgt)
    assert row.action == "partially_copied"
    assert (row.source_shape, row.target_shape) == ((n_src, 6), (n_tgt, 6))
    assert row.written == n * 6
    assert f"first {n} rows" in row.reason
    assert torch.equal(after["pos.weight"][:n], source.pos.weight.detach()[:n])
    if n_tgt > n_src:
        assert torch.equal(after["pos.weight"][n:], before["pos.weight"][n:])
        assert f"rows {n} to {n_tgt - 1} keep" in row.reason


def test_mean_embeddings_can_leave_positions_fresh():
    source, target = Tiny(seed=1), Tiny(seed=2)
    report, before, after = transfer(MeanEmbeddingsTransfer(copy_positions=False), source, target)
    assert report.row("pos.weight").action == "reinitialised"
    assert torch.equal(after["pos.weight"], before["pos.weight"])


def test_shape_mismatch_is_reported_with_both_shapes_and_not_applied():
    source, target = Tiny(vocab=11, hidden=12, seed=1), Tiny(vocab=13, hidden=20, seed=2)
    report, before, after = transfer(FullTransfer(), source, target)
    check_rows_against_tensors(report, snapshot(source), before, after)
    mismatched = {r.name for r in report.mismatches}
    assert mismatched == {
        "tok.weight",
        "head.weight",
        *(f"blocks.{i}.mlp.{p}" for i in range(2) for p in ("fc.weight", "fc.bias", "proj.weight")),
    }
    row = report.row("tok.weight")
    assert (row.source_shape, row.target_shape) == ((11, 6), (13, 6))
    assert "(11, 6)" in row.reason and "(13, 6)" in row.reason
    row = report.row("blocks.0.mlp.fc.weight")
    assert "(12, 6)" in row.reason and "(20, 6)" in row.reason
    assert not row.frozen
    # the second projection keeps its shape (6 outputs) in its bias: copied
    assert report.row("blocks.0.mlp.proj.bias").action == "copied"
    assert report.summary()["counts"]["shape_mismatch"] == len(mismatched)


def test_a_token_embedding_of_another_width_is_a_mismatch_for_mean_embeddings():
    source, target = Tiny(d=6, seed=1), Tiny(d=8, seed=2)
    report, before, after = transfer(MeanEmbeddingsTransfer(), source, target)
    check_rows_against_tensors(report, snapshot(source), before, after)
    assert report.row("tok.weight").action == "shape_mismatch"
    assert report.row("pos.weight").action == "shape_mismatch"  # rows alike, width differs: no partial copy


@pytest.mark.parametrize(
    "policy",
    [
        FullTransfer(freeze=True),
        ReinitializeEmbeddingTransferPolicy(freeze=True),
        ReinitializeEmbeddingTransferPolicy(freeze=True, copy_positions=True),
        AttentionOnlyTransfer(freeze=True),
        MeanEmbeddingsTransfer(freeze=True),
        SkipPrefixesTransfer(prefixes=("blocks.1.",), freeze=True),
    ],
    ids=repr,
)
def test_freeze_sets_requires_grad_false_exactly_on_the_transferred_body(policy):
    source, target = Tiny(seed=1), Tiny(seed=2, hidden=20)  # mlp mismatched: not transferred, not frozen
    report, _, _ = transfer(policy, source, target)
    req = grads(target)
    expected_frozen = {r.name for r in report.rows if r.action == "copied" and r.role in ("attention", "mlp", "norm")}
    assert expected_frozen  # something was transferred
    assert {n for n, g in req.items() if not g} == expected_frozen
    assert set(report.frozen) == expected_frozen
    assert all(not r.frozen for r in report.rows if r.role in ("token_embedding", "position_embedding", "head"))
    assert report.summary()["frozen_parameters"] == len(expected_frozen)


def test_without_freeze_nothing_is_frozen():
    source, target = Tiny(seed=1), Tiny(seed=2)
    report, _, _ = transfer(FullTransfer(), source, target)
    assert all(grads(target).values()) and not report.frozen


def test_unknown_roles_are_copied_only_with_copy_unknown():
    source, target = Tiny(seed=1), Tiny(seed=2)
    report, _, after = transfer(ReinitializeEmbeddingTransferPolicy(copy_unknown=True, freeze=True), source, target)
    assert report.row("gate").action == "copied" and "copy_unknown" in report.row("gate").reason
    assert torch.equal(after["gate"], source.gate.detach())
    assert report.row("gate").frozen and not target.gate.requires_grad
    for policy in (FullTransfer(), MeanEmbeddingsTransfer(), MLPOnlyTransfer()):
        target = Tiny(seed=2)
        report, before, after = transfer(policy, source, target)
        assert report.row("gate").action == "kept"
        assert torch.equal(after["gate"], before["gate"])


@pytest.mark.parametrize("policy", [p for p, _ in CASES] + [SkipPrefixesTransfer(prefixes=("pos",), freeze=True)])
def test_dry_run_leaves_the_model_alone_and_reports_the_same(policy):
    source = Tiny(vocab=11, n_pos=8, seed=1)
    policy = type(policy)(policy.config, freeze=True)  # freezing must not happen in a dry run either
    dry_target, real_target = Tiny(vocab=13, n_pos=10, seed=2), Tiny(vocab=13, n_pos=10, seed=2)
    dry, before, after = transfer(policy, source, dry_target, dry_run=True)
    assert all(torch.equal(before[n], after[n]) for n in before)
    assert all(grads(dry_target).values())
    real, _, real_after = transfer(policy, source, real_target)
    assert dry.dry_run and not real.dry_run
    assert dry.rows == real.rows
    assert dry.summary() == real.summary()
    assert attrs.evolve(dry, dry_run=False) == real
    assert any(not torch.equal(before[n], real_after[n]) for n in before)


def test_report_json_round_trips_and_renders():
    source, target = Tiny(vocab=11, n_pos=8, seed=1), Tiny(vocab=13, n_pos=10, seed=2)
    policy = SkipPrefixesTransfer(prefixes=("blocks.1.attn.",), freeze=True)
    report, _, _ = transfer(policy, source, target)
    data = json.loads(json.dumps(report.to_json()))
    assert data["config"] == {"freeze": True, "copy_unknown": False, "prefixes": ["blocks.1.attn."]}
    assert data["summary"]["counts"] == report.counts
    assert data["summary"]["parameters"] == len(list(target.parameters()))
    assert TransferReport.from_json(data) == report
    row = data["parameters"][0]
    assert set(row) == {
        "name",
        "role",
        "layer",
        "action",
        "reason",
        "source_shape",
        "target_shape",
        "frozen",
        "written",
        "source_name",
    }
    assert report.row("blocks.1.attn.qkv.weight").layer == 1
    # by_action covers every row once, in ACTIONS order
    groups = report.by_action()
    assert list(groups) == [a for a in ACTIONS if a in groups]
    assert sorted(r.name for rows in groups.values() for r in rows) == sorted(r.name for r in report.rows)

    from rich.console import Console

    console = Console(record=True, width=250)
    report.render(console)
    text = console.export_text()
    assert "blocks.1.attn.qkv.weight" in text and "shape_mismatch" in text and "(11, 6)" in text
    assert "target parameters:" in text and "frozen" in text and "dry run" not in text
    console = Console(record=True, width=250)
    attrs.evolve(report, dry_run=True).render(console, actions=("skipped",))
    text = console.export_text()
    assert "dry run" in text and "blocks.1.attn.qkv.weight" in text and "blocks.0.attn.qkv.weight" not in text


def test_summary_counts_elements():
    source, target = Tiny(seed=1), Tiny(seed=2)
    report, _, _ = transfer(ReinitializeEmbeddingTransferPolicy(), source, target)
    s = report.summary()
    body = sum(p.numel() for n, p in target.named_parameters() if role_of(n) in ("attention", "mlp", "norm"))
    assert s["copied_elements"] == s["written_elements"] == body
    assert s["target_elements"] == sum(p.numel() for p in target.parameters())
    assert sum(s["counts"].values()) == s["parameters"]


def test_source_only_parameters_and_role_disagreements_are_listed():
    source, target = Tiny(seed=1), Tiny(seed=2, tie=True)  # the target has no separate head
    src_infos = infos(source)
    # the source's adapter calls ln_f something else: never copied across roles
    src_infos = [attrs.evolve(i, role="mlp") if i.name == "ln_f.weight" else i for i in src_infos]
    report = FullTransfer().apply(snapshot(source), src_infos, target, infos(target))
    assert report.row("head.weight").action == "source_only"
    assert report.row("head.weight").target_shape is None
    assert report.rows[-1].name == "head.weight"
    row = report.row("ln_f.weight")
    assert row.action == "kept" and "role mlp" in row.reason and "norm" in row.reason
    assert report.summary()["source_only"] == 1
    # a target parameter missing from the source is kept
    report = FullTransfer().apply(
        {k: v for k, v in snapshot(source).items() if k != "gate"},
        [i for i in infos(source) if i.name != "gate"],
        Tiny(seed=2),
        infos(target),
    )
    assert report.row("gate").action == "kept" and "source has no parameter" in report.row("gate").reason


def test_inconsistent_inputs_raise_before_anything_is_written():
    source, target = Tiny(seed=1), Tiny(seed=2)
    before = snapshot(target)
    state = snapshot(source)
    del state["blocks.1.mlp.fc.weight"]
    with pytest.raises(TransferError, match="blocks.1.mlp.fc.weight"):
        FullTransfer().apply(state, infos(source), target, infos(target))
    assert all(torch.equal(before[n], p) for n, p in target.named_parameters())
    bad = infos(target) + [ParameterInfo("nope.weight", "mlp", (2,))]
    with pytest.raises(TransferError, match="nope.weight"):
        FullTransfer().apply(snapshot(source), infos(source), target, bad)
    wrong = [attrs.evolve(i, shape=(1,)) if i.name == "gate" else i for i in infos(target)]
    with pytest.raises(TransferError, match="gate"):
        FullTransfer().apply(snapshot(source), infos(source), target, wrong)
    with pytest.raises(TransferError, match="twice"):
        FullTransfer().apply(snapshot(source), infos(source) * 2, target, infos(target))


def test_parameters_the_target_adapter_forgot_are_unknown():
    source, target = Tiny(seed=1), Tiny(seed=2)
    partial = [i for i in infos(target) if i.name != "blocks.0.mlp.fc.bias"]
    report = FullTransfer().apply(snapshot(source), infos(source), target, partial)
    assert report.row("blocks.0.mlp.fc.bias").action == "kept"
    assert report.row("blocks.0.mlp.fc.bias").role is None
    assert any("blocks.0.mlp.fc.bias" in n for n in report.notes)


def test_dtype_of_the_target_is_kept():
    source, target = Tiny(seed=1), Tiny(vocab=14, seed=2, dtype=torch.float64)
    report, before, after = transfer(MeanEmbeddingsTransfer(), source, target)
    assert all(p.dtype == torch.float64 for p in target.parameters())
    check_rows_against_tensors(report, snapshot(source), before, after)


def test_apply_bundle_finds_the_target_roles():
    source = Tiny(seed=1)
    # explicit adapter
    target = Tiny(seed=2)
    report = ReinitializeEmbeddingTransferPolicy().apply_bundle(FakeBundle(source), target, FakeAdapter())
    assert report.row("blocks.0.attn.qkv.weight").action == "copied"
    assert torch.equal(target.blocks[0].attn["qkv"].weight, source.blocks[0].attn["qkv"].weight)
    # explicit parameter list, dry run
    target = Tiny(seed=2)
    before = snapshot(target)
    dry = ReinitializeEmbeddingTransferPolicy().apply_bundle(
        FakeBundle(source), target, dry_run=True, target_infos=infos(target)
    )
    assert dry.dry_run and dry.rows == report.rows
    assert all(torch.equal(before[n], p) for n, p in target.named_parameters())
    # the bundle's own adapter (a method, as on pptrain_core.bundle.Bundle)
    bundle = FakeBundle(source, adapter=lambda: FakeAdapter())
    report2 = ReinitializeEmbeddingTransferPolicy().apply_bundle(bundle, Tiny(seed=2))
    assert report2.rows == report.rows and any("bundle's adapter 'tiny'" in n for n in report2.notes)
    with pytest.raises(TransferError, match="target_adapter"):
        ReinitializeEmbeddingTransferPolicy().apply_bundle(FakeBundle(source), Tiny(seed=2))
    with pytest.raises(TypeError, match="not both"):
        FullTransfer().apply_bundle(FakeBundle(source), target, FakeAdapter(), target_infos=infos(target))


# ---------------------------------------------------------------------- configs and registration


def test_policies_construct_with_defaults_and_configs():
    assert ReinitializeEmbeddingTransferPolicy().config == ReinitEmbeddingsConfig()
    assert ReinitEmbeddingsConfig().copy_positions is False
    assert MeanEmbeddingsConfig().copy_positions is True
    assert AttentionOnlyConfig().include_norms is False
    for cls in (FullTransfer, ReinitializeEmbeddingTransferPolicy, AttentionOnlyTransfer, MLPOnlyTransfer):
        assert cls().config.freeze is False and cls().config.copy_unknown is False
    p = ReinitializeEmbeddingTransferPolicy({"copy_positions": True})
    assert p.config.copy_positions is True
    p = ReinitializeEmbeddingTransferPolicy(ReinitEmbeddingsConfig(copy_positions=True), freeze=True)
    assert p.config == ReinitEmbeddingsConfig(copy_positions=True, freeze=True)
    with pytest.raises(TypeError, match="ReinitEmbeddingsConfig"):
        ReinitializeEmbeddingTransferPolicy(MeanEmbeddingsConfig())
    with pytest.raises(ConfigError, match="copy_position"):
        ReinitializeEmbeddingTransferPolicy({"copy_position": True})
    # skip has no sensible default: its prefixes are required
    with pytest.raises(TypeError, match="prefixes"):
        SkipPrefixesTransfer()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"prefixes": ()}, "at least one prefix"),
        ({"prefixes": []}, "at least one prefix"),
        ({"prefixes": ("a", "")}, "item 1 is empty"),
        ({"prefixes": ("a", "a")}, "twice"),
        ({"prefixes": "lm_head"}, "list of name prefixes"),
        ({"prefixes": ("a", 3)}, "item 1 must be a string"),
        ({"prefixes": ("a",), "freeze": 1}, "true or false"),
        ({"prefixes": ("a",), "copy_unknown": "yes"}, "true or false"),
    ],
)
def test_skip_config_rejects_bad_values(kwargs, message):
    with pytest.raises(FieldValueError, match=message):
        SkipPrefixesConfig(**kwargs)


def test_configs_structure_strictly():
    assert structure({"prefixes": ["lm_head"]}, SkipPrefixesConfig) == SkipPrefixesConfig(prefixes=("lm_head",))
    with pytest.raises(ConfigError, match=r"\$\.prefixes"):
        structure({"prefixes": []}, SkipPrefixesConfig)
    with pytest.raises(ConfigError, match=r"\$\.freeze"):
        structure({"freeze": "true"}, ReinitEmbeddingsConfig)
    with pytest.raises(ConfigError, match="did you mean 'include_norms'"):
        structure({"include_norm": True}, AttentionOnlyConfig)


def test_specs_name_their_classes():
    from pptrain_core.specs import resolve_factory

    names = [s.name for s in TRANSFER_POLICIES]
    assert names == ["full", "reinit_embeddings", "attention_only", "mlp_only", "skip", "mean_embeddings"]
    for spec in TRANSFER_POLICIES:
        cls = resolve_factory(spec.factory)
        assert cls.name == spec.name and cls.config_cls is spec.config_cls


class _PolicyPlugin:
    @hookimpl
    def register_transfer_policies(self, register):
        for spec in TRANSFER_POLICIES:
            register(spec)


def test_build_policy_through_a_registry(pptrain_registry_factory):
    reg = pptrain_registry_factory({"policies": _PolicyPlugin()}, builtins=False)
    policy = build_policy("skip", {"prefixes": ["head"], "freeze": True}, registry=reg)
    assert isinstance(policy, SkipPrefixesTransfer) and policy.config.prefixes == ("head",)
    with pytest.raises(ConfigError, match=r"\$\.transfer\.params\.prefixes"):
        build_policy("skip", {"prefixes": []}, registry=reg)
    with pytest.raises(Exception, match="did you mean 'reinit_embeddings'"):
        build_policy("reinit_embedding", registry=reg)


def test_the_core_registers_the_builtin_policies(pptrain_registry_factory):
    reg = pptrain_registry_factory({})
    assert {s.name: s for s in TRANSFER_POLICIES} == reg.transfer_policies


def test_importing_the_package_and_specs_does_not_import_torch():
    code = (
        "import sys\n"
        "import pptrain_core.transfer, pptrain_core.transfer.specs, pptrain_core.transfer.report\n"
        "from pptrain_core.transfer import TRANSFER_POLICIES, TransferReport\n"
        "bad = [m for m in ('torch', 'rich', 'numpy') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


# ---------------------------------------------------------------------- a custom policy, as a plugin writes it


def test_a_plugin_policy_needs_only_decide_role():
    class HeadOnly(TransferPolicy):
        name = "head_only"

        def decide_role(self, info):
            if info.role == "head":
                return Rule("copy", "the head is all we take")
            return Rule("fresh", "everything else starts fresh")

    source, target = Tiny(seed=1), Tiny(seed=2)
    report, before, after = transfer(HeadOnly(), source, target)
    check_rows_against_tensors(report, snapshot(source), before, after)
    assert actions(report)["head.weight"] == "copied"
    assert {a for n, a in actions(report).items() if n != "head.weight"} == {"reinitialised", "kept"}


def test_rows_reject_unknown_actions():
    with pytest.raises(ValueError, match="unknown transfer action"):
        TransferRow(name="x", role=None, layer=None, action="moved", reason="", source_shape=None, target_shape=None)


# ---------------------------------------------------------------------- a real architecture


def test_gpt2_with_tied_embeddings_and_different_vocabularies():
    transformers = pytest.importorskip("transformers")

    def build(vocab, n_pos, seed):
        torch.manual_seed(seed)
        cfg = transformers.GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=vocab, n_positions=n_pos)
        return transformers.GPT2LMHeadModel(cfg).eval()

    def gpt2_infos(model):
        out = []
        for name, p in model.named_parameters():
            if ".wte." in f".{name}":
                role = "token_embedding"
            elif ".wpe." in f".{name}":
                role = "position_embedding"
            elif ".attn." in name:
                role = "attention"
            elif ".mlp." in name:
                role = "mlp"
            elif ".ln_" in f".{name}":
                role = "norm"
            elif name.startswith("lm_head"):
                role = "head"
            else:
                role = None
            out.append(ParameterInfo(name, role, tuple(p.shape), layer_index(name)))
        return out

    source, target = build(40, 16, 1), build(70, 24, 2)
    names = [n for n, _ in target.named_parameters()]
    assert "lm_head.weight" not in names and target.lm_head.weight is target.transformer.wte.weight
    assert all(i.role is not None for i in gpt2_infos(target)), [i.name for i in gpt2_infos(target) if i.role is None]
    src = snapshot(source)

    before = snapshot(target)
    report = MeanEmbeddingsTransfer(freeze=True).apply(src, gpt2_infos(source), target, gpt2_infos(target))
    after = snapshot(target)
    check_rows_against_tensors(report, src, before, after)
    mean = source.transformer.wte.weight.detach().double().mean(0).float()
    assert torch.allclose(target.lm_head.weight.detach(), mean.expand(70, 32))  # tied head follows
    # 16 source positions, 24 target ones: all fresh (Jiang et al.'s rule)
    assert report.row("transformer.wpe.weight").action == "reinitialised"
    assert {r.action for r in report.rows if r.role in ("attention", "mlp", "norm")} == {"copied"}
    assert target.transformer.h[1].attn.c_attn.weight.requires_grad is False
    assert target.transformer.wte.weight.requires_grad is True
    assert torch.equal(target.transformer.ln_f.weight, source.transformer.ln_f.weight)

    fresh = build(70, 16, 3)
    before = snapshot(fresh)
    report = ReinitializeEmbeddingTransferPolicy().apply(src, gpt2_infos(source), fresh, gpt2_infos(fresh))
    check_rows_against_tensors(report, src, before, snapshot(fresh))
    assert report.counts == {
        "copied": len(names) - 2,
        "reinitialised": 2,
    }
    with torch.no_grad():
        out = fresh(torch.tensor([[1, 2, 3, 69]]))
    assert out.logits.shape == (1, 4, 70) and torch.isfinite(out.logits).all()
