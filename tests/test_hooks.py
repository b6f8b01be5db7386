"""Every hook of the contract is documented in docs/plugin-hooks.md and has a test here.

The test for a hook is the function ``test_hook_<hook name>``; adding a hook to
``hookspecs.py`` without both makes ``test_every_hook_is_documented_and_tested`` fail.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import attrs
import pytest

from pptrain_core import (
    MetricSpec,
    ModelAdapterSpec,
    TokenizerProviderSpec,
    TransferPolicySpec,
    hookimpl,
    hookspecs,
)

DOCS = Path(__file__).resolve().parents[1] / "docs" / "plugin-hooks.md"


def hook_names() -> list[str]:
    return [
        name
        for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
        if getattr(fn, "pptrain_spec", None) is not None
    ]


def test_every_hook_is_documented_and_tested():
    names = hook_names()
    assert len(names) == 6
    text = DOCS.read_text(encoding="utf-8")
    module = sys.modules[__name__]
    for name in names:
        assert f"## `{name}" in text, f"docs/plugin-hooks.md has no section for {name}"
        assert callable(getattr(module, f"test_hook_{name}", None)), f"no test_hook_{name} in tests/test_hooks.py"
        doc = getattr(hookspecs, name).__doc__ or ""
        assert ":param" in doc and "Example::" in doc, f"{name}'s docstring lacks parameters or an example"


@attrs.frozen
class NoConfig:
    pass


def _spec(cls, name, **extra):
    return cls(name=name, summary=f"{name} for tests", config_cls=NoConfig, factory="json:dumps", **extra)


def test_hook_register_tasks(pptrain_registry_factory):
    from pptrain_core.testing import toy as conf

    reg = pptrain_registry_factory({"toy": conf.ToyPlugin()})
    assert reg.task("toy_copy") is conf.COPY_SPEC
    task = reg.task("toy_copy").build(conf.CopyConfig())
    assert task.vocab.size == 13


def test_hook_register_tokenizers(pptrain_registry_factory):
    class P:
        @hookimpl
        def register_tokenizers(self, register):
            register(_spec(TokenizerProviderSpec, "tok"))

    reg = pptrain_registry_factory({"p": P()})
    assert set(reg.tokenizers) == {"tok", "native"}  # the core's built-in comes through the same hook
    assert reg.owner("register_tokenizers", "native").distribution == "pptrain-core"


def test_hook_register_model_adapters(pptrain_registry_factory):
    class P:
        @hookimpl
        def register_model_adapters(self, register):
            register(_spec(ModelAdapterSpec, "adapter"))

    reg = pptrain_registry_factory({"p": P()})
    assert reg.get("register_model_adapters", "adapter") is reg.model_adapters["adapter"]
    with pytest.raises(Exception, match="unknown model adapter .adaptr. \\(did you mean .adapter.\\?\\)"):
        reg.get("register_model_adapters", "adaptr")


def test_hook_register_transfer_policies(pptrain_registry_factory):
    class P:
        @hookimpl
        def register_transfer_policies(self, register):
            register(_spec(TransferPolicySpec, "copy_all"))

    reg = pptrain_registry_factory({"p": P()})
    assert reg.transfer_policies["copy_all"].summary == "copy_all for tests"


def test_hook_register_metrics(pptrain_registry_factory):
    class P:
        @hookimpl
        def register_metrics(self, register):
            register(_spec(MetricSpec, "needle", kind="model"))

    reg = pptrain_registry_factory({"p": P()})
    assert reg.metrics["needle"].kind == "model"
    with pytest.raises(ValueError):
        _spec(MetricSpec, "bad", kind="galaxy")


def test_hook_register_commands(pptrain_register, capsys):
    class P:
        @hookimpl
        def register_commands(self, app):
            @app.command("hello-test")
            def hello(name: str = "world"):
                print(f"hello {name}")

    import typer

    from pptrain_core.plugins import get_registry

    pptrain_register(P(), name="cmd")
    app = typer.Typer()

    @app.callback()
    def root() -> None:  # a root with sub-commands, however many plugins add (as pptrain's own app)
        pass

    get_registry().add_commands(app)
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, ["hello-test", "--name", "there"])
    assert result.exit_code == 0 and "hello there" in result.output
