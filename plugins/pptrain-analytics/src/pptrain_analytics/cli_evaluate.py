"""``pptrain evaluate MODEL_OR_BUNDLE --metric NAME ...``: run registered metrics on one model (or a pair).

Module level imports only typer and the standard library, so ``pptrain --help`` stays
fast; the metrics, torch and transformers load inside the command.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import typer

_MODEL_HELP = "A bundle folder, a local save_pretrained folder, or 'scratch' (fine-tuning probes from scratch)."
_SET_HELP = (
    "A metric setting, e.g. --set steps=200, or METRIC.key=value for one metric only "
    "(repeatable; values are read as YAML scalars)."
)

#: Result keys shown in the table, per metric (others: every top-level number).
HEADLINES: dict[str, tuple[str, ...]] = {
    "needle": ("accuracy", "initial_accuracy", "chance_accuracy", "sequence_accuracy", "start", "eval_examples"),
    "reversed_addition": ("accuracy", "initial_accuracy", "sequence_accuracy", "start", "eval_examples"),
    "cka": ("mean_diagonal", "diagonal", "layers"),
    "prediction_divergence": ("kl_pq", "kl_qp", "js", "top1_agreement", "positions"),
    "induction_head_score": ("max", "argmax", "uniform_baseline"),
    "effective_rank": ("hidden_states.effective_rank", "hidden_states.max_rank"),
    "nca_icl": ("frame_loss", "exact_match", "cell_accuracy"),
}


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        inner = ", ".join(_short(v) for v in value[:12])
        return f"[{inner}{', ...' if len(value) > 12 else ''}]"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_short(v)}" for k, v in value.items())
    return "-" if value is None else str(value)


def _lookup(result: dict[str, Any], dotted: str) -> Any:
    cur: Any = result
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def headline(metric: str, result: dict[str, Any]) -> list[tuple[str, str]]:
    """(key, shown value) pairs for the table."""
    keys = HEADLINES.get(metric) or tuple(
        k for k, v in result.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
    )
    return [(k, _short(_lookup(result, k))) for k in keys if _lookup(result, k) is not None]


def route_settings(items: list[str] | None, metrics: list[str], registry: Any) -> dict[str, dict[str, Any]]:
    """Per metric, the ``--set`` values it accepts; a key no requested metric knows is an error."""
    from pptrain_analytics.evaluate import accepted_settings
    from pptrain_core.config import parse_override
    from pptrain_core.errors import UserError, did_you_mean

    accepted = {m: accepted_settings(registry.get("register_metrics", m)) for m in metrics}
    out: dict[str, dict[str, Any]] = {m: {} for m in metrics}
    for item in items or []:
        key, value = parse_override(item, path="$.metrics")
        head, dot, rest = key.partition(".")
        if dot and head in accepted:
            if rest not in accepted[head]:
                hint = did_you_mean(rest, accepted[head])
                raise UserError(f"--set {key}: metric '{head}' has no setting '{rest}'{hint}.")
            out[head][rest] = value
            continue
        targets = [m for m in metrics if key in accepted[m]]
        if not targets:
            every = sorted({k for keys in accepted.values() for k in keys})
            raise UserError(f"--set {key}: no requested metric has a setting '{key}'{did_you_mean(key, every)}.")
        for m in targets:
            out[m][key] = value
    return out


def _earlier_output(path: Any) -> bool:
    """Whether ``path`` is a results file ``pptrain evaluate --out`` wrote (so it may be replaced)."""
    from pptrain_analytics.evaluate import FORMAT_VERSION

    if path.is_symlink() or not path.is_file():
        return False
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("format") == FORMAT_VERSION and isinstance(data.get("results"), list)


def register(app: typer.Typer) -> None:
    """Add ``pptrain evaluate`` to the root app."""

    @app.command("evaluate")
    def evaluate_command(
        model: str = typer.Argument(..., help=_MODEL_HELP),
        metrics: list[str] = typer.Option(
            ..., "--metric", "-m", help="Metric to run (repeatable); see `pptrain plugins`."
        ),
        other: str | None = typer.Option(
            None,
            "--other",
            help="Second model for pair metrics (cka, prediction_divergence): a bundle or model folder.",
        ),
        task: str | None = typer.Option(
            None, "--task", help="TASK[:PRESET] whose eval split feeds the metrics (default: the bundle's task)."
        ),
        overrides: list[str] | None = typer.Option(None, "--set", help=_SET_HELP),
        out: str | None = typer.Option(None, "--out", help="Also write every result as JSON to this file."),
        adapter_file: str | None = typer.Option(
            None,
            "--adapter",
            help="A model file (adapter + params) that rebuilds the bundle MODEL, for a bundle whose recorded "
            "adapter names code (a torch_module factory): you name the code, not the bundle.",
        ),
        as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON instead of a table."),
    ) -> None:
        """Run probes and representation metrics on a model (or a pair); print a table or JSON."""
        from pathlib import Path

        from rich.console import Console
        from rich.table import Table

        from pptrain_analytics.evaluate import FORMAT_VERSION, SCRATCH, evaluate, load_model
        from pptrain_core.bundle import write_json_atomic
        from pptrain_core.errors import UserError
        from pptrain_core.plugins import get_registry

        reg = get_registry()
        names = list(dict.fromkeys(metrics))
        specs = {m: reg.get("register_metrics", m) for m in names}
        settings = route_settings(overrides, names, reg)
        pairs = [m for m, s in specs.items() if s.kind == "pair"]
        if pairs and other is None:
            raise UserError(f"metric '{pairs[0]}' compares two models; pass the second one with --other.")
        if other is not None and not pairs:
            raise UserError("--other is only read by pair metrics (cka, prediction_divergence); leave it out.")
        if out is not None and Path(out).is_dir():
            raise UserError(f"--out {out!r} is a directory; give a file name such as results.json.")
        if out is not None and (Path(out).exists() or Path(out).is_symlink()) and not _earlier_output(Path(out)):
            raise UserError(
                f"--out {out!r} exists and is not an earlier `pptrain evaluate` result; choose another file name, "
                "since evaluate replaces only its own results."
            )
        con = Console(stderr=as_json, highlight=False)
        chosen = None
        if adapter_file is not None:
            from pptrain_core.transfer.run import adapter_from_model_file

            chosen = adapter_from_model_file(adapter_file, reg, option="--adapter")
        first = load_model(model, registry=reg, adapter=chosen)
        second = load_model(other, registry=reg) if other is not None else None
        if second is not None and second.model is None:
            raise UserError(f"--other must be a real model, not '{SCRATCH}'.")
        results = []
        for name in names:
            with con.status(f"running {name} ..."):
                results.append(
                    evaluate(
                        first,
                        name,
                        other=second if specs[name].kind == "pair" else None,
                        task=task,
                        registry=reg,
                        **settings[name],
                    )
                )
        payload = {"format": FORMAT_VERSION, "model": model, "other": other, "task": task, "results": results}
        if out is not None:
            write_json_atomic(Path(out), payload)
        if as_json:
            sys.stdout.write(json.dumps(payload, indent=2) + "\n")
            return
        table = Table(title=f"pptrain evaluate {model}" + (f" vs {other}" if other else ""))
        for col in ("metric", "key", "value"):
            table.add_column(col, overflow="fold")
        for record in results:
            rows = headline(record["metric"], record["result"])
            for i, (key, shown) in enumerate(rows or [("-", "-")]):
                table.add_row(record["metric"] if i == 0 else "", key, shown)
            table.add_section()
        con.print(table)
        if out is not None:
            con.print(f"wrote {out}")
