"""``pptrain replicate``: the paper's effect, measured as a ``compare`` study with fixed profiles.

A profile is a function of the installed plugins that returns a ``compare`` study (the
same mapping a ``CONFIG.yaml`` holds), so every profile runs through the one code path
that ``pptrain compare`` uses, writes the same run directory and the same report, and
can be printed (``--dry-run``), edited and rerun with ``pptrain compare``.

* ``test``: every installed task family (its ``smoke`` preset), tiny models, a short
  downstream run on the embedded corpus, the shuffled control, a natural-text warm-up
  and the needle probe on what each arm transfers. Minutes on a laptop CPU; it shows the
  whole pipeline works, not an effect.
* ``needle``: Jiang et al.'s diagnostic (2026, §3.3-3.5 of the reference notes): the
  2-layer, 4-head, width-16 GPT-2; from scratch vs after k-Dyck vs after shuffled k-Dyck;
  ``mean_embeddings`` transfer; needle-in-a-haystack accuracy on the answer token after a
  fine-tuning run; several seeds. Their budget (10,000 steps at batch 1,000) is scaled down
  to finish within about an hour on a CPU; the budget is in the report.
* ``paper-small``: the same comparison as ``test`` at a size for one GPU.

Nothing here tunes a protocol toward an effect: budgets are fixed per profile, and
``--set`` changes are recorded in ``compare.json`` like any study value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: Tasks registered by this plugin (corpora, controls, probes) are not families to replicate.
OWN_MODULE = "pptrain_analytics"

#: The probe model of Jiang et al. (also the model of the ``needle`` and ``test`` profiles).
JIANG_TINY = {"n_layer": 2, "n_head": 4, "n_embd": 16}
#: Their models have an output head of their own, which ``mean_embeddings`` transfers too;
#: a tied head would leave the probe's head freshly initialised.
UNTIED = {"tie_word_embeddings": False}
_NO_DROPOUT = {"resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0}


def families(registry: Any) -> list[str]:
    """``TASK:PRESET`` for every installed family not registered by this plugin (``smoke`` if it has one)."""
    refs = []
    for name in sorted(registry.tasks):
        if registry.owner("register_tasks", name).module.startswith(OWN_MODULE):
            continue
        spec = registry.tasks[name]
        presets = [p.name for p in spec.presets]
        refs.append(f"{name}:smoke" if "smoke" in presets else name)
    return refs


def _gpt2(n_positions: int, **sizes: int) -> dict[str, Any]:
    return {
        "adapter": "hf_causal_lm",
        "params": {
            "model_type": "gpt2",
            "overrides": {**sizes, "n_positions": n_positions, **_NO_DROPOUT, **UNTIED},
        },
    }


def _arm_name(ref: str) -> str:
    return ref.split(":", 1)[0]


def _needle_probe(steps: int, batch_size: int, eval_examples: int, eval_every: int, **sizes: int) -> dict[str, Any]:
    return {
        "metric": "needle",
        "on": "start",
        "params": {
            "steps": steps,
            "batch_size": batch_size,
            "warmup_steps": max(1, steps // 10),
            "eval_examples": eval_examples,
            "eval_every": eval_every,
            **sizes,
        },
    }


def profile_test(registry: Any, output_dir: str, seeds: list[int]) -> dict[str, Any]:
    """Every family, tiny everything: the pipeline end to end in a few minutes on a CPU."""
    refs = families(registry)
    control = next((r for r in refs if r.startswith("dyck")), refs[0] if refs else None)
    arms: list[dict[str, Any]] = [{"name": "scratch", "kind": "scratch"}]
    arms += [{"name": _arm_name(r), "kind": "synthetic", "task": r, "policy": "reinit_embeddings"} for r in refs]
    if control is not None:
        arms.append(
            {
                "name": f"{_arm_name(control)}_shuffled",
                "kind": "shuffled",
                "task": control,
                "policy": "reinit_embeddings",
            }
        )
    arms.append({"name": "natural", "kind": "natural"})
    return {
        "output_dir": output_dir,
        "seeds": seeds,
        "design": "additive",
        "baseline": "scratch",
        "corpus": {"kind": "embedded", "name": "pydoc_topics"},
        "tokenizer": {"kind": "bpe", "vocab_size": 512},
        "model": _gpt2(100, **JIANG_TINY),
        "downstream": {
            "tokens": 64 * 8 * 30,
            "seq_len": 64,
            "batch_size": 8,
            "lr": 3e-3,
            "warmup_steps": 3,
            "eval_every_tokens": 64 * 8 * 10,
            "eval_windows": 32,
        },
        "synthetic": {"tokens": 64 * 8 * 20, "seq_len": 64, "lr": 3e-3, "warmup_steps": 2},
        "arms": arms,
        "probes": [_needle_probe(60, 32, 200, 20, **JIANG_TINY)],
    }


def profile_needle(registry: Any, output_dir: str, seeds: list[int]) -> dict[str, Any]:
    """Jiang et al.'s needle diagnostic at a CPU budget: scratch vs Dyck vs shuffled Dyck."""
    dyck = "dyck:paper_k64"
    return {
        "output_dir": output_dir,
        "seeds": seeds,
        "design": "additive",
        "baseline": "scratch",
        "corpus": {"kind": "embedded", "name": "pydoc_topics"},
        "tokenizer": {"kind": "bpe", "vocab_size": 512},
        "model": _gpt2(100, **JIANG_TINY),
        # the downstream language-model stage is a by-product here (short); the
        # diagnostic is the needle probe on what each arm transfers ("on: start")
        "downstream": {"tokens": 100 * 16 * 20, "seq_len": 100, "batch_size": 16, "lr": 1e-3, "eval_windows": 32},
        "synthetic": {"tokens": 100 * 32 * 1500, "seq_len": 100, "batch_size": 32, "lr": 1e-3, "warmup_steps": 150},
        "arms": [
            {"name": "scratch", "kind": "scratch"},
            {"name": "dyck", "kind": "synthetic", "task": dyck, "params": {"length": 100}},
            {"name": "dyck_shuffled", "kind": "shuffled", "task": dyck, "params": {"length": 100}},
        ],
        "probes": [_needle_probe(1500, 128, 1000, 100, **JIANG_TINY)],
    }


def profile_paper_small(registry: Any, output_dir: str, seeds: list[int]) -> dict[str, Any]:
    """The ``test`` comparison at a size for one GPU (hours on a CPU)."""
    study = profile_test(registry, output_dir, seeds)
    sizes = {"n_layer": 6, "n_head": 8, "n_embd": 512}
    study.update(
        corpus={"kind": "embedded", "name": "python_stdlib"},
        tokenizer={"kind": "bpe", "vocab_size": 8192},
        model=_gpt2(512, **sizes),
        downstream={
            "tokens": 512 * 32 * 3000,
            "seq_len": 512,
            "batch_size": 32,
            "lr": 6e-4,
            "warmup_steps": 150,
            "eval_every_tokens": 512 * 32 * 250,
            "eval_windows": 256,
        },
        synthetic={"tokens": 512 * 32 * 600, "seq_len": 512, "lr": 6e-4, "warmup_steps": 60},
        probes=[],
    )
    for arm in study["arms"]:  # the families' paper presets instead of smoke
        if arm.get("task", "").endswith(":smoke"):
            arm["task"] = arm["task"].split(":", 1)[0]
    return study


PROFILES: dict[str, tuple[Callable[[Any, str, list[int]], dict[str, Any]], list[int], str]] = {
    "test": (profile_test, [0, 1], "every family, tiny models, a few minutes on a CPU"),
    "needle": (profile_needle, [0, 1, 2, 3, 4], "Jiang et al.'s needle diagnostic, about an hour on a CPU"),
    "paper-small": (profile_paper_small, [0, 1, 2], "every family at a size for one GPU"),
}


def study_for(profile: str, *, registry: Any, output_dir: str | None = None, seeds: list[int] | None = None) -> dict:
    """The ``compare`` study of a profile (a plain mapping, what ``--dry-run`` prints)."""
    from pptrain_core.errors import UserError, did_you_mean

    if profile not in PROFILES:
        raise UserError(f"unknown profile {profile!r}{did_you_mean(profile, list(PROFILES))}; see --help")
    build, default_seeds, _ = PROFILES[profile]
    return build(registry, output_dir or f"runs/replicate-{profile}", list(seeds or default_seeds))


def run_replicate(
    profile: str,
    *,
    output_dir: str | None = None,
    seeds: list[int] | None = None,
    overrides: list[str] | None = None,
    force: bool = False,
    progress: bool = True,
    registry: Any = None,
) -> dict[str, Any]:
    """Run a profile through ``compare`` (report included); returns the compare summary."""
    from pptrain_analytics.compare import run_compare
    from pptrain_core.plugins import get_registry

    registry = registry or get_registry()
    study = study_for(profile, registry=registry, output_dir=output_dir, seeds=seeds)
    summary = run_compare(study, overrides=overrides, force=force, progress=progress, registry=registry)
    summary["profile"] = profile
    return summary
