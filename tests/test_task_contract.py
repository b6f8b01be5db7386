"""The plugin author's contract: validators, Literal errors, stats/render_rich hooks (issue #15 item 5)."""

from __future__ import annotations

from typing import Literal

import attrs
import pytest

from pptrain_core.config import one_of, positive, structure
from pptrain_core.errors import ConfigError


@attrs.frozen
class _Cfg:
    mode: Literal["fast", "slow"] = "fast"
    level: Literal[1, 2] = 1
    width: Literal["auto"] | int = "auto"
    kind: str = attrs.field(default="fast", validator=one_of("fast", "slow"))
    size: int = attrs.field(default=1, validator=positive())
    temp: float = attrs.field(default=1.0, validator=positive())


def _error(**params) -> str:
    with pytest.raises(ConfigError) as info:
        structure(params, _Cfg, "$.task.params")
    return str(info.value)


def test_literal_error_names_field_choices_and_near_miss():
    msg = _error(mode="fsat")
    assert msg.startswith("$.task.params.mode:")
    assert "'fast', 'slow'" in msg and "did you mean 'fast'" in msg
    assert "typing" not in msg and "Literal" not in msg
    assert "\n" not in msg


def test_literal_and_one_of_read_the_same():
    assert _error(mode="fsat").split(": ", 1)[1] == _error(kind="fsat").split(": ", 1)[1]


def test_literal_number_given_as_text_says_without_quotes():
    msg = _error(level="1")
    assert msg.startswith("$.task.params.level:") and "without quotes" in msg


def test_literal_union_with_primitive_accepts_both_and_explains():
    assert structure({"width": 7}, _Cfg).width == 7
    assert structure({"width": "auto"}, _Cfg).width == "auto"
    msg = _error(width="aut")
    assert msg.startswith("$.task.params.width:")
    assert "'auto'" in msg and "an integer" in msg and "did you mean 'auto'" in msg
    assert "Unsupported type" not in _error(width=1.5)


@pytest.mark.parametrize(("field", "value"), [("size", 0), ("size", -3), ("temp", 0.0), ("temp", -0.5)])
def test_positive_rejects_zero_and_below(field, value):
    msg = _error(**{field: value})
    assert msg.startswith(f"$.task.params.{field}:") and "greater than 0" in msg


def test_positive_accepts_small_positive():
    assert structure({"size": 1, "temp": 1e-9}, _Cfg).temp == 1e-9


# --------------------------------------------------------------------------- provenance (item 10)


def _spec_with(*presets):
    from pptrain_core.testing import toy

    return attrs.evolve(toy.COPY_SPEC, presets=presets, default_preset=None)


def test_kit_fails_a_verified_preset_with_an_empty_source():
    from pptrain_core.specs import Preset, Provenance, Source
    from pptrain_core.testing import task_checks

    bad = Preset("claims", "all verified", {"length": 4}, {"length": Provenance("verified")}, Source(note="trust me"))
    check = next(c for c in task_checks([_spec_with(bad)]) if c.name == "provenance")
    with pytest.raises(AssertionError, match="toy_copy:claims is marked verified"):
        check()


@pytest.mark.parametrize(
    "source, status",
    [
        ({"paper": "Hu et al. 2025"}, "verified"),
        ({"repo": "owner/repo@abc123"}, "verified"),
        ({}, "approximate"),
        ({}, "ours"),
    ],
)
def test_kit_passes_a_sourced_or_unverified_preset(source, status):
    from pptrain_core.specs import Preset, Provenance, Source
    from pptrain_core.testing import task_checks

    ok = Preset("fine", "s", {"length": 4}, {"length": Provenance(status)}, Source(**source))
    check = next(c for c in task_checks([_spec_with(ok)]) if c.name == "provenance")
    check()


# --------------------------------------------------------------------------- stats(examples=) (item 5)

import json  # noqa: E402
import re  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from pptrain_core import TaskSpec  # noqa: E402
from pptrain_core.data import example_at  # noqa: E402
from pptrain_core.stats import flatten_stats, task_stats  # noqa: E402
from pptrain_core.testing.toy import CopyConfig, CopyTask  # noqa: E402


class _Counting(CopyTask):
    calls = 0

    def generate(self, rng, *, seed, split, index):
        type(self).calls += 1
        return super().generate(rng, seed=seed, split=split, index=index)


class _NewStats(_Counting):
    received: list = []

    def stats(self, *, sample, seed, examples):
        type(self).received = list(examples)
        return {"answer_tokens": sum(int(ex.loss_mask.sum()) for ex in examples)}


class _OldStats(_Counting):
    def stats(self, sample, seed):
        return {"n": sample, "seed": seed}


def test_core_passes_its_examples_to_a_stats_that_takes_them():
    task = _NewStats(CopyConfig())
    _NewStats.calls = 0
    out = task_stats(task, sample=10, seed=3)
    assert _NewStats.calls == 10, "each example should be generated once"
    expected = [example_at(CopyTask(CopyConfig()), 3, "train", i) for i in range(10)]
    assert _NewStats.received == expected
    assert out["family"] == {"answer_tokens": 10 * (CopyConfig().length + 1)}


def test_old_style_stats_is_still_called_without_examples():
    out = task_stats(_OldStats(CopyConfig()), sample=4, seed=2)
    assert out["family"] == {"n": 4, "seed": 2}


# --------------------------------------------------------------------------- describe --stats (item 9)


class _Nested(CopyTask):
    def stats(self, *, sample, seed, examples):
        return {"depth": {"max": 7, "mean": 2.123456}, "lengths": list(range(40)), "ok": True}


def _register(pptrain_register, cls, name):
    from pptrain_core.hookspecs import hookimpl

    spec = TaskSpec(name=name, summary="s", config_cls=CopyConfig, factory=cls)

    class P:
        @hookimpl
        def register_tasks(self, register):
            register(spec)

    pptrain_register(P(), name=name)


def _cli(capsys, *args):
    from pptrain_core.cli import main

    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    return code, capsys.readouterr().out


def test_describe_stats_prints_a_table_with_dotted_keys(pptrain_register, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")
    _register(pptrain_register, _Nested, "nested")
    code, out = _cli(capsys, "describe", "nested", "--stats", "--sample", "5")
    assert code == 0
    assert "family.depth.max" in out and "family.depth.mean" in out and "length.mean" in out
    assert "2.123" in out and "2.123456" not in out
    assert "(40 items)" in out and "39" not in out.split("family.lengths", 1)[1].splitlines()[0]
    assert '"family": {' not in out
    code, out = _cli(capsys, "describe", "nested", "--stats", "--sample", "5", "--json")
    assert json.loads(out)["stats"]["family"]["lengths"] == list(range(40))


def test_flatten_stats_rows():
    rows = dict(flatten_stats({"a": {"b": {"c": 1}}, "d": [], "e": None, "f": "x" * 500}))
    assert rows["a.b.c"] == "1" and rows["d"] == "[]" and rows["e"] == "null"
    assert len(rows["f"]) == 120 and rows["f"].endswith("...")


# --------------------------------------------------------------------------- default_render (item 6)


def test_default_render_marks_loss_tokens_and_truncates():
    from pptrain_core.tasks import default_render

    task = CopyTask(CopyConfig(length=6))
    ex = example_at(task, 0, "train", 0)
    text = default_render(task, ex)
    words = text.plain.split(" ")
    assert words == [task.vocab.name(int(t)) for t in ex.tokens]
    bold = {text.plain[s.start : s.end] for s in text.spans if "bold" in str(s.style)}
    dim_names = {text.plain[s.start : s.end] for s in text.spans if "dim" in str(s.style)}
    assert "<eos>" in bold and "<sep>" in dim_names
    n_bold = sum(1 for s in text.spans if "bold" in str(s.style))
    assert n_bold == int(ex.loss_mask.sum())
    short = default_render(task, ex, max_tokens=3)
    assert short.plain.endswith(f"... ({len(ex) - 3} more)")
    upper = default_render(task, ex, name=lambda t: task.vocab.name(t).upper())
    assert upper.plain == text.plain.upper()


def test_default_render_matches_what_sample_prints(toy_registry, capsys, monkeypatch):
    from pptrain_core.tasks import default_render, resolve

    monkeypatch.setenv("COLUMNS", "500")
    code, out = _cli(capsys, "sample", "toy_copy:tiny", "-n", "1")
    resolved = resolve("toy_copy:tiny")
    task = resolved.build()
    assert default_render(task, example_at(task, 0, "train", 0)).plain in out


# --------------------------------------------------------------------------- kit: stats, render_rich (item 7)


def _kit(cls, check_name):
    from pptrain_core.testing import task_checks

    spec = TaskSpec(name="probe", summary="s", config_cls=CopyConfig, factory=cls)
    return next(c for c in task_checks([spec]) if c.name == check_name)


class _StatsNotJson(CopyTask):
    def stats(self, *, sample, seed):
        return {"ids": {1, 2}}


class _StatsRandom(CopyTask):
    def stats(self, *, sample, seed):
        return {"x": float(np.random.random())}


class _StatsRegenerates(CopyTask):
    def stats(self, *, sample, seed, examples=None):
        fresh = [example_at(self, seed, "train", i) for i in range(sample)]
        return {"tokens": sum(len(ex) for ex in fresh)}


class _StatsIgnoresSeed(CopyTask):
    def stats(self, *, sample, seed, examples=None):
        if examples is None:
            examples = [example_at(self, seed + 1, "train", i) for i in range(sample)]
        return {"first": examples[0].tokens.tolist()}


class _RichNotRenderable(CopyTask):
    def render_rich(self, example):
        return object()


class _RichHidesTokens(CopyTask):
    def render_rich(self, example):
        from rich.text import Text

        return Text("an example")


class _Good(CopyTask):
    def stats(self, *, sample, seed, examples):
        return {"answer_tokens": sum(int(ex.loss_mask.sum()) for ex in examples)}

    def render_rich(self, example):
        from rich.console import Group
        from rich.text import Text

        from pptrain_core.tasks import default_render

        return Group(Text("copy task", style="italic"), default_render(self, example))


@pytest.mark.parametrize(
    ("cls", "check", "message"),
    [
        (_StatsNotJson, "stats", "not JSON-serialisable"),
        (_StatsRandom, "stats", "different results"),
        (_StatsRegenerates, "stats", "generated examples again"),
        (_StatsIgnoresSeed, "stats", "differs from stats()"),
        (_RichNotRenderable, "render_rich", "rich cannot print"),
        (_RichHidesTokens, "render_rich", "does not show the example"),
    ],
)
def test_kit_catches_bad_stats_and_render_rich(cls, check, message):
    with pytest.raises(AssertionError, match=re.escape(message)):
        _kit(cls, check)()


@pytest.mark.parametrize("check", ["stats", "render_rich"])
def test_kit_passes_good_optional_methods(check):
    _kit(_Good, check)()


# --------------------------------------------------------------------------- the worked example in the docs

AUTHORING = Path(__file__).resolve().parents[1] / "docs" / "plugin-authoring.md"


def _worked_example() -> str:
    text = AUTHORING.read_text()
    match = re.search(r"<!-- worked-example -->\s*```python\n(.*?)```", text, re.S)
    assert match, "docs/plugin-authoring.md lost its worked example (the block after <!-- worked-example -->)"
    return match.group(1)


def test_docs_worked_example_passes_the_kit_and_the_cli(pptrain_register, capsys, monkeypatch, tmp_path):
    import sys

    from pptrain_core.testing import task_checks

    module = tmp_path / "reverse_plugin.py"
    module.write_text(_worked_example())
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    mod = importlib.import_module("reverse_plugin")
    try:
        # imports_light needs an installed package (it imports in a fresh interpreter)
        for check in task_checks([mod.REVERSE]):
            if check.name != "imports_light":
                check()
        pptrain_register(mod.ReversePlugin(), name="reverse")
        monkeypatch.setenv("COLUMNS", "160")
        code, out = _cli(capsys, "describe", "reverse:small", "--stats", "--sample", "20")
        assert code == 0 and "family.answer_length.mean" in out
        code, out = _cli(capsys, "sample", "reverse:small", "-n", "1")
        assert code == 0 and "reverse of" in out
    finally:
        sys.modules.pop("reverse_plugin", None)
