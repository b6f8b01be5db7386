"""The ``jiang-tiny`` profile: the official values, the Dyck-quality and needle scoring, the
transfer it performs, per-unit resume, and the run end to end at a smoke size."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

pytest.importorskip("pptrain_dyck")
pytest.importorskip("pptrain_hf")
torch = pytest.importorskip("torch")

from pptrain_analytics import cli_replicate, jiang  # noqa: E402
from pptrain_analytics.jiang_report import summarize  # noqa: E402
from pptrain_core.errors import UserError  # noqa: E402

torch.set_num_threads(1)


def _app():
    app = typer.Typer()
    cli_replicate.register(app)

    @app.command("noop")
    def noop() -> None:
        pass

    return app


# --------------------------------------------------------------------------- the protocol


def test_dry_run_shows_the_official_values():
    result = CliRunner().invoke(_app(), ["replicate", "--profile", "jiang-tiny", "--dry-run"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    run = shown["run"]
    # the values of zlshinnick/procedural-pretraining@5356d9e, typed in from the issue and the
    # repository, not read back from the code under test
    assert run["variant"] == "official"
    d = run["dyck"]
    assert (d["batch_size"], d["lr"], d["weight_decay"], d["max_grad_norm"], d["dropout"]) == (64, 5e-5, 0.01, 1.0, 0.1)
    assert d["tied"] is True and d["n_positions"] == 128 and d["eval_every"] == 100 and d["val_sequences"] == 640
    n = run["needle"]
    assert (n["steps"], n["batch_size"], n["lr"], n["warmup_steps"], n["weight_decay"]) == (
        10_000,
        1000,
        1e-3,
        500,
        1e-3,
    )
    assert n["eval_examples"] == 4000 and n["eval_every"] == 50  # 200 evaluations, as baseline.yaml's eval_steps
    assert shown["repository"] == "zlshinnick/procedural-pretraining@5356d9e"
    assert shown["protocol"]["transfer"]["policy"]["value"] == "mean_embeddings"
    assert abs(shown["reference_lines"]["guess_a_value"] - 0.1332) < 1e-3
    assert len(shown["units"]) == 6 + 9  # 2 phase-1 arms x 3 seeds, 3 needle arms x 3 seeds


def test_the_dyck_data_is_the_scripts_default(registry=None):
    from pptrain_core.tasks import resolve

    task = resolve(jiang.JiangTinyConfig().dyck.task)
    assert (task.config.k, task.config.length, task.config.p_open) == (16, 128, 0.5)
    built = task.build()
    assert built.vocab.size == 33  # 2k + 1


def test_bad_settings_are_one_sentence(tmp_path):
    with pytest.raises(UserError, match="unknown jiang-tiny variant"):
        jiang.make_config("fast")
    with pytest.raises(UserError, match="arms: unknown arm"):
        jiang.make_config("smoke", arms=["dyck", "nca"])
    result = CliRunner().invoke(_app(), ["replicate", "--profile", "jiang-tiny", "--unit", "needle/x/seed-0"])
    assert isinstance(result.exception, UserError) and "needle/x/seed-0" in str(result.exception)
    # a run directory that holds something else is never written into
    other = tmp_path / "other"
    other.mkdir()
    (other / "mine.txt").write_text("keep")
    with pytest.raises(UserError, match="not empty"):
        jiang.run_units(jiang.make_config("smoke", output_dir=str(other)), wait=False)
    assert sorted(os.listdir(other)) == ["mine.txt"]


# --------------------------------------------------------------------------- scoring


def _dyck_sequences(n: int, k: int = 16, length: int = 128) -> np.ndarray:
    from pptrain_core.data import VirtualDataset
    from pptrain_core.tasks import resolve

    task = resolve("dyck", {"k": k, "length": length, "p_open": 0.5, "variant": "jiang"}).build()
    return np.stack([e.tokens for e in VirtualDataset(task, seed=3, split="eval", length=n)])


class _Oracle(torch.nn.Module):
    """Logits that put the maximum on the bracket matching the innermost open one (a stack
    machine written here, independently of the generator), or on a fixed wrong bracket."""

    def __init__(self, k: int, wrong: bool = False):
        super().__init__()
        self.k, self.wrong = k, wrong
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, input_ids):
        k = self.k
        out = torch.zeros(*input_ids.shape, 2 * k + 1)
        for b, row in enumerate(input_ids.tolist()):
            stack: list[int] = []
            for t, tok in enumerate(row):
                if tok < k:
                    stack.append(tok)
                elif stack:
                    stack.pop()
                if stack:
                    want = stack[-1] + k
                    out[b, t, (want - k + 1) % k + k if self.wrong else want] = 5.0
                    out[b, t, 0] = 6.0  # an open bracket beats it over the whole vocabulary

        class R:
            logits = out

        return R()


def test_dyck_quality_scores_closing_brackets_against_a_stack_machine():
    seqs = _dyck_sequences(8)
    k = 16
    good = jiang.dyck_quality(_Oracle(k), seqs, k)
    assert good["close_accuracy"] == 1.0 and good["sequence_accuracy"] == 1.0
    # the official metric is over the whole vocabulary: the oracle's argmax is "(0" everywhere
    opens_0 = np.mean(seqs[:, 1:] == 0)
    assert abs(good["token_accuracy"] - opens_0) < 1e-9
    bad = jiang.dyck_quality(_Oracle(k, wrong=True), seqs, k)
    assert bad["close_accuracy"] == 0.0 and bad["sequence_accuracy"] == 0.0


def test_dyck_match_targets_pair_each_nonadjacent_close_with_its_open():
    k = 2  # opens 0, 1; closes 2, 3
    tokens = np.array([[0, 1, 3, 2, 1, 0, 2, 3], [1, 3, 0, 2, 0, 2, 1, 3]])
    got = {tuple(t) for t in jiang.dyck_match_targets(tokens, k)}
    # row 0: ( [ ] ) [ ( ) ]: the ")" at 3 closes 0, the "]" at 7 closes 4; the adjacent closes are not looked up
    assert got == {(0, 2, 0), (0, 6, 4)}


def test_needle_match_targets_point_at_the_value_the_answer_copies():
    from pptrain_analytics.probe_specs import NeedleConfig
    from pptrain_analytics.probes import NeedleTask
    from pptrain_core.data import VirtualDataset

    tokens = np.stack([e.tokens for e in VirtualDataset(NeedleTask(NeedleConfig()), seed=3, split="eval", length=200)])
    targets = jiang.needle_match_targets(tokens)
    assert len(targets) == 200
    for r, q, t in targets:
        row = tokens[r]
        assert row[q] >= 158 and t < q and t % 2 == 1
        assert row[t - 1] == row[q] - 30  # the key stored there is the queried one
        assert row[t] == row[q + 1]  # and its value is the answer


def test_match_attention_reads_the_weight_on_the_target():
    class Fake(torch.nn.Module):
        def __init__(self, mode):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))
            self.mode = mode

        def forward(self, input_ids, output_attentions=False):
            from types import SimpleNamespace

            b, n = input_ids.shape
            causal = torch.tril(torch.ones(n, n))
            uniform = (causal / causal.sum(1, keepdim=True)).expand(b, 2, n, n).clone()
            layers = [uniform, uniform.clone()]
            if self.mode == "lookup":  # layer 1, head 1 puts everything on the target
                layers[1][:, 1] = 0.0
                for r, q, t in targets:
                    if r < b:
                        layers[1][r, 1, q, t] = 1.0
            return SimpleNamespace(attentions=tuple(layers))

    tokens = np.zeros((3, 10), dtype=np.int64)
    targets = np.array([[0, 5, 2], [1, 9, 0], [2, 3, 1]])
    flat = jiang.match_attention(Fake("uniform"), tokens, targets, batch_size=2)
    assert flat["uniform"] == pytest.approx(np.mean([1 / 6, 1 / 10, 1 / 4]))
    assert flat["best"] == pytest.approx(flat["uniform"]) and len(flat["by_head"]) == 4
    sharp = jiang.match_attention(Fake("lookup"), tokens, targets[:2], batch_size=2)
    assert sharp["best_head"] == "L1H1" and sharp["best"] == pytest.approx(1.0)
    assert sharp["by_head"]["L0H0"] == pytest.approx(np.mean([1 / 6, 1 / 10]))


def test_needle_scores_by_bucket_and_the_in_context_share():
    from pptrain_analytics.probe_specs import NeedleConfig
    from pptrain_analytics.probes import NeedleTask
    from pptrain_core.data import VirtualDataset

    task = NeedleTask(NeedleConfig())
    ex = list(VirtualDataset(task, seed=0, split="eval", length=600))
    tokens = np.stack([e.tokens for e in ex])
    mask = np.stack([e.loss_mask for e in ex])
    pairs = np.array([e.meta["pairs"] for e in ex])
    # a predictor that always answers with the first pair's value: right exactly when the
    # first key is queried, and always an in-context value
    pred = np.zeros_like(tokens)
    answer_pos = mask.argmax(1)
    pred[np.arange(len(ex)), answer_pos - 1] = tokens[:, 1]
    scores = jiang.needle_scores(pred, tokens, mask, pairs)
    first_queried = tokens[np.arange(len(ex)), answer_pos] == tokens[:, 1]
    assert scores["accuracy"] == pytest.approx(first_queried.mean())
    assert scores["answers_in_context"] == 1.0
    small = (pairs <= 5) & (pairs >= 1)
    assert scores["by_pairs"]["1-5"] == pytest.approx(first_queried[small].mean())
    big = pairs >= 16
    assert scores["by_pairs"]["16-30"] == pytest.approx(first_queried[big].mean())
    # a value that is in no pair of the row is not "in context"
    pred[np.arange(len(ex)), answer_pos - 1] = 127
    outside = ~np.array([127 in row[1 : 2 * p : 2] for row, p in zip(tokens, pairs, strict=True)])
    assert jiang.needle_scores(pred, tokens, mask, pairs)["answers_in_context"] == pytest.approx(1 - outside.mean())


def test_weight_decay_scope_all_decays_biases_and_norms(tmp_path):
    from pptrain_core.tasks import resolve
    from pptrain_core.training import PrePreTrainer, RunConfig
    from pptrain_core.training.job import build_adapter

    adapter = build_adapter(
        "hf_causal_lm", {"model_type": "gpt2", "overrides": {"n_layer": 1, "n_embd": 8, "n_head": 2}}
    )
    task = resolve("dyck:smoke")
    groups = {}
    for scope in ("standard", "all"):
        run = RunConfig(output_dir=str(tmp_path / scope), max_steps=1, batch_size=2, weight_decay=0.1,
                        weight_decay_scope=scope, eval_examples=0, progress=False, export_bundle=False)  # fmt: skip
        trainer = PrePreTrainer(task, adapter, run)
        trainer.fit()
        model = trainer.trainer.model
        names = {id(p): n for n, p in model.named_parameters()}
        decayed = {
            names[id(p)] for g in trainer.trainer.optimizer.param_groups if g["weight_decay"] > 0 for p in g["params"]
        }
        groups[scope] = decayed
    all_names = {n for n, _ in model.named_parameters()}
    assert groups["all"] == all_names
    assert any("ln_" in n or "bias" in n for n in all_names - groups["standard"])


# --------------------------------------------------------------------------- end to end, transfer, resume


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("jiang") / "run"
    config = jiang.make_config("smoke", output_dir=str(out), seeds=[0])
    summary = jiang.run_profile(config, progress=False, log=lambda _m: None)
    return config, out, summary


def test_smoke_run_writes_every_unit_and_the_report(smoke_run):
    config, out, summary = smoke_run
    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert sorted(r["unit"] for r in results) == sorted(u.name for u in jiang.units(config))
    assert all(r["status"] == "ok" for r in results)
    for name in ("report.md", "report.json", "curves.png", "profile.json"):
        assert (out / name).is_file(), name
    text = (out / "report.md").read_text()
    assert "13.3%" in text and "dyck - dyck_shuffled" in text and "No multiple-comparison correction" in text
    assert set(summary["arms"]) == {"scratch", "dyck", "dyck_shuffled"}
    needle = {r["arm"]: r for r in results if r["phase"] == "needle"}
    for r in needle.values():
        assert 0.0 <= r["accuracy"] <= 1.0 and set(r["by_pairs"]) <= {"1-5", "6-15", "16-30"}
    # the phase-1 unit keeps the best validation checkpoint, not the last one
    p1 = next(r for r in results if r["unit"] == "phase1/dyck/seed-0")
    curve = [json.loads(x) for x in (out / "phase1/dyck/seed-0/val_curve.jsonl").read_text().splitlines()]
    best = max((c for c in curve if c["step"] > 0), key=lambda c: c["val_accuracy"])
    assert p1["best"]["step"] == best["step"]


def test_every_unit_reports_its_lookup_attention_and_old_results_are_backfilled(smoke_run):
    config, out, _ = smoke_run
    results = {r["unit"]: r for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())}
    for name, r in results.items():
        m = r["match_attention"]
        assert m and 0.0 <= m["best"] <= 1.0 and 0.0 < m["uniform"] < 1.0 and m["targets"] > 0, name
        assert len(m["by_head"]) == 2 * 4 and m["best"] == max(m["by_head"].values())
        if name.startswith("needle/"):  # query at q = 2s: 1/s lies between 2/(2s+1) and 3/(2s+1)
            assert 2 * m["uniform"] < m["over_values"] <= 3 * m["uniform"]
    assert "Does a head look it up?" in (out / "report.md").read_text()
    # a result written before the measurement existed gets it from the saved weights, the same figures
    for name in ("phase1/dyck/seed-0", "needle/dyck/seed-0"):
        path = out / name / "result.json"
        old = json.loads(path.read_text())
        del old["match_attention"]
        old.pop("adjacent_close_baseline", None)  # phase 1 only; recorded since a later version
        path.write_text(json.dumps(old))
    again = {r["unit"]: r for r in jiang._collect(config)}
    for name in ("phase1/dyck/seed-0", "needle/dyck/seed-0"):
        assert again[name]["match_attention"]["by_head"] == pytest.approx(results[name]["match_attention"]["by_head"])
        assert "match_attention" in json.loads((out / name / "result.json").read_text())
    bigram = again["phase1/dyck/seed-0"]["adjacent_close_baseline"]
    assert bigram == pytest.approx(results["phase1/dyck/seed-0"]["adjacent_close_baseline"]) and 0 < bigram < 1


def test_the_needle_unit_transfers_the_best_dyck_checkpoint_as_the_paper_does(smoke_run):
    from safetensors.torch import load_file

    config, out, _ = smoke_run
    rows = {
        r["name"]: r for r in json.loads((out / "needle/dyck/seed-0/transfer_report.json").read_text())["parameters"]
    }
    best = load_file(str(out / "phase1/dyck/seed-0/best.safetensors"))
    wte = best["transformer.wte.weight"]
    assert wte.shape == (33, 16)
    # token embedding and the untied head: every row = mean of the Dyck model's token embedding
    assert rows["transformer.wte.weight"]["action"] == "mean_initialised"
    assert rows["lm_head.weight"]["action"] == "mean_initialised"
    assert rows["lm_head.weight"]["source_name"] == "transformer.wte.weight"
    # 128 source positions >= 100: the first 100 rows copied; blocks and the final norm copied
    assert rows["transformer.wpe.weight"]["action"] in ("partially_copied", "copied")
    assert rows["transformer.ln_f.weight"]["action"] == "copied"
    assert all(r["action"] == "copied" for n, r in rows.items() if n.startswith("transformer.h."))
    # the needle run's first evaluation is of exactly that model: rebuild it independently
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(vocab_size=256, n_positions=100, n_embd=16, n_layer=2, n_head=4, resid_pdrop=0.0,
                     embd_pdrop=0.0, attn_pdrop=0.0, tie_word_embeddings=False)  # fmt: skip
    model = GPT2LMHeadModel(cfg)
    with torch.no_grad():
        sd = model.state_dict()
        for name, tensor in best.items():
            if name.startswith("transformer.h.") or name.startswith("transformer.ln_f"):
                sd[name].copy_(tensor)
        sd["transformer.wpe.weight"].copy_(best["transformer.wpe.weight"][:100])
        mean = wte.double().mean(0).float()
        sd["transformer.wte.weight"].copy_(mean.expand(256, 16))
        sd["lm_head.weight"].copy_(mean.expand(256, 16))
    from pptrain_analytics.finetune import predict_next
    from pptrain_analytics.probe_specs import NeedleConfig
    from pptrain_analytics.probes import NeedleTask
    from pptrain_core.data import VirtualDataset

    ex = list(VirtualDataset(NeedleTask(NeedleConfig()), seed=0, split="eval", length=config.needle.eval_examples))
    tokens = np.stack([e.tokens for e in ex])
    mask = np.stack([e.loss_mask for e in ex])
    pairs = np.array([e.meta["pairs"] for e in ex])
    mine = jiang.needle_scores(predict_next(model, tokens), tokens, mask, pairs)["accuracy"]
    first = json.loads((out / "needle/dyck/seed-0/curve.jsonl").read_text().splitlines()[0])
    assert first["step"] == 0 and first["accuracy"] == pytest.approx(mine)


def test_a_killed_needle_unit_resumes_from_its_checkpoint_to_the_same_result(smoke_run, tmp_path, monkeypatch):
    config, out, _ = smoke_run
    unit = jiang.Unit("needle", "scratch", 0)
    before = json.loads((out / unit.name / "result.json").read_text())
    other = tmp_path / "killed"
    cfg = jiang.make_config("smoke", output_dir=str(other), seeds=[0])
    original = jiang._needle_callback

    def killed_at_step_11(*args, **kwargs):
        cb = original(*args, **kwargs)
        step_end = cb.on_step_end

        def on_step_end(args, state, control, **kw):
            step_end(args, state, control, **kw)
            if state.global_step == 11:  # after the step-10 checkpoint, before the end
                raise KeyboardInterrupt

        cb.on_step_end = on_step_end
        return cb

    monkeypatch.setattr(jiang, "_needle_callback", killed_at_step_11)
    with pytest.raises(KeyboardInterrupt):
        jiang.run_units(cfg, only=[unit.name], progress=False, log=lambda _m: None)
    kdir = other / unit.name
    assert not (kdir / "result.json").exists() and not (kdir / ".claim").exists()
    assert [c.name for c in (kdir / "run" / "checkpoints").glob("checkpoint-*")] == ["checkpoint-10"]
    monkeypatch.setattr(jiang, "_needle_callback", original)
    (res,) = jiang.run_units(cfg, only=[unit.name], progress=False, log=lambda _m: None)
    assert res["status"] == "ok" and res["resumed_from"].endswith("checkpoint-10")
    curve = [json.loads(x) for x in (kdir / "curve.jsonl").read_text().splitlines()]
    assert [c["step"] for c in curve] == [0, 6, 12]  # no duplicate after the resume
    assert res["accuracy"] == pytest.approx(before["accuracy"])
    # the resumed run ends at the uninterrupted run's weights (data is a function of the index)
    from safetensors.torch import load_file

    mine = load_file(str(kdir / "run/checkpoints/checkpoint-12/model.safetensors"))
    ref = load_file(str(out / unit.name / "run/checkpoints/checkpoint-12/model.safetensors"))
    assert mine.keys() == ref.keys()
    assert all(torch.allclose(mine[k], ref[k], atol=1e-6) for k in ref)


def test_claims_keep_two_workers_off_one_unit(tmp_path):
    udir = tmp_path / "u"
    assert jiang.claim(udir) and jiang.claim(udir)  # a process may re-claim its own unit
    lock = udir / ".claim"
    holder = json.loads(lock.read_text())
    holder["pid"] = 1  # another live process (init) holds it
    holder["started"] = jiang._process_start(1)
    lock.write_text(json.dumps(holder))
    assert not jiang.claim(udir)
    proc = __import__("subprocess").run(["true"])  # a finished process: its pid is free
    holder["pid"] = 999_999_99
    lock.write_text(json.dumps(holder))
    assert proc.returncode == 0 and jiang.claim(udir)  # a dead holder's claim is taken over
    jiang.release(udir)
    assert not lock.exists()


def test_report_is_regenerated_identically(smoke_run):
    _, out, _ = smoke_run
    first = (out / "report.md").read_text()
    summarize(out)
    from pptrain_analytics.jiang_report import write_report

    write_report(out)
    assert (out / "report.md").read_text() == first


def test_progress_lists_finished_and_partial_units(smoke_run, tmp_path):
    config, out, _ = smoke_run
    done = jiang.progress(config)
    assert {r["unit"] for r in done} == {u.name for u in jiang.units(config)}
    assert all(r["status"] == "ok" and r["steps_done"] == r["steps_planned"] for r in done)
    # a unit with a curve but no result is "partial", with the steps it reached
    partial = tmp_path / "p"
    cfg = jiang.make_config("smoke", output_dir=str(partial), seeds=[0])
    jiang._check_same_profile(cfg)  # writes profile.json, as a run does first
    udir = jiang.unit_dir(cfg, jiang.Unit("needle", "scratch", 0))
    udir.mkdir(parents=True)
    (udir / "curve.jsonl").write_text(
        json.dumps({"step": 0, "accuracy": 0.01}) + "\n" + json.dumps({"step": 6, "accuracy": 0.02}) + "\n"
    )
    (rec,) = jiang.progress(cfg)
    assert rec["status"] == "partial" and rec["steps_done"] == 6 and rec["steps_planned"] == 12
    # the file a session commits: both run directories, read through their own profile.json
    records = jiang.export_progress([out, partial], tmp_path / "export.jsonl", machine="test")
    lines = [json.loads(x) for x in (tmp_path / "export.jsonl").read_text().splitlines()]
    assert lines == json.loads(json.dumps(records)) and len(lines) == len(done) + 1
    assert {r["status"] for r in lines} == {"ok", "partial"} and {r["machine"] for r in lines} == {"test"}


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="process start times come from /proc")
def test_a_claim_whose_pid_now_belongs_to_another_process_is_stale(tmp_path):
    import socket

    unit = tmp_path / "unit"
    unit.mkdir()
    parent = os.getppid()  # alive, and not us
    holder = {"pid": parent, "host": socket.gethostname(), "since": 0.0, "started": jiang._process_start(parent)}
    (unit / ".claim").write_text(json.dumps(holder))
    assert not jiang.claim(unit)  # the holder is that very process: still held
    holder["started"] = "another-boot:1"  # a killed session's claim, its PID reused since
    (unit / ".claim").write_text(json.dumps(holder))
    assert jiang.claim(unit)
    assert json.loads((unit / ".claim").read_text())["pid"] == os.getpid()


def test_the_needle_loss_is_the_official_one():
    """Our labels through the HF model's own loss = the official compute_loss (an independent transcription):
    cross-entropy of logits[t] against token t+1 only where token t is a query (id >= 30 + 128)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    from pptrain_analytics.probe_specs import NeedleConfig
    from pptrain_analytics.probes import NeedleTask
    from pptrain_core.data import VirtualDataset
    from pptrain_core.training.collate import Collator

    task = NeedleTask(NeedleConfig())
    batch = Collator(task.vocab.pad_id)(list(VirtualDataset(task, seed=5, split="train", length=64)))
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=256, n_positions=100, n_embd=16, n_layer=2, n_head=4)).eval()
    ours = model(**batch).loss
    ids = batch["input_ids"]
    assert bool(batch["attention_mask"].all())  # fixed-length rows: nothing is masked out of attention
    logits = model(input_ids=ids).logits[:, :-1]
    wanted = (ids[:, :-1] >= 30 + 128).flatten()
    losses = torch.nn.functional.cross_entropy(logits.reshape(-1, 256), ids[:, 1:].reshape(-1), reduction="none")
    official = (losses * wanted).sum() / wanted.sum()
    assert wanted.sum() == 64  # exactly one scored token per example: the answer
    assert torch.allclose(ours, official, atol=1e-6)


def test_the_schedules_are_the_official_ones(smoke_run):
    config, out, _ = smoke_run

    def lrs(path):
        return {
            r["step"]: r["learning_rate"]
            for r in map(json.loads, path.read_text().splitlines())
            if "learning_rate" in r
        }

    dyck = lrs(out / "phase1/dyck/seed-0/run/metrics.jsonl")
    assert set(dyck.values()) == {config.dyck.lr}  # constant, no warm-up
    needle = lrs(out / "needle/scratch/seed-0/run/metrics.jsonl")
    n = config.needle
    import math

    for step, lr in needle.items():  # HF's cosine with linear warm-up, logged for the step's own update
        k = step - 1
        want = (
            k / n.warmup_steps
            if k < n.warmup_steps
            else 0.5 * (1 + math.cos(math.pi * (k - n.warmup_steps) / (n.steps - n.warmup_steps)))
        )
        assert lr == pytest.approx(n.lr * want, rel=1e-6, abs=1e-12), step


def _plain_loop(model, batches, optimizer, factor, loss_of):
    """The training loop both official scripts write by hand: loss, backward, clip 1.0, step, schedule."""
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    model.train()
    for ids in batches:
        loss = loss_of(model(input_ids=ids).logits, ids)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _assert_same_weights(mine, path, start):
    from safetensors.torch import load_file

    ref = load_file(str(path))
    assert ref and set(ref) <= set(mine)
    for key, tensor in ref.items():
        assert torch.allclose(mine[key], tensor, rtol=0, atol=2e-6), key
    # the loop did move the weights, so equality is not the start compared with itself
    assert max(float((mine[k] - start[k]).abs().max()) for k in ref) > 1e-3


def test_the_needle_stage_trains_exactly_as_an_independent_official_loop(smoke_run, tmp_path):
    """From the unit's start (fresh, or the transferred Dyck model) and the batches it reads, a
    plain loop written from experiment_stream.py ends at the unit's final weights: HF Trainer's
    AdamW defaults (betas 0.9/0.999, eps 1e-8, weight decay on all but biases and LayerNorm),
    linear warm-up then cosine to 0, clip 1.0, and the official compute_loss (the answer token).
    Any difference in optimiser groups, schedule, clipping or loss would move the weights."""
    import math

    from pptrain_core.plugins import get_registry

    config, out, _ = smoke_run
    n = config.needle

    def factor(k):
        if k < n.warmup_steps:
            return k / n.warmup_steps
        return 0.5 * (1 + math.cos(math.pi * (k - n.warmup_steps) / (n.steps - n.warmup_steps)))

    def official_loss(logits, ids):
        wanted = (ids[:, :-1] >= 30 + 128).flatten()
        losses = torch.nn.functional.cross_entropy(
            logits[:, :-1].reshape(-1, 256), ids[:, 1:].reshape(-1), reduction="none"
        )
        return (losses * wanted).sum() / wanted.sum()

    for arm in ("scratch", "dyck"):
        unit = jiang.Unit("needle", arm, 0)
        trainer, _ = jiang.needle_trainer(config, unit, tmp_path / arm, get_registry())
        model = trainer.adapter.build(256, seed=0)
        start = {k: v.detach().clone() for k, v in model.state_dict().items()}
        batches = [b["input_ids"] for b in trainer.data_loader()]
        assert len(batches) == n.steps and all(b.shape == (n.batch_size, 63) for b in batches)
        named = list(model.named_parameters())
        decay = [p for name, p in named if not (name.endswith(".bias") or ".ln_" in name)]
        exempt = [p for name, p in named if name.endswith(".bias") or ".ln_" in name]
        assert exempt and decay
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": n.weight_decay}, {"params": exempt, "weight_decay": 0.0}],
            lr=n.lr, betas=(0.9, 0.999), eps=1e-8,
        )  # fmt: skip
        mine = _plain_loop(model, batches, optimizer, factor, official_loss)
        _assert_same_weights(mine, out / unit.name / f"run/checkpoints/checkpoint-{n.steps}/model.safetensors", start)


def test_the_dyck_phase_trains_exactly_as_an_independent_official_loop(tmp_path):
    """The same for phase 1, with dyck.py's loop: AdamW(model.parameters(), lr, weight_decay) (every
    parameter decayed), constant rate, clip 1.0, the mean cross-entropy of every next token (the last
    position masked). Dropout is set to 0 here only so that both runs draw no random masks."""
    from pptrain_core.plugins import get_registry

    cfg = jiang.make_config(
        "smoke", output_dir=str(tmp_path / "run"), seeds=[0], arms=["dyck"], overrides=["dyck.dropout=0.0"]
    )
    unit = jiang.Unit("phase1", "dyck", 0)
    (res,) = jiang.run_units(cfg, only=[unit.name], progress=False, log=lambda _m: None)
    assert res["status"] == "ok"
    d = cfg.dyck
    trainer = jiang.phase1_trainer(cfg, unit, tmp_path / "again", get_registry())
    model = trainer.adapter.build(33, seed=0)
    start = {k: v.detach().clone() for k, v in model.state_dict().items()}
    batches = [b["input_ids"] for b in trainer.data_loader()]
    assert len(batches) == d.steps and all(b.shape == (d.batch_size, 128) for b in batches)

    def dyck_loss(logits, ids):
        losses = torch.nn.functional.cross_entropy(
            logits[:, :-1].reshape(-1, 33), ids[:, 1:].reshape(-1), reduction="none"
        )
        return losses.mean()  # loss_mask: ones but the last position, whose target is the pad

    optimizer = torch.optim.AdamW(model.parameters(), lr=d.lr, weight_decay=d.weight_decay)
    mine = _plain_loop(model, batches, optimizer, lambda _k: 1.0, dyck_loss)
    _assert_same_weights(
        mine, tmp_path / "run" / unit.name / f"run/checkpoints/checkpoint-{d.steps}/model.safetensors", start
    )


def test_a_run_directory_from_before_a_new_setting_still_resumes(tmp_path):
    cfg = jiang.make_config("smoke", output_dir=str(tmp_path / "r"))
    jiang._check_same_profile(cfg)
    path = tmp_path / "r" / "profile.json"
    old = json.loads(path.read_text())
    del old["dataloader_workers"]  # written by a version without that setting
    path.write_text(json.dumps(old))
    jiang._check_same_profile(cfg)  # the default fills it: the same profile
    old["needle"]["steps"] = 99
    path.write_text(json.dumps(old))
    with pytest.raises(UserError, match="other settings"):
        jiang._check_same_profile(cfg)


def test_the_bigram_line_counts_closes_right_after_their_open():
    # k = 2: "(0 )0 (0 (1 )1 )0": two of the three closes follow their open directly
    seqs = np.array([[0, 2, 0, 1, 3, 2]])
    assert jiang.adjacent_close_baseline(seqs, 2) == pytest.approx(2 / 3 + (1 / 3) / 2)
    # on the profile's data the line is about 0.54: what a model that learned only the bigram scores
    line = jiang.adjacent_close_baseline(_dyck_sequences(64), 16)
    assert 0.5 < line < 0.58


def test_unit_with_workers_runs_only_the_named_units_in_worker_processes(tmp_path):
    # `--unit` used to drop `--workers` silently (one process ran every named unit in turn)
    out = tmp_path / "w"
    result = CliRunner().invoke(
        _app(),
        ["replicate", "--profile", "jiang-tiny", "--variant", "smoke", "--seeds", "0,1", "--output-dir", str(out),
         "--device", "cpu", "--workers", "2", "--unit", "phase1/dyck/seed-0", "--unit", "phase1/dyck/seed-1"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    done = sorted(p.parent.relative_to(out).as_posix() for p in out.glob("**/result.json"))
    assert done == ["phase1/dyck/seed-0", "phase1/dyck/seed-1"]
    pids = {json.loads((out / d / "result.json").read_text()).get("pid") for d in done}
    assert os.getpid() not in pids


def test_phase1_weights_load_from_both_safetensors_layouts(tmp_path):
    # save_weights stores a tied head once, as the token embedding; safetensors.torch.save_model
    # keeps one name of a shared tensor (here the head) and records the other in the metadata
    from safetensors.torch import save_model

    cfg = jiang.make_config("smoke", output_dir=str(tmp_path / "r"), seeds=[0])
    adapter, task = jiang.phase1_adapter(cfg), jiang.phase1_task(cfg, "dyck")
    vocab = task.build().vocab.size
    src = adapter.build(vocab, seed=0)
    with torch.no_grad():
        src.get_input_embeddings().weight.add_(1.0)  # unlike any fresh initialisation
    for name, write in (("ours", jiang.save_weights), ("save_model", lambda m, p: save_model(m, str(p)))):
        path = tmp_path / f"{name}.safetensors"
        write(src, path)
        dst = adapter.build(vocab, seed=1)
        jiang.load_weights(dst, path)
        for key, value in src.state_dict().items():
            assert torch.equal(dst.state_dict()[key], value), (name, key)
        assert dst.get_output_embeddings().weight is dst.get_input_embeddings().weight  # still tied


def test_the_published_needle_table_matches_the_committed_raw_data():
    """docs/compare.md (section jiang-tiny) has one row per finished needle unit of
    docs/results/jiang-tiny-cpu.jsonl, with that unit's final accuracy: the table is a
    transcription, and a stale or mistyped row fails here."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    raw, doc = root / "docs" / "results" / "jiang-tiny-cpu.jsonl", root / "docs" / "compare.md"
    if not (raw.is_file() and doc.is_file()):
        pytest.skip("not run from a checkout of the repository")
    section = doc.read_text(encoding="utf-8").split("\n## jiang-tiny\n", 1)[1]
    rows = [line for line in section.splitlines() if line.startswith("| ") and ", seed " in line]
    label = {"scratch": "scratch", "dyck": "Dyck", "dyck_shuffled": "shuffled Dyck"}
    finished = [
        json.loads(line)
        for line in raw.read_text(encoding="utf-8").splitlines()
        if line.strip() and '"phase": "needle"' in line
    ]
    finished = [r for r in finished if r["status"] == "ok" and r["variant"] == "fast-dyck"]
    assert finished
    for rec in finished:
        final = rec["curve"][-1]
        assert final["step"] == rec["steps_planned"] == 10_000
        mine = [r for r in rows if r.startswith(f"| {label[rec['arm']]}, seed {rec['seed']} ")]
        assert len(mine) == 1, (rec["unit"], mine)
        assert f"**{100 * final['accuracy']:.2f} %**" in mine[0], (rec["unit"], final["accuracy"], mine[0])
    needle_rows = [r for r in rows if r.startswith(tuple(f"| {v}, seed" for v in label.values()))]
    assert len(needle_rows) == len(finished)  # no row for a unit that has not finished


def test_the_report_prints_intervals_only_from_three_seeds(tmp_path):
    """With 1 or 2 seeds a bootstrap "95% interval" is just the range of the values: the report
    says there is no interval; from 3 seeds it gives one that contains the mean."""
    from pptrain_analytics.jiang_report import _markdown

    def needle(arm, seed, acc):
        return {"phase": "needle", "arm": arm, "seed": seed, "accuracy": acc, "best_accuracy": acc + 0.01,
                "by_pairs": {"1-5": 0.4, "6-15": 0.07, "16-30": 0.03}, "answers_in_context": 0.6}  # fmt: skip

    def report(seeds, gain=lambda s: 0.002):
        rows = [
            needle(a, s, 0.10 + 0.01 * s + (gain(s) if a == "dyck" else 0)) for a in ("scratch", "dyck") for s in seeds
        ]
        run = tmp_path / f"run-{len(seeds)}-{gain(2)}"
        run.mkdir()
        (run / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        text = _markdown(summarize(run))
        arm = next(line for line in text.splitlines() if line.startswith("| dyck | "))
        contrast = next(line for line in text.splitlines() if line.startswith("| dyck - scratch | "))
        return arm, contrast

    for seeds in ([0], [0, 1]):
        arm, contrast = report(seeds)
        assert "no interval" in arm and "[" not in arm, arm
        assert "no interval below 3 seeds" in contrast and "[" not in contrast, contrast
    arm, contrast = report([0, 1, 2])
    assert "no interval" not in arm and "no interval" not in contrast
    assert "11.2% [" in arm  # the mean of 10.2, 11.2, 12.2 %, with its interval
    assert "+0.2 pts [+0.2, +0.2]" in contrast  # the same +0.2-point difference on every seed
    # differences 0, +0.2, +0.4 points: mean +0.2, sd 0.2, so the paired t interval is
    # +0.2 -+ 4.303 * 0.2 / sqrt(3) = [-0.3, +0.7], wider than the bootstrap's range [0.0, +0.4]
    _, contrast = report([0, 1, 2], gain=lambda s: 0.002 * s)
    assert "+0.2 pts [+0.0, +0.4] | [-0.3, +0.7] |" in contrast, contrast
