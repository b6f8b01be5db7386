"""Corpora, the split by document, the BPE cache, the text task and the shuffled control."""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from pathlib import Path

import attrs
import numpy as np
import pytest

from pptrain_analytics import bpe
from pptrain_analytics.corpus import Document, iter_documents, load_split, split_documents
from pptrain_analytics.corpus_specs import SHUFFLED_TASK, TEXT_TASK, CorpusConfig, TextTaskConfig, TokenizerConfig
from pptrain_analytics.text_task import ShuffledTask, build_text_task
from pptrain_core.config import structure
from pptrain_core.data import example_at
from pptrain_core.errors import ConfigError, UserError
from pptrain_core.testing.checks import TASK_CHECKS, TASK_METHOD_CHECKS, TaskCheck, check_imports_light

WORDS = "the of and to in is was for on that with as by at from his her which or were are this be an".split()


def _prose(rng: np.random.Generator, n_words: int, marker: str = "") -> str:
    words = [WORDS[i] for i in rng.integers(0, len(WORDS), n_words)]
    if marker:
        words[:: max(1, n_words // 8)] = [marker] * len(words[:: max(1, n_words // 8)])
    return " ".join(words) + ".\n"


def _hash_fraction(doc_id: str) -> float:
    # the documented rule, written out again: first 8 bytes of sha256(salt + id) / 2**64
    return int(hashlib.sha256(b"pptrain-split-v1\x00" + doc_id.encode()).hexdigest()[:16], 16) / 2**64


# --------------------------------------------------------------------------- the split


def test_split_is_by_document_disjoint_and_follows_the_documented_hash():
    docs = [Document(f"doc{i}", f"text {i}") for i in range(300)]
    split = split_documents(docs, 0.2)
    train, val = {d.id for d in split.train}, {d.id for d in split.eval}
    assert not train & val and train | val == {d.id for d in docs}
    assert val == {d.id for d in docs if _hash_fraction(d.id) < 0.2}
    assert 30 < len(val) < 90  # about 60 of 300
    # a document's side depends on its id only: a subset of the corpus splits the same way
    subset = split_documents(docs[::3], 0.2)
    assert {d.id for d in subset.eval} == val & {d.id for d in docs[::3]}
    # order inside each split is the corpus order
    assert [d.id for d in split.train] == [d.id for d in docs if d.id in train]


def test_split_never_leaves_a_side_empty_and_rejects_duplicate_ids():
    docs = [Document("a", "x"), Document("b", "y")]
    tiny = split_documents(docs, 1e-9)
    assert len(tiny.train) == 1 and len(tiny.eval) == 1
    almost_all = split_documents(docs, 1 - 1e-9)
    assert len(almost_all.train) == 1 and len(almost_all.eval) == 1
    with pytest.raises(UserError, match="two documents have the id 'a'"):
        split_documents([Document("a", "x"), Document("a", "y"), Document("c", "z")], 0.5)


# --------------------------------------------------------------------------- sources


def test_embedded_python_stdlib_is_the_standard_library_without_tests():
    cfg = CorpusConfig(kind="embedded", name="python_stdlib")
    docs = list(iter_documents(cfg))
    ids = [d.id for d in docs]
    assert len(docs) > 300 and ids == sorted(ids)
    assert "os.py" in ids and "json/decoder.py" in ids
    assert not [i for i in ids if i.startswith(("test/", "idlelib/idle_test/")) or "/tests/" in i]
    assert not [i for i in ids if "site-packages" in i]
    assert sum(len(d.text) for d in docs) > 5_000_000
    os_py = next(d for d in docs if d.id == "os.py")
    assert "def makedirs(" in os_py.text


def test_embedded_pydoc_topics_is_english_prose_sorted_by_key():
    from pydoc_data.topics import topics

    docs = list(iter_documents(CorpusConfig(kind="embedded", name="pydoc_topics")))
    assert [d.id for d in docs] == sorted(k for k, v in topics.items() if v.strip())
    assert len(docs) >= 50 and sum(len(d.text) for d in docs) > 200_000
    assert all(" the " in d.text for d in docs if len(d.text) > 2000)


def test_text_files_directories_and_blank_line_blocks(tmp_path):
    root = tmp_path / "texts"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("first para\nline two\n\n\nsecond para\n", encoding="utf-8")
    (root / "sub" / "b.txt").write_text("only one\n", encoding="utf-8")
    (root / ".hidden.txt").write_text("skip me\n", encoding="utf-8")
    single = tmp_path / "c.md"
    single.write_text("a single file\n", encoding="utf-8")
    per_file = list(iter_documents(CorpusConfig(kind="files", paths=(str(root), str(single)))))
    assert [d.id for d in per_file] == ["texts/a.txt", "texts/sub/b.txt", "c.md"]
    assert per_file[0].text.startswith("first para") and "second para" in per_file[0].text
    blocks = list(iter_documents(CorpusConfig(kind="files", paths=(str(root),), split_on="blank_lines")))
    assert [(d.id, d.text) for d in blocks] == [
        ("texts/a.txt#0", "first para\nline two"),
        ("texts/a.txt#1", "second para"),
        ("texts/sub/b.txt#0", "only one"),
    ]
    globbed = list(iter_documents(CorpusConfig(kind="files", paths=(str(root),), glob="sub/*.txt")))
    assert [d.id for d in globbed] == ["texts/sub/b.txt"]


def test_jsonl_files_with_text_and_id_fields(tmp_path):
    path = tmp_path / "docs.jsonl"
    rows = [{"body": "hello world", "key": "k1"}, {"body": "second document", "key": "k2"}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    docs = list(iter_documents(CorpusConfig(kind="files", paths=(str(path),), format="jsonl", text_field="body")))
    assert [(d.id, d.text) for d in docs] == [("docs.jsonl:1", "hello world"), ("docs.jsonl:2", "second document")]
    keyed = CorpusConfig(kind="files", paths=(str(path),), format="jsonl", text_field="body", id_field="key")
    assert [d.id for d in iter_documents(keyed)] == ["k1", "k2"]
    with pytest.raises(UserError, match="has no field 'text'"):
        list(iter_documents(CorpusConfig(kind="files", paths=(str(path),), format="jsonl")))
    path.write_text('{"body": "ok"}\n{broken\n', encoding="utf-8")
    with pytest.raises(UserError, match="line 2 is not valid JSON"):
        list(iter_documents(CorpusConfig(kind="files", paths=(str(path),), format="jsonl", text_field="body")))


def test_hf_datasets_from_local_json_files_and_from_disk(tmp_path):
    datasets = pytest.importorskip("datasets")
    path = tmp_path / "rows.jsonl"
    path.write_text('{"text": "alpha beta"}\n{"text": "gamma delta"}\n', encoding="utf-8")
    cfg = CorpusConfig(kind="hf_dataset", path="json", data_files=(str(path),))
    assert [(d.id, d.text) for d in iter_documents(cfg)] == [("0", "alpha beta"), ("1", "gamma delta")]
    disk = tmp_path / "saved"
    datasets.Dataset.from_dict({"content": ["one two", "three four"], "uid": ["u1", "u2"]}).save_to_disk(str(disk))
    saved = CorpusConfig(kind="hf_dataset", path=str(disk), text_field="content", id_field="uid")
    assert [(d.id, d.text) for d in iter_documents(saved)] == [("u1", "one two"), ("u2", "three four")]
    with pytest.raises(ConfigError, match=r"\$\.corpus\.text_field: the dataset has no column 'text'"):
        list(iter_documents(CorpusConfig(kind="hf_dataset", path=str(disk))))


def test_corpus_config_errors_name_the_field(tmp_path):
    with pytest.raises(ConfigError, match=r"^\$\.name: 'pydoc_topic' is not one of .*\(did you mean 'pydoc_topics'"):
        structure({"kind": "embedded", "name": "pydoc_topic"}, CorpusConfig)
    with pytest.raises(ConfigError, match=r"^\$\.paths: does not apply to a corpus of kind 'embedded'"):
        structure({"kind": "embedded", "name": "pydoc_topics", "paths": ["x"]}, CorpusConfig)
    with pytest.raises(ConfigError, match=r"^\$\.paths: is required"):
        structure({"kind": "files"}, CorpusConfig)
    with pytest.raises(ConfigError, match=r"\$\.corpus\.paths\[0\]: .* does not exist"):
        list(iter_documents(CorpusConfig(kind="files", paths=(str(tmp_path / "missing"),))))


# --------------------------------------------------------------------------- the text task


def _two_sided_corpus(tmp_path: Path) -> tuple[Path, set[str]]:
    """Text files whose validation documents all carry the word 'zebracorn' (and no training one does)."""
    rng = np.random.default_rng(0)
    root = tmp_path / "corpus"
    root.mkdir()
    names = [f"d{i:03d}.txt" for i in range(40)]
    val = {n for n in names if _hash_fraction(f"corpus/{n}") < 0.25}
    assert 3 <= len(val) <= 20
    for name in names:
        marker = "zebracorn" if name in val else ""
        (root / name).write_text(_prose(rng, 300, marker), encoding="utf-8")
    return root, val


def _text_config(root: Path, cache: Path, **extra) -> TextTaskConfig:
    data = {
        "corpus": {"kind": "files", "paths": [str(root)]},
        "tokenizer": {"vocab_size": 300},
        "seq_len": 16,
        "val_fraction": 0.25,
        "cache_dir": str(cache),
        **extra,
    }
    return structure(data, TextTaskConfig)


def test_text_task_streams_join_documents_with_eod_and_windows_stay_in_their_split(tmp_path):
    root, val_names = _two_sided_corpus(tmp_path)
    task = build_text_task(_text_config(root, tmp_path / "cache"))
    tok = task.tokenizer
    split = load_split(task.config.corpus, 0.25)
    assert {d.id for d in split.eval} == {f"corpus/{n}" for n in val_names}
    for side in ("train", "eval"):
        expected = []
        for doc in split.documents(side):
            expected += tok.backend.encode(doc.text, add_special_tokens=False).ids + [tok.eod_id]
        assert task.tokens(side).tolist() == expected
    assert task.vocab.eos_id == tok.eod_id == 0 and task.vocab.size == tok.vocab_size
    # windows: seq_len tokens, loss on all but the first, consecutive windows share one token
    n = task.n_windows("train")
    assert n == (len(task.tokens("train")) - 16) // 15 + 1
    w0, w1 = task.window("train", 0), task.window("train", 1)
    assert len(w0) == 16 and w0[-1] == w1[0]
    # one epoch of training examples reads every window exactly once; no window shows validation text
    seen = []
    for i in range(n):
        ex = example_at(task, 3, "train", i)
        seen.append(ex.meta["window"])
        assert ex.loss_mask.tolist() == [0] + [1] * 15
        assert "zebracorn" not in tok.decode(ex.tokens.tolist())
    assert sorted(seen) == list(range(n)) and seen != sorted(seen)
    eval_stream = tok.decode(task.tokens("eval").tolist())
    assert eval_stream.count("zebracorn") >= 8 * len(val_names)
    assert sorted(example_at(task, 0, "eval", i).meta["window"] for i in range(task.n_windows("eval"))) == list(
        range(task.n_windows("eval"))
    )


def test_text_task_is_deterministic_and_eval_windows_ignore_the_seed(tmp_path):
    root, _ = _two_sided_corpus(tmp_path)
    cfg = _text_config(root, tmp_path / "cache")
    a, b = build_text_task(cfg), build_text_task(cfg)
    for i in (0, 7, 123):
        assert example_at(a, 5, "train", i) == example_at(b, 5, "train", i)
    order = [example_at(a, 0, "train", i).meta["window"] for i in range(20)]
    other = [example_at(a, 1, "train", i).meta["window"] for i in range(20)]
    assert order != other
    assert all(example_at(a, 0, "eval", i) == example_at(a, 9, "eval", i) for i in range(10))
    # window_offset shifts the stream: example i with offset k is example i + k without it
    shifted = build_text_task(_text_config(root, tmp_path / "cache", window_offset=5))
    assert example_at(shifted, 2, "train", 3) == example_at(a, 2, "train", 8)


def test_text_task_pickles_without_its_token_arrays(tmp_path):
    import pickle

    root, _ = _two_sided_corpus(tmp_path)
    task = build_text_task(_text_config(root, tmp_path / "cache"))
    example_at(task, 0, "train", 0)
    blob = pickle.dumps(task)
    assert len(blob) < 200_000
    again = pickle.loads(blob)
    assert example_at(again, 0, "train", 4) == example_at(task, 0, "train", 4)


# --------------------------------------------------------------------------- the tokenizer


def test_bpe_is_trained_on_training_documents_only(tmp_path):
    rng = np.random.default_rng(1)
    train = [Document(f"t{i}", _prose(rng, 200)) for i in range(20)]
    val = [Document(f"v{i}", _prose(rng, 200, "qqxvalonly")) for i in range(5)]
    cfg = TokenizerConfig(vocab_size=400)
    tok = bpe.bpe_tokenizer(train, cfg, tmp_path)
    assert not [t for t in tok.backend.get_vocab() if "qqx" in t]
    # the cache key moves with the training documents, not with anything else
    assert bpe.bpe_cache_key(train, cfg) != bpe.bpe_cache_key(train[:-1], cfg)
    assert bpe.bpe_cache_key(train, cfg) != bpe.bpe_cache_key(train, TokenizerConfig(vocab_size=512))
    docs = train + val
    split = split_documents(docs, 0.3)
    moved_val = split_documents(docs + [Document("zz-extra", "more")], 0.3)
    if "zz-extra" in {d.id for d in moved_val.eval}:
        assert bpe.bpe_cache_key(split.train, cfg) == bpe.bpe_cache_key(moved_val.train, cfg)
    # byte-level: text it never saw still round-trips exactly
    text = "Zebracorn ünïcode ✓ 42\n"
    assert tok.decode(tok.backend.encode(text, add_special_tokens=False).ids) == text
    # at most vocab_size: a 24-word corpus runs out of pairs worth merging before 400
    assert tok.eod_id == 0 and 256 < tok.vocab_size <= 400


def test_bpe_cache_is_reused_and_a_damaged_entry_is_retrained(tmp_path, monkeypatch):
    calls = []
    real = bpe.train_bpe

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(bpe, "train_bpe", counting)
    rng = np.random.default_rng(2)
    train = [Document(f"t{i}", _prose(rng, 100)) for i in range(10)]
    cfg = TokenizerConfig(vocab_size=300)
    first = bpe.bpe_tokenizer(train, cfg, tmp_path)
    second = bpe.bpe_tokenizer(train, cfg, tmp_path)
    assert len(calls) == 1 and second.info["cached"] is True and second.hash == first.hash
    assert (first.directory / "hf" / "tokenizer.json").is_file()  # loadable by transformers too
    # edit the cached tokenizer: the hash check notices and the tokenizer is trained again
    path = first.directory / "tokenizer.json"
    path.write_text(path.read_text(encoding="utf-8") + " ", encoding="utf-8")
    third = bpe.bpe_tokenizer(train, cfg, tmp_path)
    assert len(calls) == 2 and third.hash == first.hash and third.info["cached"] is False
    path.write_text("{not json", encoding="utf-8")
    fourth = bpe.bpe_tokenizer(train, cfg, tmp_path)
    assert len(calls) == 3 and fourth.hash == first.hash
    assert bpe.bpe_tokenizer(train, cfg, tmp_path).info["cached"] is True and len(calls) == 3


def test_pretrained_tokenizer_directory_is_loaded_locally(tmp_path):
    rng = np.random.default_rng(3)
    train = [Document(f"t{i}", _prose(rng, 100)) for i in range(10)]
    trained = bpe.bpe_tokenizer(train, TokenizerConfig(vocab_size=300), tmp_path / "cache")
    loaded = bpe.load_tokenizer(TokenizerConfig(kind="pretrained", path=str(trained.directory / "hf")), [], tmp_path)
    assert loaded.vocab_size == 300 and loaded.eod_id == 0
    ids = loaded.backend.encode("the of and", add_special_tokens=False).ids
    assert ids == trained.backend.encode("the of and", add_special_tokens=False).ids
    with pytest.raises(ConfigError, match=r"^\$\.tokenizer\.path: .* not a local tokenizer directory"):
        bpe.load_tokenizer(TokenizerConfig(kind="pretrained", path=str(tmp_path / "nope")), [], tmp_path)


# --------------------------------------------------------------------------- the shuffled control


@pytest.mark.parametrize(("ref", "params"), [("dyck", {}), ("artificial_language", {})])
def test_shuffled_control_keeps_the_tokens_and_the_mask_and_changes_the_order(ref, params):
    from pptrain_analytics.corpus_specs import ShuffledTaskConfig
    from pptrain_core.tasks import resolve

    inner_resolved = resolve(ref, params)
    inner = inner_resolved.build()
    shuffled = ShuffledTask(ShuffledTaskConfig(task=ref, params=params), inner_resolved.build(), inner_resolved.ref)
    assert shuffled.vocab == inner.vocab and shuffled.block_size == getattr(inner, "block_size", 1)
    changed = 0
    for i in range(12):
        original = example_at(inner, 4, "train", i)
        mixed = example_at(shuffled, 4, "train", i)
        assert Counter(mixed.tokens.tolist()) == Counter(original.tokens.tolist())
        assert mixed.loss_mask.tolist() == original.loss_mask.tolist()
        assert mixed.tokens[0] == original.tokens[0]
        changed += mixed.tokens.tolist() != original.tokens.tolist()
        assert example_at(shuffled, 4, "train", i) == mixed  # deterministic
    assert changed >= 10
    assert example_at(shuffled, 5, "train", 0).tokens.tolist() != example_at(shuffled, 4, "train", 0).tokens.tolist()


@pytest.mark.parametrize("seq_len", [48, 20])
def test_packed_or_cut_the_control_permutes_exactly_the_window_the_model_sees(seq_len):
    """Packed windows of 32-token Dyck examples cut at 48 (or 20) tokens: the control's window holds the
    synthetic arm's window's tokens, permuted, not tokens from the invisible rest of a cut example."""
    from pptrain_analytics.corpus_specs import ShuffledTaskConfig
    from pptrain_core.tasks import resolve
    from pptrain_core.training.collate import PackedDataset, WindowedDataset

    inner_resolved = resolve("dyck:smoke")
    inner = inner_resolved.build()
    shuffled = ShuffledTask(ShuffledTaskConfig(task="dyck:smoke"), inner_resolved.build(), inner_resolved.ref)
    plain = PackedDataset(inner, seed=3, split="train", length=10, seq_len=seq_len)
    mixed = PackedDataset(shuffled, seed=3, split="train", length=10, seq_len=seq_len)
    cut_plain = WindowedDataset(shuffled, seed=3, split="train", length=10, max_len=seq_len)
    changed = 0
    for j in range(10):
        a, b = plain[j], mixed[j]
        assert len(a) == len(b) == seq_len
        assert Counter(a.tokens.tolist()) == Counter(b.tokens.tolist())  # the same multiset ...
        assert b.loss_mask.tolist() == a.loss_mask.tolist() and b.tokens[0] == a.tokens[0]
        changed += a.tokens.tolist() != b.tokens.tolist()  # ... in another order
        # pad collation cut to seq_len: the visible prefix of example j, permuted
        visible = example_at(inner, 3, "train", j).tokens[:seq_len]
        assert Counter(cut_plain[j].tokens.tolist()) == Counter(visible.tolist())
    assert changed >= 8
    # the old behaviour (shuffle the whole example, then cut) does not keep the multiset
    whole = [example_at(shuffled, 3, "train", j).tokens[:20] for j in range(10)]
    assert any(
        Counter(w.tolist()) != Counter(example_at(inner, 3, "train", j).tokens[:20].tolist())
        for j, w in enumerate(whole)
    )


def test_token_arrays_are_cached_and_memory_mapped(tmp_path, monkeypatch):
    from pptrain_analytics import corpus

    root, _ = _two_sided_corpus(tmp_path)
    calls = []
    real = corpus.encode_documents

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(corpus, "encode_documents", counting)
    first = build_text_task(_text_config(root, tmp_path / "cache"))
    assert len(calls) == 2  # train and eval
    second = build_text_task(_text_config(root, tmp_path / "cache"))
    assert len(calls) == 2 and isinstance(second.tokens("train"), np.memmap)
    assert second.tokens("train").dtype == np.int32
    assert np.array_equal(first.tokens("train"), second.tokens("train"))
    # a changed document changes the key: encoded again, into another entry
    (root / "d000.txt").write_text("something else entirely\n", encoding="utf-8")
    build_text_task(_text_config(root, tmp_path / "cache"))
    assert len(calls) == 4


# --------------------------------------------------------------------------- conformance

# The pydoc_topics preset stands for the text task (python_stdlib is the same code on a
# 12 MB corpus, covered above). ``render`` is left out for text on purpose: it decodes
# to the original text, where the core check expects the tokens' display names
# (``Ġthe``); ``render_rich`` and the vocabulary keep the names.
_TEXT = attrs.evolve(TEXT_TASK, presets=(TEXT_TASK.preset("pydoc_topics"),))
_CONFORMANCE = (
    [
        TaskCheck(spec, spec.presets[0] if spec.presets else None, name, fn)
        for spec in (_TEXT, SHUFFLED_TASK)
        for name, fn in TASK_CHECKS.items()
        if not (spec is _TEXT and name == "render")
    ]
    + [
        TaskCheck(spec, spec.presets[0] if spec.presets else None, name, fn)
        for spec in (_TEXT, SHUFFLED_TASK)
        for name, fn in TASK_METHOD_CHECKS.items()
    ]
    + [TaskCheck(s, None, "imports_light", check_imports_light) for s in (_TEXT, SHUFFLED_TASK)]
)


@pytest.fixture(scope="module")
def _cache_env(tmp_path_factory):
    old = os.environ.get("PPTRAIN_CACHE_DIR")
    os.environ["PPTRAIN_CACHE_DIR"] = str(tmp_path_factory.mktemp("conformance-cache"))
    yield
    if old is None:
        os.environ.pop("PPTRAIN_CACHE_DIR", None)
    else:
        os.environ["PPTRAIN_CACHE_DIR"] = old


@pytest.mark.parametrize("check", _CONFORMANCE, ids=[c.id for c in _CONFORMANCE])
def test_conformance(check, _cache_env):
    check()
