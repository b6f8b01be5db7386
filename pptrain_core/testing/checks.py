"""The conformance suite every task family passes (see :mod:`pptrain_core.testing`)."""

from __future__ import annotations

import functools
import json
import pickle
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from pptrain_core.specs import Preset, TaskSpec

N_EXAMPLES = 4


@attrs.frozen
class TaskCheck:
    """One conformance check bound to one task spec and preset; call it to run it."""

    spec: TaskSpec
    preset: Preset | None
    name: str
    run: Callable[[TaskSpec, Preset | None], None] = attrs.field(repr=False)

    @property
    def id(self) -> str:
        ref = f"{self.spec.name}:{self.preset.name}" if self.preset else self.spec.name
        return f"{ref}-{self.name}"

    def __call__(self) -> None:
        self.run(self.spec, self.preset)


def _config(spec: TaskSpec, preset: Preset | None) -> Any:
    from pptrain_core.config import structure

    return structure(dict(preset.values) if preset else {}, spec.config_cls, "$.task.params")


def _build(spec: TaskSpec, preset: Preset | None) -> Any:
    return spec.build(_config(spec, preset))


def check_config_round_trip(spec: TaskSpec, preset: Preset | None) -> None:
    """The resolved config survives JSON and re-structuring unchanged."""
    from pptrain_core.config import structure, unstructure

    config = _config(spec, preset)
    data = json.loads(json.dumps(unstructure(config)))
    again = structure(data, spec.config_cls)
    assert again == config, f"config changed on a JSON round trip: {config!r} -> {again!r}"


def check_determinism(spec: TaskSpec, preset: Preset | None) -> None:
    """Example i of a split is a pure function of (seed, split, i), even across fresh task objects."""
    from pptrain_core.data import example_at

    first, second = _build(spec, preset), _build(spec, preset)
    train = [example_at(first, 7, "train", i) for i in range(N_EXAMPLES)]
    again = [example_at(second, 7, "train", i) for i in reversed(range(N_EXAMPLES))][::-1]
    assert train == again, "the same (seed, split, index) gave different examples"
    others = [example_at(first, 8, "train", i) for i in range(N_EXAMPLES)]
    evals = [example_at(first, 7, "eval", i) for i in range(N_EXAMPLES)]
    assert train != others, "changing the seed did not change any example"
    assert train != evals, "the eval split repeats the train split"
    assert len({ex.tokens.tobytes() for ex in train}) > 1, "every index gave the same example"


def check_vocabulary(spec: TaskSpec, preset: Preset | None) -> None:
    """Every token id is inside the vocabulary and has a display name."""
    from pptrain_core.data import example_at

    task = _build(spec, preset)
    size = task.vocab.size
    for i in range(N_EXAMPLES):
        ex = example_at(task, 0, "train", i)
        assert len(ex) > 0, "an example has no tokens"
        assert int(ex.tokens.min()) >= 0 and int(ex.tokens.max()) < size, (
            f"token ids outside [0, {size}): min {ex.tokens.min()}, max {ex.tokens.max()}"
        )
        for t in set(ex.tokens.tolist()):
            assert isinstance(task.vocab.name(t), str) and task.vocab.name(t), f"id {t} has no display name"


def check_loss_mask(spec: TaskSpec, preset: Preset | None) -> None:
    """The mask matches the tokens, is 0/1, never marks the first token, and marks something."""
    from pptrain_core.data import example_at

    task = _build(spec, preset)
    for i in range(N_EXAMPLES):
        ex = example_at(task, 0, "train", i)
        assert ex.loss_mask.shape == ex.tokens.shape, "loss mask and tokens differ in shape"
        assert set(ex.loss_mask.tolist()) <= {0, 1}, "loss mask holds values other than 0 and 1"
        assert ex.loss_mask[0] == 0, "the first token carries loss, but nothing precedes it"
        assert ex.loss_mask.sum() > 0, "no token carries loss"
        pad = task.vocab.pad_id
        if pad is not None:
            assert not ex.loss_mask[ex.tokens == pad].any(), "a pad token carries loss"


def check_render(spec: TaskSpec, preset: Preset | None) -> None:
    """Rendering gives a non-empty string that shows the example's tokens.

    The first token must appear in the rendering by its vocabulary name (the default
    renderer, and structured ones such as NCA's grids) or as the task renders that token
    alone (a task that renders decoded text: the byte-level BPE token ``Ġthe`` reads `` the``).
    """
    from pptrain_core.data import Example, example_at

    task = _build(spec, preset)
    ex = example_at(task, 0, "train", 0)
    text = task.render(ex)
    assert isinstance(text, str) and text.strip(), "render returned nothing"
    name = task.vocab.name(int(ex.tokens[0]))
    alone = task.render(Example(ex.tokens[:1], ex.loss_mask[:1])).strip()
    assert name in text or (alone and alone in text), (
        f"the first token is not in the rendering, neither as its name {name!r} nor rendered alone as {alone!r}"
    )


STATS_SAMPLE = 16


def _measure(task: Any, *, with_examples: bool) -> tuple[Any, list[str]]:
    """``task.stats`` over ``STATS_SAMPLE`` examples of seed 5, and the generate calls it made."""
    from pptrain_core.stats import sample_examples

    if not with_examples:
        return task.stats(sample=STATS_SAMPLE, seed=5), []
    examples = sample_examples(task, sample=STATS_SAMPLE, seed=5)
    calls: list[str] = []

    def counting(original: Callable[..., Any], label: str) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls.append(label)
            return original(*args, **kwargs)

        return wrapper

    task.generate = counting(task.generate, "generate")
    task.generate_block = counting(task.generate_block, "generate_block")
    return task.stats(sample=STATS_SAMPLE, seed=5, examples=examples), calls


def _encode(result: Any, what: str) -> str:
    assert isinstance(result, dict), f"{what} returned {type(result).__name__}, not a dict"
    try:
        return json.dumps(result, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise AssertionError(f"{what} returned data that is not JSON-serialisable: {exc}") from None


def check_stats(spec: TaskSpec, preset: Preset | None) -> None:
    """A task's optional ``stats``: a JSON-serialisable dict, the same for the same seed.

    When ``stats`` declares ``examples`` (the new-style signature), it is called the way
    the core calls it, with the examples already generated, and must not generate them
    again (no ``generate``/``generate_block`` call); when ``examples`` is optional, leaving
    it out must give the same result. Tasks without ``stats`` pass.
    """
    import inspect

    from pptrain_core.stats import accepts_examples

    task = _build(spec, preset)
    method = getattr(task, "stats", None)
    if not callable(method):
        return
    new_style = accepts_examples(method)
    what = "stats(examples=...)" if new_style else "stats()"
    first, calls = _measure(task, with_examples=new_style)
    encoded = _encode(first, what)
    assert not calls, (
        f"stats(examples=...) generated examples again ({len(calls)} {calls[0]} calls); measure the examples passed in"
    )
    again, _ = _measure(_build(spec, preset), with_examples=new_style)
    assert _encode(again, what) == encoded, f"{what} gave different results for the same sample and seed"
    if new_style and inspect.signature(method).parameters["examples"].default is not inspect.Parameter.empty:
        alone, _ = _measure(_build(spec, preset), with_examples=False)
        assert _encode(alone, "stats()") == encoded, (
            "stats(examples=...) differs from stats() over the same sample and seed"
        )


def check_render_rich(spec: TaskSpec, preset: Preset | None) -> None:
    """A task's optional ``render_rich``: a rich renderable that renders and shows the tokens.

    Rendered on a plain 200-column console, the text must show the example: the first
    token by its vocabulary name (or as ``render`` shows it alone), or else at least half
    of the first 20 words of ``render(example)`` (a structured view such as NCA's grids
    shows the cells, not the frame markers).
    Tasks without ``render_rich`` pass.
    """
    import io

    from rich.console import Console
    from rich.protocol import is_renderable

    from pptrain_core.data import Example, example_at

    task = _build(spec, preset)
    method = getattr(task, "render_rich", None)
    if not callable(method):
        return
    ex = example_at(task, 0, "train", 0)
    view = method(ex)
    assert is_renderable(view), f"render_rich returned {type(view).__name__}, which rich cannot print"
    buffer = io.StringIO()
    Console(file=buffer, width=200, color_system=None, force_terminal=False).print(view)
    shown = buffer.getvalue()
    assert shown.strip(), "render_rich rendered nothing"
    flat = " ".join(shown.split())
    name = task.vocab.name(int(ex.tokens[0]))
    alone = task.render(Example(ex.tokens[:1], ex.loss_mask[:1])).strip()
    if name in flat or (alone and alone in flat):
        return
    words = task.render(ex).split()[:20]
    found = sum(w in flat for w in words)
    assert words and 2 * found >= len(words), (
        f"render_rich does not show the example: the first token is in it neither as {name!r} nor as {alone!r}, "
        f"and only {found} of the first {len(words)} words of render() are"
    )


def check_picklable(spec: TaskSpec, preset: Preset | None) -> None:
    """Tasks and datasets pickle for DataLoader workers and generate the same examples there."""
    from pptrain_core.data import VirtualDataset

    ds = VirtualDataset(_build(spec, preset), seed=3, split="train", length=10**12)
    before = [ds[i] for i in (0, 1, 10**11)]
    copy = pickle.loads(pickle.dumps(ds))
    assert [copy[i] for i in (0, 1, 10**11)] == before, "a pickled dataset gave different examples"
    assert len(pickle.dumps(ds)) < 5_000_000, "the pickled dataset is larger than 5 MB; keep workers cheap"


def check_imports_light(spec: TaskSpec, preset: Preset | None, entry_point_module: str | None = None) -> None:
    """Importing the entry-point module and registering imports neither torch nor the generator."""
    modules = [m for m in (entry_point_module, spec.config_cls.__module__) if m]
    factory_module = spec.factory.partition(":")[0] if isinstance(spec.factory, str) else None
    code = (
        "import sys, importlib\n"
        f"for m in {modules!r}:\n"
        "    mod = importlib.import_module(m)\n"
        "    hook = getattr(mod, 'register_tasks', None)\n"
        "    if hook is not None: hook(register=lambda spec: None)\n"
        f"bad = [m for m in ('torch', {factory_module!r}) if m and m in sys.modules]\n"
        "print(','.join(bad))\n"
        "sys.exit(1 if bad else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, (
        f"importing {modules} pulled in heavy modules: {proc.stdout.strip() or proc.stderr.strip()[-500:]}"
    )


def check_provenance(spec: TaskSpec, preset: Preset | None) -> None:
    """A preset whose every value is ``verified`` names where it was verified.

    ``verified`` means "read in the official code or paper"; a preset marked so (its
    :meth:`~pptrain_core.specs.Preset.status` is ``verified``) with an empty
    :class:`~pptrain_core.specs.Source` (no ``paper`` and no ``repo``) makes a claim
    nobody can check, so it fails.
    """
    if preset is None or preset.status() != "verified":
        return
    source = preset.source
    assert source.paper.strip() or source.repo.strip(), (
        f"preset {spec.name}:{preset.name} is marked verified but its Source names neither a paper nor a repo; "
        "give Source(paper=..., repo=...) or mark the values 'approximate' or 'ours'"
    )


TASK_CHECKS: dict[str, Callable[[TaskSpec, Preset | None], None]] = {
    "provenance": check_provenance,
    "config_round_trip": check_config_round_trip,
    "determinism": check_determinism,
    "vocabulary": check_vocabulary,
    "loss_mask": check_loss_mask,
    "render": check_render,
    "picklable": check_picklable,
}


#: Checks of the optional task methods, run once per spec on its default (else first) preset.
TASK_METHOD_CHECKS: dict[str, Callable[[TaskSpec, Preset | None], None]] = {
    "stats": check_stats,
    "render_rich": check_render_rich,
}


def _main_preset(spec: TaskSpec) -> Preset | None:
    if spec.default_preset is not None:
        return spec.preset(spec.default_preset)
    return spec.presets[0] if spec.presets else None


def task_checks(specs: Sequence[TaskSpec], entry_point_module: str | None = None) -> list[TaskCheck]:
    """Every check for every preset of every spec (the spec's defaults when it has none).

    The checks of the optional methods (:data:`TASK_METHOD_CHECKS`: ``stats``,
    ``render_rich``) and ``imports_light`` run once per spec.
    """
    out: list[TaskCheck] = []
    for spec in specs:
        presets: list[Preset | None] = list(spec.presets) or [None]
        for preset in presets:
            for name, fn in TASK_CHECKS.items():
                out.append(TaskCheck(spec, preset, name, fn))
        main = _main_preset(spec)
        for name, fn in TASK_METHOD_CHECKS.items():
            out.append(TaskCheck(spec, main, name, fn))
        light = functools.partial(check_imports_light, entry_point_module=entry_point_module)
        out.append(TaskCheck(spec, None, "imports_light", light))
    return out


def parametrize_with_task_checks(specs: Sequence[TaskSpec], entry_point_module: str | None = None):
    """A pytest decorator: one test case per (spec, preset, check), argument name ``check``."""
    import pytest

    checks = task_checks(specs, entry_point_module)
    return pytest.mark.parametrize("check", checks, ids=[c.id for c in checks])
