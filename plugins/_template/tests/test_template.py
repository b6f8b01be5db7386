"""The template passes the core's conformance suite and its task does what it says."""

from __future__ import annotations

import pytest

from pptrain_core.config import structure
from pptrain_core.data import example_at
from pptrain_core.errors import ConfigError
from pptrain_core.testing import parametrize_with_task_checks
from pptrain_template.specs import TEMPLATE_REVERSE, ReverseConfig


@parametrize_with_task_checks([TEMPLATE_REVERSE], entry_point_module="pptrain_template.plugin")
def test_conformance(check):
    check()


def test_answer_is_the_reversed_input_and_carries_the_loss():
    task = TEMPLATE_REVERSE.build(ReverseConfig())
    for i in range(200):
        ex = example_at(task, 0, "train", i)
        tokens, mask = ex.tokens.tolist(), ex.loss_mask.tolist()
        sep = tokens.index(task.vocab.sep_id)
        source, answer = tokens[:sep], tokens[sep + 1 : -1]
        assert list(reversed(source)) == answer  # independent of the generator's own solve()
        assert tokens[-1] == task.vocab.eos_id
        assert mask == [0] * (sep + 1) + [1] * (len(answer) + 1)
        assert 4 <= len(source) <= 16


def test_inconsistent_lengths_name_the_field():
    with pytest.raises(ConfigError) as info:
        structure({"min_length": 9, "max_length": 3}, ReverseConfig, "$.task.params")
    assert info.value.path == "$.task.params.max_length"
