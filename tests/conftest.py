"""Shared fixtures: the core's tiny copy-task plugin for exercising the loader and the CLI."""

from __future__ import annotations

import os

import pytest

from pptrain_core.testing.toy import ToyPlugin

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture
def toy_plugin():
    return ToyPlugin()


@pytest.fixture
def toy_registry(pptrain_register, toy_plugin):
    """The process-wide registry with the toy plugin added for one test."""
    return pptrain_register(toy_plugin, name="toy")
