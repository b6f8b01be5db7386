"""``pptrain replicate``: registered on the root app by the analytics plugin.

Imports only typer and the standard library at module level; the study is imported
inside the command, so ``pptrain --help`` stays fast.
"""

from __future__ import annotations

import json
import sys

import typer


def _seeds(text: str | None) -> list[int] | None:
    from pptrain_core.errors import UserError

    if text is None:
        return None
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise UserError(f"--seeds must be comma-separated non-negative integers such as 0,1,2; got {text!r}") from None
    if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
        raise UserError(f"--seeds must be distinct non-negative integers such as 0,1,2; got {text!r}")
    return seeds


def register(app: typer.Typer) -> None:
    """Add the ``replicate`` command to ``app``."""

    @app.command("replicate")
    def replicate(
        test: bool = typer.Option(False, "--test", help="The quick profile: every family, tiny models (minutes)."),
        profile: str | None = typer.Option(
            None, "--profile", help="test, needle (Jiang et al.'s diagnostic, ~1 h on a CPU) or paper-small (a GPU)."
        ),
        output_dir: str | None = typer.Option(
            None, "--output-dir", help="Run directory (default runs/replicate-PROFILE)."
        ),
        seeds: str | None = typer.Option(None, "--seeds", help="Comma-separated seeds (default: the profile's)."),
        overrides: list[str] | None = typer.Option(
            None, "--set", help="Override a study value, e.g. --set synthetic.tokens=100000 (repeatable)."
        ),
        dry_run: bool = typer.Option(False, "--dry-run", help="Print the study (a compare config) and stop."),
        force: bool = typer.Option(False, "--force", help="Redo every (arm, seed), even those already finished."),
        as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON (no progress bar)."),
    ) -> None:
        """Measure the pre-pretraining effect with a fixed profile; writes the compare run and its report.

        Every profile is a `pptrain compare` study: --dry-run prints it as JSON, which
        `pptrain compare` accepts as a config file (JSON is YAML).
        """
        from pptrain_analytics.replicate import run_replicate, study_for
        from pptrain_core.errors import UserError
        from pptrain_core.plugins import get_registry

        if test and profile not in (None, "test"):
            raise UserError(f"--test is the 'test' profile; it cannot be combined with --profile {profile}")
        name = "test" if test or profile is None else profile
        chosen = _seeds(seeds)
        if dry_run:
            study = study_for(name, registry=get_registry(), output_dir=output_dir, seeds=chosen)
            sys.stdout.write(json.dumps(study, indent=2) + "\n")
            return
        summary = run_replicate(
            name, output_dir=output_dir, seeds=chosen, overrides=overrides, force=force, progress=not as_json
        )
        if as_json:
            sys.stdout.write(json.dumps(summary, indent=2, default=str) + "\n")
            return
        from rich.console import Console

        run_dir = summary["run_dir"]
        Console(highlight=False).print(f"replicate ({name}): report {run_dir}/report.md, plot {run_dir}/curves.png")
