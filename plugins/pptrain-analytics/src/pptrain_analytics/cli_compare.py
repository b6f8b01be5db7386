"""``pptrain compare CONFIG.yaml``: registered on the root app by the analytics plugin.

Imports only typer and the standard library at module level; the study code (torch,
transformers, tokenizers) is imported inside the command, so ``pptrain --help`` stays fast.
"""

from __future__ import annotations

import json
import sys

import typer


def check_run_dir(data: object, overrides: list[str] | None) -> None:
    """Refuse, before any work, a study ``output_dir`` that is someone's own non-empty folder.

    ``data`` is the study as read (a mapping); the overrides are applied to a copy. A
    directory holding ``compare.json`` is an earlier run of a study, which compare checks
    itself (same config, same data); anything else non-empty is never written into.
    """
    import copy

    from pptrain_core.config import parse_override, set_dotted
    from pptrain_core.outputs import check_output_dir

    if not isinstance(data, dict):
        return  # the study's own validation reports it
    data = copy.deepcopy(data)
    for item in overrides or []:
        key, value = parse_override(item)
        set_dotted(data, key, value)
    out = data.get("output_dir")
    if isinstance(out, str) and out:
        check_output_dir(out, option="output_dir", markers=["compare.json"], kind="a pptrain compare run")


def register(app: typer.Typer) -> None:
    """Add the ``compare`` command to ``app``."""

    @app.command("compare")
    def compare(
        config: str = typer.Argument(
            ..., help="Study file (YAML, TOML or JSON): corpus, tokenizer, model, budgets, arms."
        ),
        overrides: list[str] | None = typer.Option(
            None, "--set", help="Override a study value by its path, e.g. --set downstream.tokens=100000 (repeatable)."
        ),
        force: bool = typer.Option(False, "--force", help="Redo every (arm, seed), even those already finished."),
        as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON (no progress bar)."),
    ) -> None:
        """Compare arms (scratch, bundles, synthetic, shuffled, natural warm-up) on one downstream budget, over seeds.

        Writes RUN_DIR/compare.json, arms/<arm>/seed-<k>/{curve.jsonl,result.json} and the report
        (report.md, report.csv, curves.png). Run it again to resume: finished (arm, seed) pairs are skipped.
        """
        from pptrain_analytics.compare import run_compare
        from pptrain_core.config import load_file

        check_run_dir(load_file(config), overrides)
        summary = run_compare(config, overrides=overrides, force=force, progress=not as_json)
        if as_json:
            sys.stdout.write(json.dumps(summary, indent=2, default=str) + "\n")
            return
        from rich.console import Console
        from rich.table import Table

        probe = Console()
        con = Console(highlight=False, width=None if probe.is_terminal else 160)
        table = Table(title=f"pptrain compare ({summary['design']}, seeds {summary['seeds']})")
        for col in ("arm", "ok", "failed", "skipped", "final eval loss (mean over seeds)"):
            table.add_column(col)
        for name, row in summary["arms"].items():
            loss = row["final_eval_loss_mean"]
            table.add_row(
                name, str(row["ok"]), str(row["failed"]), str(row["skipped"]), "-" if loss is None else f"{loss:.4f}"
            )
        con.print(table)
        run_dir = summary["run_dir"]
        if summary.get("report") is not None:
            for line in summary["report"].get("verdicts", []):
                con.print(f"verdict  {line}")
            con.print(f"report: {run_dir}/report.md (plot: {run_dir}/curves.png)")
        else:
            con.print(f"results in {run_dir}; the report module is not installed, so no report was written")
