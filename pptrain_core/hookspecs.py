"""The pptrain extension contract: six collector hooks.

A plugin is a module (or object) whose functions are decorated with
:data:`pptrain_core.hookimpl` and named after the hooks below. It is published under the
entry-point group ``pptrain``::

    [project.entry-points.pptrain]
    dyck = "pptrain_dyck.plugin"

Each collector hook receives a ``register`` callback and calls it once per spec. Specs
are cheap frozen attrs objects; heavy code is named by a lazy factory, so the module
named by the entry point must import neither torch nor a family's generator code.
Every hook is documented with an example in ``docs/plugin-hooks.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:  # pragma: no cover
    from pptrain_core.specs import (
        MetricSpec,
        ModelAdapterSpec,
        TaskSpec,
        TokenizerProviderSpec,
        TransferPolicySpec,
    )

PROJECT = "pptrain"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_tasks(register: Callable[[TaskSpec], None]) -> None:
    """Register task families (synthetic data generators).

    :param register: call ``register(TaskSpec(...))`` once per family.

    Example::

        @hookimpl
        def register_tasks(register):
            register(TaskSpec(name="dyck", summary="k-Dyck strings", config_cls=DyckConfig,
                              factory="pptrain_dyck.dyck:DyckTask", presets=(...)))
    """


@hookspec
def register_tokenizers(register: Callable[[TokenizerProviderSpec], None]) -> None:
    """Register ways to turn a task vocabulary into a real tokenizer.

    :param register: call ``register(TokenizerProviderSpec(...))`` once per provider. The
        factory is called as ``factory(vocab, config)`` with a
        :class:`pptrain_core.data.TokenizerSpec`.

    Example::

        @hookimpl
        def register_tokenizers(register):
            register(TokenizerProviderSpec(name="hf_fast", summary="PreTrainedTokenizerFast",
                                           config_cls=NoConfig, factory="my_pkg.tok:build"))
    """


@hookspec
def register_model_adapters(register: Callable[[ModelAdapterSpec], None]) -> None:
    """Register model builders that also classify every parameter by role.

    :param register: call ``register(ModelAdapterSpec(...))`` once per adapter.

    Example::

        @hookimpl
        def register_model_adapters(register):
            register(ModelAdapterSpec(name="hf_causal_lm", summary="any transformers causal LM",
                                      config_cls=HFConfig, factory="pptrain_hf.adapter:build"))
    """


@hookspec
def register_transfer_policies(register: Callable[[TransferPolicySpec], None]) -> None:
    """Register transfer policies: what is copied, re-initialised or frozen, by role.

    :param register: call ``register(TransferPolicySpec(...))`` once per policy.

    Example::

        @hookimpl
        def register_transfer_policies(register):
            register(TransferPolicySpec(name="attention_only", summary="copy attention only",
                                        config_cls=NoConfig, factory="my_pkg.policies:attention_only"))
    """


@hookspec
def register_metrics(register: Callable[[MetricSpec], None]) -> None:
    """Register analytics metrics and probes.

    :param register: call ``register(MetricSpec(...))`` once per metric; ``kind`` is
        ``"model"`` (reads one model), ``"pair"`` (two models) or ``"run"`` (a finished run).

    Example::

        @hookimpl
        def register_metrics(register):
            register(MetricSpec(name="needle", summary="needle-in-a-haystack accuracy",
                                kind="model", config_cls=NeedleConfig, factory="my_pkg.needle:Needle"))
    """


@hookspec
def register_commands(app: Any) -> None:
    """Add sub-commands to the ``pptrain`` Typer application.

    :param app: a ``typer.Typer`` of the plugin's own; call ``app.command()(function)``
        or ``app.add_typer(sub_app, name=...)``. The loader then builds each command and
        moves it into the root ``pptrain`` app, except one named like a core command
        (reserved) or like another distribution's (withheld until the user picks one
        with ``PPTRAIN_PREFER``). Import heavy code inside the command body, not at
        module level, so ``pptrain --help`` stays fast.

    Example::

        @hookimpl
        def register_commands(app):
            @app.command("hello")
            def hello(name: str = "world"):
                print(f"hello {name}")
    """
