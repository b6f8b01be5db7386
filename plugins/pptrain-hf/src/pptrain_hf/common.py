"""What both adapters share: seeding without side effects, and reporting unknown roles."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import torch

from pptrain_core.models import ParameterInfo


class UnknownParameterWarning(UserWarning):
    """Some parameters got no role; role-based transfer policies will leave them alone."""


@contextlib.contextmanager
def seeded(seed: int | None) -> Iterator[None]:
    """Seed torch inside the block, then give the caller its RNG state back.

    With ``seed=None`` nothing is forked: the block draws from the caller's RNG, as any
    PyTorch module construction does.
    """
    if seed is None:
        yield
        return
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def check_vocab_size(vocab_size: int) -> None:
    if not isinstance(vocab_size, int) or isinstance(vocab_size, bool) or vocab_size < 1:
        raise ValueError(f"vocab_size must be a positive integer, got {vocab_size!r}")


def report_unknown(adapter: str, infos: list[ParameterInfo]) -> None:
    """Warn, naming them, when some parameters have no role."""
    unknown = [p.name for p in infos if p.role is None]
    if unknown:
        shown = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        warnings.warn(
            f"{adapter}: {len(unknown)} parameter(s) have no role, so role-based transfer policies "
            f"will not touch them: {shown}",
            UnknownParameterWarning,
            stacklevel=3,
        )
