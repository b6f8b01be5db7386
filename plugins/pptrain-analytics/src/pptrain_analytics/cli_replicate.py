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


def _jiang(
    variant: str,
    output_dir: str | None,
    seeds: list[int] | None,
    overrides: list[str] | None,
    dry_run: bool,
    workers: int,
    units: list[str] | None,
    as_json: bool,
    device: str = "auto",
) -> None:
    """The ``jiang-tiny`` profile: its own two-phase runner (not a compare study)."""
    from pptrain_analytics import jiang
    from pptrain_core.errors import UserError, did_you_mean

    config = jiang.make_config(variant, output_dir=output_dir, seeds=seeds, overrides=overrides)
    if dry_run:
        sys.stdout.write(json.dumps(jiang.describe(config), indent=2) + "\n")
        return
    known = [u.name for u in jiang.units(config)]
    for name in units or []:
        if name not in known:
            raise UserError(f"--unit {name!r} is not a unit of this run{did_you_mean(name, known)}")
    jiang.use_device(device)
    log = (lambda _msg: None) if as_json else print
    summary = jiang.run_profile(
        config, workers=workers, progress=not as_json, log=log, only=list(units) if units else None
    )
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=2, default=str) + "\n")
        return
    from rich.console import Console

    Console(highlight=False).print(
        f"replicate (jiang-tiny, {variant}): report {summary['report']}, plot {summary['plot']}"
    )


def register(app: typer.Typer) -> None:
    """Add the ``replicate`` command to ``app``."""

    @app.command("replicate")
    def replicate(
        test: bool = typer.Option(False, "--test", help="The quick profile: every family, tiny models (minutes)."),
        profile: str | None = typer.Option(
            None,
            "--profile",
            help="test, needle (a CPU-sized diagnostic), jiang-tiny (Jiang et al.'s tiny-model needle result at the "
            "paper's budget: an accelerator, or many CPU hours) or paper-small (a GPU).",
        ),
        variant: str = typer.Option(
            "official", "--variant", help="jiang-tiny only: official, fast-dyck (documented departure) or smoke."
        ),
        workers: int = typer.Option(1, "--workers", min=1, help="jiang-tiny only: processes running units at once."),
        device: str = typer.Option(
            "auto", "--device", help="jiang-tiny only: cpu, cuda (fails without a GPU) or auto (cuda when present)."
        ),
        units: list[str] | None = typer.Option(
            None, "--unit", help="jiang-tiny only: run just this unit, e.g. needle/scratch/seed-0 (repeatable)."
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
        if name == "jiang-tiny":
            _jiang(variant, output_dir, chosen, overrides, dry_run, workers, units, as_json, device)
            return
        if dry_run:
            study = study_for(name, registry=get_registry(), output_dir=output_dir, seeds=chosen)
            sys.stdout.write(json.dumps(study, indent=2) + "\n")
            return
        from pptrain_analytics.cli_compare import check_run_dir

        check_run_dir(study_for(name, registry=get_registry(), output_dir=output_dir, seeds=chosen), overrides)
        summary = run_replicate(
            name, output_dir=output_dir, seeds=chosen, overrides=overrides, force=force, progress=not as_json
        )
        if as_json:
            sys.stdout.write(json.dumps(summary, indent=2, default=str) + "\n")
            return
        from rich.console import Console

        run_dir = summary["run_dir"]
        Console(highlight=False).print(f"replicate ({name}): report {run_dir}/report.md, plot {run_dir}/curves.png")
