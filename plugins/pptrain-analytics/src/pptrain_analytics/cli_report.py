"""``pptrain report RUN_DIR``: regenerate a comparison study's report from its run directory.

Module level imports only typer and the standard library; numpy and matplotlib load
inside the command, so ``pptrain --help`` stays fast.
"""

from __future__ import annotations

import json
import sys

import typer


def register(app: typer.Typer) -> None:
    """Add the ``report`` command to the root ``pptrain`` app."""

    @app.command("report")
    def report(
        run_dir: str = typer.Argument(..., help="A `pptrain compare` run directory (it holds compare.json)."),
        ci: float = typer.Option(0.95, "--ci", help="Confidence level of every interval, between 0 and 1."),
        bootstrap: int = typer.Option(10_000, "--bootstrap", help="Bootstrap resamples (at least 100)."),
        as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON instead of a table."),
    ) -> None:
        """Write report.md, report.csv, summary.csv and curves.png for a comparison study.

        Deterministic: the same run directory always gives the same files. Works on an
        unfinished study (missing seeds are reported as missing).
        """
        from pptrain_core.errors import UserError

        if not 0.0 < ci < 1.0:
            raise UserError(f"--ci must be between 0 and 1 (exclusive), got {ci}; use e.g. --ci 0.95.")
        if bootstrap < 100:
            raise UserError(f"--bootstrap must be at least 100 resamples, got {bootstrap}; use e.g. --bootstrap 10000.")

        from pptrain_analytics.report import write_report

        summary = write_report(run_dir, level=ci, n_resamples=bootstrap)
        if as_json:
            sys.stdout.write(json.dumps(summary, indent=2) + "\n")
            return
        _print_table(summary)


def _print_table(summary: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    probe = Console()
    con = Console(highlight=False, soft_wrap=False, width=None if probe.is_terminal else 160)
    level = f"{summary['level'] * 100:g}%"
    table = Table(title=f"{summary['design']} comparison vs {summary['baseline']} ({len(summary['seeds'])} seeds)")
    for col in ("arm", "status", f"final loss [{level} CI]", "Δ vs baseline", "sign-flip p", "speed-up"):
        table.add_column(col, overflow="fold")

    def iv(d, signed=False):
        if not d or d.get("estimate") is None:
            return "-"
        f = "{:+.3f}" if signed else "{:.3f}"
        if d.get("n", 2) < 2:
            return f.format(d["estimate"])
        return f"{f.format(d['estimate'])} [{f.format(d['low'])}, {f.format(d['high'])}]"

    for arm in summary["arms"]:
        comp = arm["vs_baseline"]
        delta = "-"
        p = "-"
        if comp and comp["n_pairs"]:
            delta = iv(
                {"estimate": comp["mean_diff"], "low": comp["low"], "high": comp["high"], "n": comp["n_pairs"]}, True
            )
            p = "-" if comp["p_sign_flip"] is None else f"{comp['p_sign_flip']:.3g}"
        sp = arm["speedup"] or {}
        speed = "-" if sp.get("geo_mean") is None else f"{sp['geo_mean']:.2f}x"
        name = arm["name"] + (" (baseline)" if arm["is_baseline"] else "")
        status = arm["status"]
        style = {"ok": "green", "incomplete": "yellow", "broken": "red", "missing": "yellow"}.get(status, "")
        table.add_row(name, f"[{style}]{status}[/{style}]", iv(arm["final_loss"]), delta, p, speed)
    con.print(table)
    broken = [a["name"] for a in summary["arms"] if a["status"] == "broken"]
    if broken:
        con.print(f"[red]broken (numbers withheld, see the Gates section): {', '.join(broken)}[/red]")
    files = summary["files"]
    con.print(f"wrote {files['markdown']}, {files['csv']}, {files['summary_csv']}, {files['png']}")
