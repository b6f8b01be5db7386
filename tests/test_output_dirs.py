"""Writers never delete or overwrite what a user already had (transfer, fit, generate, compare, replicate, evaluate)."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from pptrain_core import bundle as bundle_mod
from pptrain_core.bundle import atomic_directory
from pptrain_core.errors import UserError
from pptrain_core.outputs import check_output_dir
from pptrain_core.testing.cli import one_sentence
from pptrain_core.testing.cli import run_cli as run


def users_folder(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "thesis.tex").write_text("years of work")
    return path


def untouched(path: Path) -> bool:
    return sorted(p.name for p in path.iterdir()) == ["thesis.tex"] and (path / "thesis.tex").read_text() == (
        "years of work"
    )


# --------------------------------------------------------------------------- the shared check


def test_check_output_dir_accepts_new_empty_and_own_and_refuses_the_rest(tmp_path):
    kw = {"option": "--out", "markers": ["mark.json"], "kind": "a thing"}
    assert check_output_dir(tmp_path / "new", **kw) is False
    (tmp_path / "empty").mkdir()
    assert check_output_dir(tmp_path / "empty", **kw) is False
    (tmp_path / "own").mkdir()
    (tmp_path / "own" / "mark.json").write_text("{}")
    assert check_output_dir(tmp_path / "own", **kw) is True
    with pytest.raises(UserError, match="is not empty and is not a thing"):
        check_output_dir(users_folder(tmp_path / "mine"), **kw)
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="is a file"):
        check_output_dir(tmp_path / "file", **kw)
    os.symlink(tmp_path / "own", tmp_path / "link")
    with pytest.raises(UserError, match="symbolic link"):
        check_output_dir(tmp_path / "link", **kw)


# --------------------------------------------------------------------------- transfer


@pytest.fixture
def bundle(tmp_path, toy_registry):
    pytest.importorskip("pptrain_hf")
    from pptrain_hf import TorchModuleConfig
    from pptrain_hf.torch_module import TorchModuleAdapter

    adapter = TorchModuleAdapter(TorchModuleConfig(kwargs={"d_model": 8, "n_layers": 1, "n_heads": 2, "max_len": 16}))
    return _bundle(tmp_path, toy_registry, adapter)


@pytest.fixture
def hf_bundle(tmp_path, toy_registry):
    pytest.importorskip("pptrain_hf")
    from pptrain_hf import HFModelConfig
    from pptrain_hf.hf import HFCausalLMAdapter

    return _bundle(
        tmp_path, toy_registry, HFCausalLMAdapter(HFModelConfig("gpt2", {"n_layer": 1, "n_embd": 16, "n_head": 2}))
    )


def _bundle(tmp_path, toy_registry, adapter):
    import torch

    from pptrain_core.bundle import write_bundle
    from pptrain_core.tasks import resolve

    torch.set_num_threads(1)
    resolved = resolve("toy_copy:tiny", registry=toy_registry)
    vocab = resolved.build().vocab
    return write_bundle(
        tmp_path / "run" / "bundle",
        model=adapter.build(vocab.size, seed=0),
        adapter=adapter,
        adapter_name=adapter.name,
        adapter_config=adapter.config,
        resolved_task=resolved,
        vocab=vocab,
        seeds={"data_seed": 0},
        training={},
        versions={},
    )


def test_transfer_never_replaces_a_users_directory(bundle, tmp_path, capsys):
    mine = users_folder(tmp_path / "mine")
    for extra in ((), ("--overwrite",)):
        code, _, err = run(capsys, "transfer", bundle, "--vocab-size", 12, "--out", mine, *extra)
        assert code == 2 and "mine" in one_sentence(err)
        assert untouched(mine)


def test_transfer_overwrites_only_its_own_earlier_output(bundle, tmp_path, capsys):
    out = tmp_path / "init"
    code, _, err = run(capsys, "transfer", bundle, "--vocab-size", 12, "--out", out)
    assert code == 0, err
    record = json.loads((out / "transfer.json").read_text())
    assert record["written_by"] == "pptrain transfer"
    assert set(record["files"]) == {p.name for p in out.iterdir()}
    code, _, err = run(capsys, "transfer", bundle, "--vocab-size", 12, "--out", out)
    assert code == 2 and "--overwrite" in one_sentence(err)
    code, _, err = run(capsys, "transfer", bundle, "--vocab-size", 12, "--out", out, "--seed", 1, "--overwrite")
    assert code == 0, err
    assert json.loads((out / "transfer.json").read_text())["seed"] == 1
    (out / "finetuned-notes.txt").write_text("mine now")
    code, _, err = run(capsys, "transfer", bundle, "--vocab-size", 12, "--out", out, "--overwrite")
    assert code == 2 and "did not write" in one_sentence(err)
    assert (out / "finetuned-notes.txt").read_text() == "mine now"


def test_transfer_out_may_be_empty_but_not_a_file_or_the_bundle(bundle, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code, _, err = run(capsys, "transfer", bundle, "--vocab-size", 12, "--out", tmp_path / "empty")
    assert code == 0, err
    (tmp_path / "afile").write_text("x")
    code, _, err = run(capsys, "transfer", bundle, "--vocab-size", 12, "--out", tmp_path / "afile")
    assert code == 2 and "is a file" in one_sentence(err)
    code, _, err = run(capsys, "transfer", bundle, "--vocab-size", 12, "--out", bundle / "inside")
    assert code == 2 and "inside the bundle" in one_sentence(err)
    code, _, err = run(capsys, "transfer", bundle, "--vocab-size", 12, "--out", bundle.parent, "--overwrite")
    assert code == 2 and "contains the bundle" in one_sentence(err)


# --------------------------------------------------------------------------- bundles in place


def test_replacing_a_bundle_never_leaves_it_missing(tmp_path, monkeypatch):
    final = tmp_path / "bundle"
    atomic_directory(final, lambda d: (d / "v").write_text("1"))
    real_replace = os.replace
    seen_missing = []

    def watching_replace(src, dst):
        real_replace(src, dst)
        if not final.exists():
            seen_missing.append((str(src), str(dst)))

    monkeypatch.setattr(bundle_mod.os, "replace", watching_replace)
    stop = threading.Event()

    def poll():
        while not stop.is_set():
            if not final.exists():
                seen_missing.append("poll")

    watcher = threading.Thread(target=poll)
    watcher.start()
    try:
        for i in range(30):
            atomic_directory(final, lambda d, i=i: (d / "v").write_text(str(i)))
    finally:
        stop.set()
        watcher.join()
    assert not seen_missing
    assert (final / "v").read_text() == "29"
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]  # no .bundle.tmp-* left behind


def test_write_bundle_refuses_to_replace_a_folder_that_is_not_a_bundle(bundle, tmp_path, toy_registry):
    from pptrain_core.bundle import write_bundle

    mine = users_folder(tmp_path / "elsewhere" / "bundle")
    with pytest.raises(UserError, match="not a pptrain bundle"):
        write_bundle(mine, model=None, adapter=None, adapter_name="x", adapter_config=None, resolved_task=None,
                     vocab=None, seeds={}, training={}, versions={})  # fmt: skip
    assert untouched(mine)


# --------------------------------------------------------------------------- fit, generate


def test_fit_refuses_a_users_folder_before_any_work(toy_registry, tmp_path, capsys):
    pytest.importorskip("pptrain_hf")
    mine = users_folder(tmp_path / "mine")
    job = tmp_path / "job.yaml"
    job.write_text(
        "task: {name: toy_copy, preset: tiny}\n"
        "model: {adapter: torch_module, params: {kwargs: {d_model: 8, n_layers: 1, n_heads: 2, max_len: 16}}}\n"
        f"run: {{output_dir: {mine}, max_steps: 1}}\n"
    )
    code, _, err = run(capsys, "fit", job)
    assert code == 2 and "run.output_dir" in one_sentence(err) and "mine" in err
    assert untouched(mine)


def test_generate_overwrite_replaces_only_pptrain_shards(toy_registry, tmp_path, capsys):
    out = tmp_path / "shards"
    out.mkdir()
    (out / "train-00000-of-00001.json").write_text("my own notes, not a manifest")
    args = ("generate", "toy_copy:tiny", "--count", 4, "--out", out)
    code, _, err = run(capsys, *args, "--overwrite")
    assert code == 2 and "not a pptrain shard manifest" in one_sentence(err)
    assert (out / "train-00000-of-00001.json").read_text() == "my own notes, not a manifest"
    (out / "train-00000-of-00001.json").unlink()
    (out / "train-00000-of-00001.json").mkdir()
    code, _, err = run(capsys, *args, "--overwrite")
    assert code == 2 and "not a regular file" in one_sentence(err)
    (out / "train-00000-of-00001.json").rmdir()
    assert run(capsys, *args)[0] == 0
    assert run(capsys, *args, "--overwrite")[0] == 0  # its own shard: replaced


# --------------------------------------------------------------------------- analytics commands


def test_compare_and_replicate_refuse_a_users_folder(toy_registry, tmp_path, capsys):
    pytest.importorskip("pptrain_analytics")
    mine = users_folder(tmp_path / "mine")
    study = tmp_path / "study.yaml"
    study.write_text(f"output_dir: {mine}\n")
    code, _, err = run(capsys, "compare", study)
    assert code == 2 and "compare.json" in one_sentence(err)
    other = users_folder(tmp_path / "other")
    code, _, err = run(capsys, "compare", study, "--set", f"output_dir={other}")
    assert code == 2 and "other" in one_sentence(err)
    code, _, err = run(capsys, "replicate", "--test", "--output-dir", mine)
    assert code == 2 and "compare.json" in one_sentence(err)
    assert untouched(mine) and untouched(other)


def test_evaluate_out_never_overwrites_a_users_file(hf_bundle, tmp_path, capsys):
    bundle = hf_bundle
    pytest.importorskip("pptrain_analytics")
    mine = tmp_path / "notes.json"
    mine.write_text('{"mine": true}')
    code, _, err = run(capsys, "evaluate", bundle, "--metric", "effective_rank", "--out", mine)
    assert code == 2 and "notes.json" in one_sentence(err)
    assert mine.read_text() == '{"mine": true}'
    out = tmp_path / "results.json"
    for _ in range(2):  # the second run replaces its own file
        code, _, err = run(capsys, "evaluate", bundle, "--metric", "effective_rank", "--out", out)
        assert code == 0, err
