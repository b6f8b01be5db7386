"""The conformance suite shipped to plugin authors passes a good task and catches bad ones."""

from __future__ import annotations

import attrs
import numpy as np
import pytest

from pptrain_core import TaskSpec
from pptrain_core.data import Example, Task, TokenizerSpec
from pptrain_core.testing import TASK_CHECKS, task_checks
from pptrain_core.testing import toy as conf


@pytest.mark.parametrize(
    "check", [c for c in task_checks([conf.COPY_SPEC]) if c.name != "imports_light"], ids=lambda c: c.id
)
def test_a_good_task_passes_every_check(check):
    check()


@attrs.frozen
class Cfg:
    flaw: str = "none"


class Flawed(Task):
    def __init__(self, config):
        self.config = config
        self.vocab = TokenizerSpec(size=10, names=[str(i) for i in range(10)], pad_id=9)
        if config.flaw == "unpicklable":
            self.hook = lambda: None

    def generate(self, rng, *, seed, split, index):
        flaw = self.config.flaw
        tokens = rng.integers(0, 9, size=6)
        mask = np.array([0, 1, 1, 1, 1, 1])
        if flaw == "global_rng":
            tokens = np.random.randint(0, 9, size=6)
        elif flaw == "out_of_vocab":
            tokens[2] = 10
        elif flaw == "loss_on_first":
            mask[0] = 1
        elif flaw == "loss_on_pad":
            tokens[-1] = 9
        return Example(tokens, mask)


def flawed_spec():
    return TaskSpec(name="flawed", summary="broken on purpose", config_cls=Cfg, factory=Flawed)


@pytest.mark.parametrize(
    "flaw, check, message",
    [
        ("global_rng", "determinism", "different examples"),
        ("out_of_vocab", "vocabulary", "outside"),
        ("loss_on_first", "loss_mask", "first token"),
        ("loss_on_pad", "loss_mask", "pad"),
        ("unpicklable", "picklable", ""),
    ],
)
def test_checks_catch_flawed_tasks(flaw, check, message):
    spec = flawed_spec()
    from pptrain_core.specs import Preset, Provenance

    preset = Preset("p", "flawed", {"flaw": flaw}, {"flaw": Provenance("ours")})
    with pytest.raises((AssertionError, AttributeError, TypeError)) as info:
        TASK_CHECKS[check](spec, preset)
    assert message in str(info.value)


def test_imports_light_catches_a_heavy_entry_point(tmp_path, monkeypatch):
    (tmp_path / "heavy_ep.py").write_text("import json_impl_heavy\n")
    (tmp_path / "json_impl_heavy.py").write_text("X = 1\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    spec = TaskSpec(name="heavy", summary="s", config_cls=Cfg, factory="json_impl_heavy:X")
    check = next(c for c in task_checks([spec], entry_point_module="heavy_ep") if c.name == "imports_light")
    with pytest.raises(AssertionError, match="json_impl_heavy"):
        check()
