"""`pptrain --version`, `pptrain sample` reading whole blocks once, and tests kept off the user's cache."""

from __future__ import annotations

import json
import os
from pathlib import Path

import attrs

from pptrain_core.testing.cli import run_cli as run


def test_version_names_the_core_and_every_plugin(toy_registry, capsys):
    from pptrain_core import __version__

    code, out, err = run(capsys, "--version")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(f"pptrain-core {__version__} (Python ")
    assert "plugins:" in lines and "  toy 0.0.0" in lines


@attrs.frozen
class BlockConfig:
    width: int = 3


class BlockTask:
    """Four examples per block; counts how many blocks were generated."""

    block_size = 4
    blocks_made: list[int] = []

    def __init__(self, config: BlockConfig):
        from pptrain_core.data import TokenizerSpec

        self.config = config
        self.vocab = TokenizerSpec(size=100, names=[str(i) for i in range(100)])

    def generate_block(self, rng, *, seed, split, block):
        from pptrain_core.data import Example

        BlockTask.blocks_made.append(block)
        return [Example([block, i], [0, 1]) for i in range(self.block_size)]

    def render(self, example):
        return " ".join(str(int(t)) for t in example.tokens)


def test_sample_generates_each_block_once(pptrain_register, capsys):
    from pptrain_core import TaskSpec, hookimpl

    spec = TaskSpec(name="blocky", summary="s", config_cls=BlockConfig, factory=BlockTask)

    class P:
        @hookimpl
        def register_tasks(self, register):
            register(spec)

    pptrain_register(P(), name="blocky")
    for extra in ((), ("--json",)):
        BlockTask.blocks_made.clear()
        code, out, err = run(capsys, "sample", "blocky", "-n", "9", "--start", "2", *extra)
        assert code == 0, err
        assert BlockTask.blocks_made == [0, 1, 2]  # indices 2..10; today one block per index (9)
    tokens = [json.loads(line)["tokens"] for line in out.splitlines()]
    assert tokens == [[i // 4, i % 4] for i in range(2, 11)]  # still example i of the split


def test_tests_use_a_temporary_pptrain_cache():
    cache = Path(os.environ["PPTRAIN_CACHE_DIR"])
    assert cache.is_dir() and cache.name.startswith("pptrain-test-cache-")
    assert cache != Path.home() / ".cache" / "pptrain"
