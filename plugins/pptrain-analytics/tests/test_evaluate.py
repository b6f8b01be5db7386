"""``evaluate()`` and ``pptrain evaluate``: loading bundles and model folders, routing settings, errors.

The registry is built for the tests from the plugins involved (hf, dyck, nca and this
plugin's probe tasks and metrics), so the tests do not depend on what else is installed.
"""

from __future__ import annotations

import json
import math
import os
import types

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest

from pptrain_analytics.evaluate import evaluate, load_model
from pptrain_core import hookimpl
from pptrain_core.errors import ConfigError, UserError

TINY_GPT2 = {"model_type": "gpt2", "overrides": {"n_layer": 2, "n_head": 4, "n_embd": 16, "tie_word_embeddings": False}}
PROBE = {"preset": "smoke", "steps": 2, "batch_size": 8, "warmup_steps": 0, "eval_examples": 16, "eval_every": 0}


@pytest.fixture(autouse=True)
def _one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _analytics_plugin():
    from pptrain_analytics.metric_specs import METRICS
    from pptrain_analytics.probe_specs import PROBE_TASKS

    @hookimpl
    def register_tasks(register):
        for spec in PROBE_TASKS:
            register(spec)

    @hookimpl
    def register_metrics(register):
        for spec in METRICS:
            register(spec)

    return types.SimpleNamespace(register_tasks=register_tasks, register_metrics=register_metrics)


@pytest.fixture(scope="module")
def reg():
    import pptrain_dyck.plugin
    import pptrain_hf.plugin
    import pptrain_nca.plugin
    from pptrain_core.plugins import Candidate, Registry

    plugins = {
        "hf": pptrain_hf.plugin,
        "dyck": pptrain_dyck.plugin,
        "nca": pptrain_nca.plugin,
        "analytics-b": _analytics_plugin(),
    }
    cands = [Candidate(name=n, load=lambda o=o: o, distribution=n, version="0.0.0") for n, o in plugins.items()]
    registry = Registry.load(cands, environ={})
    broken = [p.reason for p in registry.plugins if p.status != "loaded"]
    assert not broken, broken
    return registry


@pytest.fixture(scope="module")
def bundle(reg, tmp_path_factory):
    """A real bundle: the probe's tiny GPT-2 pre-pretrained on dyck:smoke for two steps."""
    from pptrain_core.tasks import resolve
    from pptrain_core.training.config import RunConfig
    from pptrain_core.training.job import build_adapter
    from pptrain_core.training.trainer import PrePreTrainer

    out = tmp_path_factory.mktemp("dyck-run")
    adapter = build_adapter("hf_causal_lm", TINY_GPT2, registry=reg)
    run = RunConfig(output_dir=str(out), max_steps=2, batch_size=4, eval_examples=0, progress=False)
    result = PrePreTrainer(resolve("dyck:smoke", registry=reg), adapter, run, registry=reg).fit()
    return str(result.bundle_dir)


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory):
    from transformers import AutoModelForCausalLM, GPT2Config

    cfg = GPT2Config(vocab_size=11, n_layer=1, n_head=2, n_embd=8, bos_token_id=None, eos_token_id=None)
    path = tmp_path_factory.mktemp("hf") / "model"
    AutoModelForCausalLM.from_config(cfg).save_pretrained(path)
    return str(path)


def _strict_json(data):
    return json.loads(json.dumps(data, allow_nan=False))


# --------------------------------------------------------------------------- the Python API


def test_representation_metrics_on_a_bundle_read_its_own_task(reg, bundle):
    got = evaluate(bundle, "cka", other=bundle, registry=reg, n_sequences=2, seq_len=8)
    assert got["model"]["kind"] == "bundle" and got["model"]["task"] == "dyck:smoke"
    assert got["task"] == "dyck:smoke" and got["result"]["inputs"]["source"] == "task eval split"
    assert np.allclose(got["result"]["diagonal"], 1.0, atol=1e-6)
    assert got["config"]["n_sequences"] == 2
    assert _strict_json(got) == got

    induction = evaluate(bundle, "induction_head_score", registry=reg, n_sequences=2, block_len=4)
    assert np.array(induction["result"]["scores"]).shape == (2, 4)


def test_an_hf_directory_and_random_inputs(reg, hf_dir):
    got = evaluate(hf_dir, "effective_rank", registry=reg, n_sequences=2, seq_len=8)
    assert got["model"]["kind"] == "hf_dir" and got["task"] is None
    assert got["result"]["hidden_states"]["inputs"]["source"] == "uniform random ids"
    assert len(got["result"]["hidden_states"]["effective_rank"]) == 2


def test_needle_probe_from_scratch_and_from_a_bundle(reg, bundle):
    scratch = evaluate("scratch", "needle", registry=reg, **PROBE)
    assert scratch["model"]["kind"] == "scratch" and scratch["result"]["start"] == "scratch"
    assert [c["step"] for c in scratch["result"]["curve"]] == [0, 2]
    transferred = evaluate(bundle, "needle", registry=reg, **PROBE)
    roles = transferred["result"]["transfer"]["roles"]
    assert roles["token_embedding"] == ["mean_initialised"] and roles["attention"] == ["copied"]
    assert 0.0 <= transferred["result"]["accuracy"] <= 1.0


def test_nca_icl_runs_through_evaluate(reg):
    from transformers import AutoModelForCausalLM, GPT2Config

    from pptrain_core.tasks import resolve

    vocab = resolve("nca:smoke", registry=reg).build().vocab.size
    cfg = GPT2Config(vocab_size=vocab, n_layer=1, n_head=2, n_embd=8, bos_token_id=None, eos_token_id=None)
    model = AutoModelForCausalLM.from_config(cfg)
    got = evaluate(model, "nca_icl", task="nca:smoke", registry=reg, n_sequences=2, rules="eval")
    assert got["result"]["rules"] == "eval" and got["result"]["n_sequences"] == 2
    assert all(math.isfinite(v) for v in got["result"]["frame_loss"])
    with pytest.raises(UserError, match="needs a task"):
        evaluate(model, "nca_icl", registry=reg)


def test_user_mistakes_are_one_sentence(reg, bundle, hf_dir, tmp_path):
    with pytest.raises(UserError, match="did you mean 'cka'"):
        evaluate(bundle, "ckaa", registry=reg)
    with pytest.raises(UserError, match="--other"):
        evaluate(bundle, "cka", registry=reg)
    with pytest.raises(UserError, match="reads one model"):
        evaluate(bundle, "effective_rank", other=bundle, registry=reg)
    with pytest.raises(UserError, match="fine-tuning probes"):
        evaluate("scratch", "effective_rank", registry=reg)
    with pytest.raises(ConfigError) as err:
        evaluate(bundle, "cka", other=bundle, registry=reg, n_sequence=2)
    assert err.value.path == "$.metrics.cka.n_sequence" and "n_sequences" in err.value.message
    with pytest.raises(ConfigError) as err:
        evaluate("scratch", "needle", registry=reg, steps="many")
    assert err.value.path == "$.metrics.needle.steps"
    with pytest.raises(UserError, match="not a directory"):
        evaluate(str(tmp_path / "missing"), "effective_rank", registry=reg)
    with pytest.raises(UserError, match="neither bundle.json"):
        evaluate(str(tmp_path), "effective_rank", registry=reg)
    with pytest.raises(UserError, match="run directory"):
        load_model(str(os.path.dirname(bundle)), registry=reg)
    with pytest.raises(UserError, match="share a tokenizer"):
        evaluate(bundle, "prediction_divergence", other=hf_dir, registry=reg)


# --------------------------------------------------------------------------- the command line


@pytest.fixture
def cli(reg):
    import typer
    from typer.testing import CliRunner

    from pptrain_analytics import cli_evaluate
    from pptrain_core import plugins

    app = typer.Typer()
    cli_evaluate.register(app)

    @app.command("noop")
    def noop() -> None:  # a second command keeps `evaluate` a sub-command
        pass

    previous = plugins._REGISTRY
    plugins.reset_registry(reg)
    runner = CliRunner()
    yield lambda *args: runner.invoke(app, ["evaluate", *args])
    plugins.reset_registry(previous)


def test_cli_json_out_and_routed_settings(cli, bundle, tmp_path):
    out = tmp_path / "results.json"
    args = [bundle, "-m", "cka", "-m", "effective_rank", "--other", bundle]
    res = cli(
        *args, "--set", "n_sequences=2", "--set", "cka.seq_len=8", "--set", "of=weights", "--json", "--out", str(out)
    )
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout)
    assert json.loads(out.read_text()) == payload
    cka, rank = payload["results"]
    assert cka["config"]["n_sequences"] == 2 and cka["config"]["seq_len"] == 8
    assert rank["config"]["n_sequences"] == 2 and rank["config"]["seq_len"] == 64  # cka.seq_len is cka's only
    assert rank["config"]["of"] == "weights" and "hidden_states" not in rank["result"]
    assert rank["other"] is None and cka["other"]["kind"] == "bundle"


def test_cli_table(cli, bundle):
    res = cli(bundle, "--metric", "induction_head_score", "--set", "n_sequences=2", "--set", "block_len=4")
    assert res.exit_code == 0, res.output
    assert "induction_head_score" in res.output and "uniform_baseline" in res.output


@pytest.mark.parametrize(
    "args,words",
    [
        (["-m", "cka"], "--other"),
        (["-m", "effective_rank", "--set", "n_sequencs=2"], "did you mean 'n_sequences'"),
        (["-m", "cka", "--other", "X", "--set", "cka.nope=1"], "no setting 'nope'"),
        (["-m", "effective_rank", "--other", "X"], "only read by pair metrics"),
        (["-m", "nedle"], "did you mean 'needle'"),
    ],
)
def test_cli_mistakes_raise_user_errors(cli, bundle, args, words):
    res = cli(bundle, *args)
    assert isinstance(res.exception, UserError), res.output
    assert words in str(res.exception)
