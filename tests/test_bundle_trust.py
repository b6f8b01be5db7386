"""A bundle is data, never code: hostile and malformed bundles are refused in one sentence, exit 2.

Every hostile bundle here is "resealed": its manifest and meta_sha256 are recomputed,
as a malicious author would, so the refusals come from what the bundle asks for, not
from a hash mismatch.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("pptrain_hf")

from pptrain_core.bundle import (  # noqa: E402
    BUNDLE_FILE,
    canonical_digest,
    load_bundle,
    sha256_file,
    write_bundle,
)
from pptrain_core.errors import UserError  # noqa: E402
from pptrain_core.tasks import resolve  # noqa: E402
from pptrain_core.testing.cli import one_sentence  # noqa: E402
from pptrain_core.testing.cli import run_cli as run  # noqa: E402
from pptrain_hf import HFModelConfig, TorchModuleConfig  # noqa: E402
from pptrain_hf.hf import HFCausalLMAdapter  # noqa: E402
from pptrain_hf.torch_module import TorchModuleAdapter  # noqa: E402

torch.set_num_threads(1)

TINY = {"d_model": 8, "n_layers": 1, "n_heads": 2, "max_len": 16}
USER_MODULE = """
from pptrain_hf.examples import tiny_transformer_lm


def tiny(vocab_size, **kwargs):
    return tiny_transformer_lm(vocab_size, **kwargs)


tiny.role_patterns = tiny_transformer_lm.role_patterns
"""


def _write(tmp_path: Path, registry, adapter, name: str = "bundle") -> Path:
    resolved = resolve("toy_copy:tiny", registry=registry)
    vocab = resolved.build().vocab
    model = adapter.build(vocab.size, seed=0)
    return write_bundle(
        tmp_path / name,
        model=model,
        adapter=adapter,
        adapter_name=adapter.name,
        adapter_config=adapter.config,
        resolved_task=resolved,
        vocab=vocab,
        seeds={"data_seed": 0, "model_seed": 0},
        training={"steps": 0},
        versions={"pptrain-core": "test", "task_plugin": "toy", "adapter_plugin": "pptrain-hf"},
    )


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    root = tmp_path / "usercode"
    root.mkdir()
    (root / "user_models.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(root))
    yield "user_models:tiny"
    sys.modules.pop("user_models", None)


@pytest.fixture
def torch_bundle(tmp_path, toy_registry):
    return _write(tmp_path, toy_registry, TorchModuleAdapter(TorchModuleConfig(kwargs=TINY)))


@pytest.fixture
def hf_bundle(tmp_path, toy_registry):
    config = HFModelConfig("gpt2", {"n_layer": 1, "n_embd": 16, "n_head": 2, "n_positions": 32})
    return _write(tmp_path, toy_registry, HFCausalLMAdapter(config), name="hfbundle")


def reseal(directory: Path, edit=None) -> Path:
    """Apply ``edit(meta, directory)``, then recompute every hash, as a malicious author can."""
    meta = json.loads((directory / BUNDLE_FILE).read_text())
    if edit is not None:
        edit(meta, directory)
    if isinstance(meta.get("files"), dict):
        meta["files"] = {
            rel: sha256_file(directory / rel) if (directory / rel).is_file() else digest
            for rel, digest in meta["files"].items()
        }
    if isinstance(meta.get("weights"), dict) and isinstance(meta.get("files"), dict):
        meta["weights"] = {n: meta["files"].get(n, d) for n, d in meta["weights"].items()}
    meta["meta_sha256"] = canonical_digest(meta)
    (directory / BUNDLE_FILE).write_text(json.dumps(meta, indent=2))
    return directory


def hostile_factory(directory: Path, marker: Path, factory: str = "pydoc:pipepager") -> Path:
    """A torch_module bundle whose factory is ``pydoc.pipepager(text, cmd)``: it runs ``cmd`` in a shell."""
    kwargs = {"cmd": f"touch {marker}"}

    def edit(meta, d):
        meta["adapter"]["config"]["factory"] = factory
        meta["adapter"]["config"]["kwargs"] = kwargs
        cfg = json.loads((d / "config.json").read_text())
        cfg.update(factory=factory, kwargs=kwargs)
        (d / "config.json").write_text(json.dumps(cfg))

    return reseal(directory, edit)


# --------------------------------------------------------------------------- code named in a bundle


def test_a_hostile_factory_never_runs_in_transfer_or_evaluate(torch_bundle, tmp_path, capsys):
    marker = tmp_path / "pwned"
    hostile_factory(torch_bundle, marker)
    for args in (
        ("transfer", torch_bundle, "--dry-run", "--vocab-size", 12),
        ("transfer", torch_bundle, "--vocab-size", 12, "--out", tmp_path / "out"),
        ("evaluate", torch_bundle, "--metric", "induction_head_score"),
    ):
        code, _, err = run(capsys, *args)
        assert code == 2, (args, err)
        assert "pydoc:pipepager" in one_sentence(err) and "never runs" in err
        assert not marker.exists(), f"{args[0]} ran the bundle's factory"
    assert not (tmp_path / "out").exists()
    bundle = load_bundle(torch_bundle)  # loading itself is fine: it calls nothing
    with pytest.raises(UserError, match="pydoc:pipepager"):
        bundle.load_model()
    with pytest.raises(UserError, match="pydoc:pipepager"):
        bundle.adapter()
    assert bundle.code_references() == {"factory": "pydoc:pipepager"}
    assert not marker.exists()


def test_compare_bundle_arms_read_weights_without_the_bundles_code(torch_bundle, tmp_path):
    """compare loads bundle arms with load_bundle and transfers by parameter list: no adapter of the bundle's."""
    marker = tmp_path / "pwned"
    hostile_factory(torch_bundle, marker)
    bundle = load_bundle(torch_bundle)
    state = bundle.load_state_dict()
    assert {p.name for p in bundle.parameters} >= set(state)
    assert not marker.exists()


def test_a_factory_the_user_names_is_used_and_the_bundles_is_not(
    tmp_path, toy_registry, user_module, capsys, monkeypatch
):
    adapter = TorchModuleAdapter(TorchModuleConfig(factory=user_module, kwargs=TINY))
    directory = _write(tmp_path, toy_registry, adapter)
    bundle = load_bundle(directory)
    with pytest.raises(UserError, match="user_models:tiny"):
        bundle.load_model()
    loaded = bundle.load_model(adapter=adapter)  # the caller passes the code
    assert torch.equal(loaded.net.tok.weight, bundle.load_state_dict()["net.tok.weight"])
    assert bundle.load_model(trust_code=True) is not None  # or vouches for it explicitly
    model_file = tmp_path / "model.yaml"
    model_file.write_text(f"adapter: torch_module\nparams:\n  factory: {user_module}\n  kwargs: {json.dumps(TINY)}\n")
    code, _, err = run(capsys, "transfer", directory, "--dry-run", "--vocab-size", 12)
    assert code == 2 and "--model FILE" in one_sentence(err)
    code, _, err = run(
        capsys, "transfer", directory, "--model", model_file, "--vocab-size", 12, "--out", tmp_path / "o"
    )
    assert code == 0, err
    assert (tmp_path / "o" / "model.safetensors").is_file()


def test_the_plugins_own_example_factories_need_no_trust(torch_bundle):
    bundle = load_bundle(torch_bundle)
    assert bundle.code_references() == {}
    model = bundle.load_model()
    assert torch.equal(model.net.tok.weight, bundle.load_state_dict()["net.tok.weight"])


def test_a_hub_kernel_as_attention_is_code_and_refused(hf_bundle, capsys):
    def edit(meta, d):
        meta["adapter"]["config"]["attn_implementation"] = "kernels-community/flash-attn"

    reseal(hf_bundle, edit)
    code, _, err = run(capsys, "transfer", hf_bundle, "--dry-run", "--vocab-size", 12)
    assert code == 2 and "kernels-community/flash-attn" in one_sentence(err)
    code, _, err = run(capsys, "evaluate", hf_bundle, "--metric", "induction_head_score")
    assert code == 2 and "attn_implementation" in one_sentence(err)


def test_a_recorded_pretrained_dir_is_replaced_by_the_bundle_itself(hf_bundle, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    HFCausalLMAdapter(HFModelConfig("gpt2", {"n_layer": 1, "n_embd": 8, "n_head": 2})).build(5).save_pretrained(
        elsewhere
    )

    def edit(meta, d):
        meta["adapter"]["config"].update(pretrained_dir=str(elsewhere), load_weights=True, overrides={})

    reseal(hf_bundle, edit)
    adapter = load_bundle(hf_bundle).adapter()
    assert adapter.config.pretrained_dir == str(hf_bundle) and adapter.config.load_weights is False
    target = adapter.build(12, seed=0)
    assert target.config.n_embd == 16  # the bundle's architecture, not the directory it named


@pytest.mark.parametrize(
    "change, fragment",
    [
        ({"model_type": "bert_for_nothing"}, "unknown model type"),
        ({"model_type": "bert_for_nothing", "auto_map": {"AutoModelForCausalLM": "evil.Model"}}, "unknown model type"),
        ({"quantization_config": {"quant_method": "mxfp4"}}, "quantization_config"),
    ],
)
def test_a_config_json_that_asks_for_code_is_refused(hf_bundle, capsys, change, fragment):
    def edit(meta, d):
        cfg = json.loads((d / "config.json").read_text())
        cfg.update(change)
        (d / "config.json").write_text(json.dumps(cfg))

    reseal(hf_bundle, edit)
    code, _, err = run(capsys, "evaluate", hf_bundle, "--metric", "induction_head_score")
    assert code == 2 and fragment in one_sentence(err)


# --------------------------------------------------------------------------- paths and the manifest


def _rename_weights(new: str):
    def edit(meta, d):
        meta["weights"] = {new: meta["weights"]["model.safetensors"]}
        meta["files"][new] = meta["files"].pop("model.safetensors")

    return edit


@pytest.mark.parametrize(
    "edit, fragment",
    [
        (_rename_weights("../model.safetensors"), "not a plain file name inside the bundle"),
        (_rename_weights("/etc/model.safetensors"), "not a plain file name inside the bundle"),
        (_rename_weights("tokenizer/model.safetensors"), "not a plain .safetensors file name"),
        (_rename_weights("model.bin"), "not a plain .safetensors file name"),
        (lambda m, d: m["files"].update({"../secret": "0" * 64}), "not a plain file name inside the bundle"),
        (lambda m, d: m["files"].update({"sub/x.json": "0" * 64}), "not a plain file name inside the bundle"),
    ],
)
def test_every_path_is_a_plain_name_inside_the_bundle(torch_bundle, capsys, edit, fragment):
    reseal(torch_bundle, edit)
    code, _, err = run(capsys, "transfer", torch_bundle, "--dry-run", "--vocab-size", 12)
    assert code == 2 and fragment in one_sentence(err)


def test_symbolic_links_and_unlisted_files_are_refused(torch_bundle, tmp_path):
    outside = tmp_path / "outside.safetensors"
    shutil.copy(torch_bundle / "model.safetensors", outside)
    link = tmp_path / "link"
    shutil.copytree(torch_bundle, link)
    (link / "model.safetensors").unlink()
    os.symlink(outside, link / "model.safetensors")  # same bytes, same hash: still refused
    with pytest.raises(UserError, match="symbolic link"):
        load_bundle(link)
    tok = tmp_path / "toklink"
    shutil.copytree(torch_bundle, tok)
    shutil.move(tok / "tokenizer", tmp_path / "tok-elsewhere")
    os.symlink(tmp_path / "tok-elsewhere", tok / "tokenizer")
    with pytest.raises(UserError, match="symbolic link"):
        load_bundle(tok)
    extra = tmp_path / "extra"
    shutil.copytree(torch_bundle, extra)
    (extra / "adapter_config.json").write_text("{}")
    with pytest.raises(UserError, match="adapter_config.json.*manifest does not list"):
        load_bundle(extra)
    sub = tmp_path / "sub"
    shutil.copytree(torch_bundle, sub)
    (sub / "nested").mkdir()
    with pytest.raises(UserError, match="directory a bundle does not have"):
        load_bundle(sub)


def test_the_manifest_covers_config_json_tokenizer_and_the_metadata(torch_bundle, tmp_path):
    meta = json.loads((torch_bundle / BUNDLE_FILE).read_text())
    assert set(meta["files"]) >= {"config.json", "model.safetensors", "tokenizer/tokenizer.json"}
    assert meta["meta_sha256"] == canonical_digest(meta) == load_bundle(torch_bundle).digest

    def copy(tag):
        d = tmp_path / tag
        shutil.copytree(torch_bundle, d)
        return d

    d = copy("config")
    cfg = json.loads((d / "config.json").read_text())
    cfg["kwargs"]["d_model"] = 16
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(UserError, match="config.json does not match its recorded sha256"):
        load_bundle(d)
    d = copy("tokenizer")
    (d / "tokenizer" / "tokenizer.json").write_text("{}")
    with pytest.raises(UserError, match="tokenizer/tokenizer.json does not match"):
        load_bundle(d)
    d = copy("meta")
    meta = json.loads((d / BUNDLE_FILE).read_text())
    meta["suggested_policy"] = "full"
    (d / BUNDLE_FILE).write_text(json.dumps(meta))
    with pytest.raises(UserError, match="meta_sha256"):
        load_bundle(d)


# --------------------------------------------------------------------------- strict types


def _set(path: str, value):
    def edit(meta, d):
        *head, last = path.split(".")
        target = meta
        for key in head:
            target = target[key]
        target[last] = value

    return edit


@pytest.mark.parametrize(
    "edit, fragment",
    [
        (_set("format_version", True), "format_version in bundle.json must be an integer, got a boolean"),
        (_set("format_version", "2"), "must be an integer, got a string"),
        (_set("format_version", 2.0), "must be an integer, got a number"),
        (_set("format_version", 1), "format version 1"),
        (_set("format_version", 3), "upgrade pptrain-core"),
        (_set("weights", ["model.safetensors"]), "$.weights in bundle.json must be a mapping, got a list"),
        (_set("task", None), "$.task in bundle.json must be a mapping, got null"),
        (_set("task.name", None), "$.task.name"),
        (_set("task.preset", 3), "$.task.preset"),
        (_set("adapter.name", ["torch_module"]), "$.adapter.name"),
        (_set("vocab.size", True), "$.vocab.size"),
        (_set("seeds.data_seed", "0"), "$.seeds.data_seed"),
        (_set("parameters", {}), "$.parameters"),
        (lambda m, d: m["parameters"][0].update(shape="8x8"), "$.parameters[0].shape"),
        (lambda m, d: m["parameters"][0].update(role="everything"), "$.parameters[0].role"),
        (lambda m, d: m["parameters"][0].update(name="\x1b[31mred"), "$.parameters[0].name"),
        (lambda m, d: m["parameters"][0].update(shape=[1, 2]), "has shape"),
        (_set("suggested_policy", None), "$.suggested_policy"),
        (_set("surprise", 1), "$.surprise"),
    ],
)
def test_every_field_is_strictly_typed(torch_bundle, capsys, edit, fragment):
    reseal(torch_bundle, edit)
    code, _, err = run(capsys, "transfer", torch_bundle, "--dry-run", "--vocab-size", 12)
    assert code == 2 and fragment in one_sentence(err)
    assert "\x1b" not in err  # a name from the bundle never reaches the terminal raw


def test_a_manifest_entry_must_be_a_sha256(torch_bundle):
    meta = json.loads((torch_bundle / BUNDLE_FILE).read_text())
    meta["files"]["config.json"] = "not-a-hash"
    (torch_bundle / BUNDLE_FILE).write_text(json.dumps(meta))
    with pytest.raises(UserError, match=r"\$\.files\[.config\.json.\] in bundle.json must be a sha256"):
        load_bundle(torch_bundle)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("[1, 2]", "must be an integer, got null"),
        ('{"format_version": 2, "format_version": 2}', "appears twice"),
        ("{not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_a_bundle_json_that_is_not_an_object_is_refused(torch_bundle, capsys, text, fragment):
    path = torch_bundle / BUNDLE_FILE
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    code, _, err = run(capsys, "transfer", torch_bundle, "--dry-run", "--vocab-size", 12)
    assert code == 2 and fragment in one_sentence(err)


@pytest.mark.parametrize(
    "corrupt, fragment",
    [
        (lambda raw: (10**12).to_bytes(8, "little") + raw[8:], "declares a header of"),
        (lambda raw: (5).to_bytes(8, "little") + b"{{{{{" + raw[13:], "header that is not JSON"),
        (lambda raw: raw[:8] + raw[8:].replace(b'"F32"', b'"F99"', 1), "unknown dtype"),
        (lambda raw: raw[:-4], "do not fit its shape or the file"),
        (lambda raw: raw[:5], "shorter than a safetensors header"),
    ],
)
def test_a_bad_safetensors_header_is_one_sentence(torch_bundle, capsys, corrupt, fragment):
    path = torch_bundle / "model.safetensors"
    path.write_bytes(corrupt(path.read_bytes()))
    reseal(torch_bundle)
    code, _, err = run(capsys, "transfer", torch_bundle, "--dry-run", "--vocab-size", 12)
    assert code == 2 and fragment in one_sentence(err)


def test_a_good_bundle_still_transfers_and_evaluates(hf_bundle, tmp_path, capsys):
    code, _, err = run(capsys, "transfer", hf_bundle, "--vocab-size", 12, "--out", tmp_path / "out")
    assert code == 0, err
    record = json.loads((tmp_path / "out" / "transfer.json").read_text())
    assert record["bundle_digest"] == load_bundle(hf_bundle).digest
    bundle = load_bundle(hf_bundle)
    model = bundle.load_model()
    assert torch.equal(model.transformer.wte.weight, bundle.load_state_dict()["transformer.wte.weight"])
    assert bundle.tokenizer().vocab_size > 0


def test_an_impossible_vocabulary_is_refused_before_the_target_is_built(hf_bundle, tmp_path, capsys):
    import time

    t0 = time.perf_counter()
    code, _, err = run(capsys, "transfer", hf_bundle, "--dry-run", "--vocab-size", 10**12)
    assert code == 2 and "--vocab-size" in err and "parameters" in one_sentence(err)
    assert time.perf_counter() - t0 < 60  # refused from the config, not after allocating terabytes
