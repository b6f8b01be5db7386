"""`pptrain generate`'s writer and reader: token shards, masks, offsets and the manifest."""

from __future__ import annotations

import hashlib
import json
import tracemalloc

import attrs
import numpy as np
import pytest

from pptrain_core import shards
from pptrain_core.data import Example, NumberNames, Task, TokenizerSpec, example_at
from pptrain_core.errors import UserError
from pptrain_core.shards import parse_shard, read_shards, shard_range, token_dtype, write_shards
from pptrain_core.specs import TaskSpec
from pptrain_core.tasks import ResolvedTask, resolve

# --------------------------------------------------------------------------- fixtures


@attrs.frozen
class WideConfig:
    length: int = 6


class WideVocabTask(Task):
    """Ids up to 69,999 (uint32 on disk), variable lengths, generated in blocks of 4."""

    block_size = 4

    def __init__(self, config: WideConfig):
        self.config = config
        self.vocab = TokenizerSpec(size=70000, names=NumberNames("t"), eos_id=69999)

    def generate_block(self, rng, *, seed, split, block):
        out = []
        for _ in range(self.block_size):
            n = int(rng.integers(1, self.config.length + 1))
            tokens = np.append(rng.integers(60000, 69999, size=n), self.vocab.eos_id)
            mask = np.ones(n + 1, dtype=np.int8)
            mask[0] = 0
            out.append(Example(tokens, mask))
        return out


WIDE_SPEC = TaskSpec(name="wide_vocab", summary="ids above 65535", config_cls=WideConfig, factory=WideVocabTask)


@attrs.frozen
class FastConfig:
    length: int = 32


class FastBlockTask(Task):
    """Cheap vectorised blocks, so a 20,000-example write takes a fraction of a second."""

    block_size = 50

    def __init__(self, config: FastConfig):
        self.config = config
        self.vocab = TokenizerSpec(size=50, names=NumberNames())

    def generate_block(self, rng, *, seed, split, block):
        tokens = rng.integers(0, 50, size=(self.block_size, self.config.length))
        mask = np.ones(self.config.length, dtype=np.int8)
        mask[0] = 0
        return [Example(row, mask) for row in tokens]


@pytest.fixture
def copy_task(toy_registry):
    return resolve("toy_copy:tiny", registry=toy_registry)


@pytest.fixture
def wide_task():
    return ResolvedTask(spec=WIDE_SPEC, preset=None, config=WideConfig())


def _write(resolved, out, **kw):
    kw.setdefault("split", "train")
    kw.setdefault("count", 25)
    return write_shards(resolved, out_dir=out, progress=False, **kw)


def _expected(resolved, seed, split, indices):
    task = resolved.build()
    return [example_at(task, seed, split, i) for i in indices]


# --------------------------------------------------------------------------- round trip


def test_written_examples_equal_example_at_through_reader_and_raw_numpy(copy_task, tmp_path):
    manifest_path = _write(copy_task, tmp_path, count=37, seed=3, split="eval")
    assert manifest_path == tmp_path / "eval-00000-of-00001.json"
    expected = _expected(copy_task, 3, "eval", range(37))

    reader = read_shards(manifest_path)
    assert len(reader) == 37 and reader.indices == range(37)
    for i, ex in enumerate(expected):
        tokens, mask = reader[i]
        assert np.array_equal(tokens, ex.tokens) and np.array_equal(mask, ex.loss_mask)
    assert [t.tolist() for t, _ in reader] == [ex.tokens.tolist() for ex in expected]

    stem = tmp_path / "eval-00000-of-00001"
    raw_tokens = np.fromfile(f"{stem}.tokens.bin", dtype="<u2")
    raw_mask = np.fromfile(f"{stem}.mask.bin", dtype=np.uint8)
    offsets = np.fromfile(f"{stem}.offsets.bin", dtype="<u8")
    assert np.array_equal(raw_tokens, np.concatenate([ex.tokens for ex in expected]))
    assert np.array_equal(raw_mask, np.concatenate([ex.loss_mask for ex in expected]))
    assert offsets.tolist() == [0, *np.cumsum([len(ex) for ex in expected]).tolist()]

    m = json.loads(manifest_path.read_text())
    assert m["format"] == "pptrain-shards" and m["format_version"] == 1
    assert m["versions"]["task_plugin"]["name"] == "toy"
    assert m["task_ref"] == "toy_copy:tiny" and m["task"]["config"] == {"length": 3, "symbols": 10}
    assert (m["seed"], m["split"], m["examples"], m["shard"]) == (
        3,
        "eval",
        {"start": 0, "stop": 37},
        {"index": 0, "count": 1},
    )
    assert m["counts"] == {
        "examples": 37,
        "tokens": int(raw_tokens.size),
        "loss_tokens": int(raw_mask.sum()),
    }
    assert m["dtypes"] == {"tokens": "uint16", "mask": "uint8", "offsets": "uint64", "byte_order": "little"}
    assert m["layout"]["eos_inserted"] is False
    assert m["vocab"]["size"] == 13 and m["vocab"]["names"][-1] == "<eos>"
    assert m["vocab"]["special_ids"] == {"pad": 10, "eos": 12, "sep": 11}
    for kind in ("tokens", "mask", "offsets"):
        data = (tmp_path / m["files"][kind]["path"]).read_bytes()
        assert m["files"][kind]["sha256"] == hashlib.sha256(data).hexdigest()
        assert m["files"][kind]["bytes"] == len(data)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_shards_partition_the_range_and_concatenate_to_the_single_shard_output(copy_task, tmp_path):
    whole = tmp_path / "whole"
    _write(copy_task, whole, count=10, seed=1)
    parts = tmp_path / "parts"
    for i in range(4):
        _write(copy_task, parts, count=10, seed=1, shard_index=i, num_shards=4)

    sizes = [len(read_shards(parts / f"train-{i:05d}-of-00004.json")) for i in range(4)]
    assert sizes == [3, 3, 2, 2]  # the first count % n shards get one extra
    for kind in ("tokens", "mask"):
        joined = b"".join((parts / f"train-{i:05d}-of-00004.{kind}.bin").read_bytes() for i in range(4))
        assert joined == (whole / f"train-00000-of-00001.{kind}.bin").read_bytes()

    combined = read_shards(parts)
    assert combined.indices == range(10)
    single = read_shards(whole)
    for i, ex in enumerate(_expected(copy_task, 1, "train", range(10))):
        assert np.array_equal(combined[i].tokens, ex.tokens)
        assert np.array_equal(combined[i].loss_mask, single[i].loss_mask)
    assert [t.tolist() for t, _ in combined] == [t.tolist() for t, _ in single]


@pytest.mark.parametrize("count", [1, 2, 7, 64, 1001])
@pytest.mark.parametrize("n", [1, 3, 8])
def test_shard_ranges_cover_every_index_exactly_once(count, n):
    ranges = [shard_range(count, i, n, start=5) for i in range(n)]
    assert [k for r in ranges for k in r] == list(range(5, 5 + count))
    assert max(map(len, ranges)) - min(map(len, ranges)) <= 1


def test_start_offsets_the_indices_and_empty_shards_are_valid(copy_task, tmp_path):
    for i in range(3):
        _write(copy_task, tmp_path, count=2, start=100, shard_index=i, num_shards=3)
    last = read_shards(tmp_path / "train-00002-of-00003.json")
    assert len(last) == 0 and list(last) == []
    combined = read_shards(tmp_path, split="train")
    assert combined.indices == range(100, 102)
    assert np.array_equal(combined[101].tokens, _expected(copy_task, 0, "train", [101])[0].tokens)
    with pytest.raises(IndexError):
        combined[0]


def test_vocabulary_size_picks_the_token_dtype(wide_task, tmp_path):
    assert token_dtype(65536) == np.dtype("<u2") and token_dtype(65537) == np.dtype("<u4")
    manifest_path = _write(wide_task, tmp_path, count=11)
    m = json.loads(manifest_path.read_text())
    assert m["dtypes"]["tokens"] == "uint32"
    assert m["vocab"]["names"] is None and m["vocab"]["first_names"][:2] == ["t0", "t1"]
    expected = _expected(wide_task, 0, "train", range(11))
    raw = np.fromfile(tmp_path / "train-00000-of-00001.tokens.bin", dtype="<u4")
    assert np.array_equal(raw, np.concatenate([ex.tokens for ex in expected]))
    assert raw.max() > 65535
    reader = read_shards(manifest_path)
    assert all(np.array_equal(reader[i].tokens, ex.tokens) for i, ex in enumerate(expected))


# --------------------------------------------------------------------------- validation on read


def test_corruption_truncation_missing_files_and_unknown_versions_are_refused(copy_task, tmp_path):
    manifest_path = _write(copy_task, tmp_path, count=30)
    tokens = tmp_path / "train-00000-of-00001.tokens.bin"
    data = bytearray(tokens.read_bytes())
    data[7] ^= 0x01
    tokens.write_bytes(bytes(data))
    with pytest.raises(UserError, match="does not match the sha256"):
        read_shards(manifest_path)
    read_shards(manifest_path, verify=False)  # sizes still fine; hashing skipped

    data[7] ^= 0x01
    tokens.write_bytes(bytes(data))
    read_shards(manifest_path)  # restored

    mask = tmp_path / "train-00000-of-00001.mask.bin"
    mask.write_bytes(mask.read_bytes()[:-3])
    with pytest.raises(UserError, match="truncated"):
        read_shards(manifest_path, verify=False)
    mask.unlink()
    with pytest.raises(UserError, match="is missing"):
        read_shards(manifest_path)

    m = json.loads(manifest_path.read_text())
    m["format_version"] = 99
    manifest_path.write_text(json.dumps(m))
    with pytest.raises(UserError, match="format version 99"):
        read_shards(manifest_path)
    manifest_path.write_text("{not json")
    with pytest.raises(UserError, match="not valid JSON"):
        read_shards(manifest_path)
    with pytest.raises(UserError, match="does not exist"):
        read_shards(tmp_path / "nope.json")


def test_a_missing_shard_of_a_set_is_named(copy_task, tmp_path):
    for i in (0, 2):
        _write(copy_task, tmp_path, count=9, shard_index=i, num_shards=3)
    with pytest.raises(UserError, match="shard 1/3 is missing"):
        read_shards(tmp_path)
    _write(copy_task, tmp_path, count=9, split="eval")
    with pytest.raises(UserError, match="2 splits"):
        read_shards(tmp_path)


# --------------------------------------------------------------------------- safety on write


def test_existing_shards_are_not_overwritten_without_the_flag(copy_task, tmp_path):
    manifest_path = _write(copy_task, tmp_path, count=5, seed=0)
    with pytest.raises(UserError, match="--overwrite"):
        _write(copy_task, tmp_path, count=5, seed=9)
    assert json.loads(manifest_path.read_text())["seed"] == 0
    _write(copy_task, tmp_path, count=5, seed=9, overwrite=True)
    reader = read_shards(manifest_path)
    assert reader.seed == 9
    assert np.array_equal(reader[4].tokens, _expected(copy_task, 9, "train", [4])[0].tokens)


def test_a_crash_half_way_leaves_no_manifest_and_no_files(copy_task, tmp_path, monkeypatch):
    calls = {"n": 0}
    real = shards.example_at

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 50:
            raise RuntimeError("boom")
        return real(*args, **kwargs)

    monkeypatch.setattr(shards, "example_at", flaky)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="boom"):
        _write(copy_task, out, count=100, chunk_tokens=16)  # several flushes before the crash
    assert list(out.iterdir()) == []

    # A crash while replacing an existing shard leaves the old one intact and valid.
    monkeypatch.setattr(shards, "example_at", real)
    manifest_path = _write(copy_task, out, count=100, seed=1)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    calls["n"] = 0
    monkeypatch.setattr(shards, "example_at", flaky)
    with pytest.raises(RuntimeError, match="boom"):
        _write(copy_task, out, count=100, seed=2, overwrite=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert read_shards(manifest_path).seed == 1


def test_a_task_emitting_ids_outside_its_vocabulary_is_a_bug_and_writes_nothing(tmp_path):
    class Broken(WideVocabTask):
        def generate_block(self, rng, *, seed, split, block):
            out = super().generate_block(rng, seed=seed, split=split, block=block)
            if block == 1:
                out[2] = Example([1, 70000], [0, 1])
            return out

    spec = attrs.evolve(WIDE_SPEC, factory=Broken)
    with pytest.raises(RuntimeError, match="example 6 has token id 70000"):
        _write(ResolvedTask(spec=spec, preset=None, config=WideConfig()), tmp_path, count=20)
    assert list(tmp_path.iterdir()) == []


def test_memory_is_bounded_by_the_write_buffer(tmp_path, monkeypatch):
    writers = []

    class Recording(shards._ShardWriter):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            writers.append(self)

    monkeypatch.setattr(shards, "_ShardWriter", Recording)
    spec = attrs.evolve(WIDE_SPEC, name="fast", config_cls=FastConfig, factory=FastBlockTask)
    fast = ResolvedTask(spec=spec, preset=None, config=FastConfig())
    _write(fast, tmp_path / "warm-up", count=10)  # lazy imports are not the writer's memory
    writers.clear()
    tracemalloc.start()
    try:
        manifest_path = _write(fast, tmp_path, count=20000, chunk_tokens=1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    (writer,) = writers
    assert writer.examples == 20000 and writer.total_tokens == 20000 * 32
    assert writer.peak_buffered_tokens <= 1024
    written = sum(p.stat().st_size for p in tmp_path.glob("*.bin"))
    assert written > 1_000_000
    assert peak < written / 4, (peak, written)
    assert len(read_shards(manifest_path, verify=False)) == 20000


def test_progress_bar_goes_to_stderr(copy_task, tmp_path, capsys):
    write_shards(copy_task, split="train", count=3, out_dir=tmp_path, progress=True)
    assert capsys.readouterr().out == ""


# --------------------------------------------------------------------------- option checks


def test_parse_shard():
    assert parse_shard("2/8") == (2, 8)
    assert parse_shard(" 0 / 1 ") == (0, 1)
    for bad in ("2", "a/b", "2/", "-1/4", "1/2/3"):
        with pytest.raises(UserError, match=r"--shard must look like i/n, e.g. 0/4"):
            parse_shard(bad)
    with pytest.raises(UserError, match="out of range"):
        parse_shard("4/4")
    with pytest.raises(UserError, match="at least one shard"):
        parse_shard("0/0")


@pytest.mark.parametrize(
    ("kwargs", "option"),
    [
        ({"count": 0}, "--count"),
        ({"count": 2.5}, "--count"),
        ({"shard_index": 3, "num_shards": 3}, "--shard"),
        ({"shard_index": -1, "num_shards": 3}, "--shard"),
        ({"split": ""}, "--split"),
        ({"split": "../x"}, "--split"),
        ({"seed": -1}, "--seed"),
        ({"start": -5}, "--start"),
    ],
)
def test_bad_options_name_the_option_and_write_nothing(copy_task, tmp_path, kwargs, option):
    out = tmp_path / "out"
    with pytest.raises(UserError, match=option):
        _write(copy_task, out, **kwargs)
    assert not out.exists()


def test_out_must_be_a_directory(copy_task, tmp_path):
    file = tmp_path / "f"
    file.write_text("x")
    with pytest.raises(UserError, match="--out"):
        _write(copy_task, file)
