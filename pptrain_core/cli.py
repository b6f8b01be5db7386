"""The ``pptrain`` command line (Typer + rich).

Every listing has ``--json`` for scripts. A user mistake prints one sentence and exits
with status 2; a traceback means a bug in pptrain or a plugin.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import attrs
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from pptrain_core.errors import UserError

app = typer.Typer(
    name="pptrain",
    help="Pre-pretrain language models on synthetic data: discover tasks, inspect presets, sample examples.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

JSON_OPT = typer.Option(False, "--json", help="Print machine-readable JSON instead of a table.")
SET_OPT = typer.Option(
    None, "--set", help="Override one config value, e.g. --set k=8 (repeatable; values are read as YAML scalars)."
)


def _console() -> Console:
    # Piped output (CI logs, files) gets a wide table instead of rich's 80-column default.
    probe = Console()
    return Console(highlight=False, soft_wrap=False, width=None if probe.is_terminal else 160)


def _emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False) + "\n")


def _registry():
    from pptrain_core.plugins import get_registry

    return get_registry()


def _overrides(items: list[str] | None) -> dict[str, Any]:
    from pptrain_core.config import parse_override, set_dotted

    out: dict[str, Any] = {}
    for item in items or []:
        key, value = parse_override(item)
        set_dotted(out, key, value)
    return out


def _print_version(value: bool) -> None:
    if not value:
        return
    from pptrain_core import __version__

    lines = [f"pptrain-core {__version__} (Python {sys.version.split()[0]})"]
    seen: set[str] = set()
    for record in _registry().plugins:
        dist = record.distribution or record.name
        if record.core or dist in seen:
            continue
        seen.add(dist)
        status = "" if record.status == "loaded" else f" ({record.status})"
        lines.append(f"  {dist} {record.version or '?'}{status}")
    if len(lines) > 1:
        lines.insert(1, "plugins:")
    sys.stdout.write("\n".join(lines) + "\n")
    raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        is_eager=True,
        callback=_print_version,
        help="Print the versions of pptrain-core and of every installed plugin, and exit.",
    ),
) -> None:
    pass


# --------------------------------------------------------------------------- listings


@app.command("list-tasks")
def list_tasks(as_json: bool = JSON_OPT) -> None:
    """List the installed task families and the plugin each comes from."""
    reg = _registry()
    rows = []
    for name in sorted(reg.tasks):
        spec = reg.tasks[name]
        owner = reg.owner("register_tasks", name)
        rows.append(
            {
                "name": name,
                "summary": spec.summary,
                "citation": spec.citation,
                "presets": [p.name for p in spec.presets],
                "default_preset": spec.default_preset,
                "plugin": owner.distribution,
                "plugin_version": owner.version,
            }
        )
    if as_json:
        _emit_json(rows)
        return
    con = _console()
    if not rows:
        con.print("No task families are installed. Install one, e.g. `pip install pptrain-dyck`.")
        return
    table = Table(title="Installed task families")
    for col in ("task", "plugin", "presets", "summary"):
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(row["name"], f"{row['plugin']} {row['plugin_version']}", str(len(row["presets"])), row["summary"])
    con.print(table)
    broken = [p for p in reg.plugins if p.status == "broken"]
    if broken:
        con.print(f"[yellow]{len(broken)} plugin(s) failed to load; `pptrain plugins` says why.[/yellow]")
    clashes = sorted({c.name for c in reg.unresolved() if c.hook == "register_tasks"})
    if clashes:
        con.print(
            f"[yellow]{len(clashes)} task name(s) registered by two plugins are not used ({', '.join(clashes)}); "
            "`pptrain plugins` says how to choose.[/yellow]"
        )


@app.command("tasks", hidden=True)
def tasks_alias(
    task: str | None = typer.Argument(None, help="A family: list its presets (as `pptrain presets TASK`)."),
    as_json: bool = JSON_OPT,
) -> None:
    """pptrain 0.3.0's spelling of `list-tasks` (and, with a family, of `presets TASK`)."""
    if task is None:
        list_tasks(as_json)
    else:
        presets(task, as_json)


@app.command("plugins")
def plugins(as_json: bool = JSON_OPT) -> None:
    """List every discovered plugin with its status (loaded, broken, disabled) and why."""
    reg = _registry()
    records = [r.to_json() for r in reg.plugins]
    if as_json:
        _emit_json(records)
        return
    table = Table(title="pptrain plugins")
    for col in ("plugin", "distribution", "status", "provides / reason"):
        table.add_column(col, overflow="fold")
    colors = {"loaded": "green", "broken": "red", "disabled": "yellow"}
    for r in records:
        detail = r["reason"] or "; ".join(
            f"{hook.removeprefix('register_')}: {', '.join(names)}" for hook, names in r["provides"].items()
        )
        lines = [detail or "-"] + [f"conflict: {c['message']}" for c in r["conflicts"]]
        status = Text(r["status"], style=colors.get(r["status"], ""))
        dist = f"{r['distribution'] or '?'} {r['version'] or ''}".strip()
        table.add_row(Text(r["name"]), Text(dist), status, Text("\n".join(lines)))  # plugin text is not markup
    _console().print(table)


@app.command("presets")
def presets(task: str = typer.Argument(..., help="Task family name."), as_json: bool = JSON_OPT) -> None:
    """List a task's presets with the provenance of their values."""
    from pptrain_core.tasks import split_ref

    name, _ = split_ref(task)
    spec = _registry().task(name)
    rows = [
        {
            "name": p.name,
            "summary": p.summary,
            "status": p.status(),
            "default": p.name == spec.default_preset,
            "paper": p.source.paper,
            "repo": p.source.repo,
            "values": dict(p.values),
            "provenance": {k: {"status": v.status, "note": v.note} for k, v in sorted(p.provenance.items())},
        }
        for p in spec.presets
    ]
    if as_json:
        _emit_json(rows)
        return
    table = Table(title=f"Presets of {spec.name}")
    for col in ("preset", "provenance", "summary", "source"):
        table.add_column(col, overflow="fold")
    for row in rows:
        mark = " (default)" if row["default"] else ""
        source = ", ".join(s for s in (row["paper"], row["repo"]) if s)
        table.add_row(row["name"] + mark, row["status"], row["summary"], source or "-")
    _console().print(table)


@app.command("describe")
def describe(
    task: str = typer.Argument(..., help="TASK or TASK:PRESET."),
    overrides: list[str] | None = SET_OPT,
    stats: bool = typer.Option(False, "--stats", help="Measure statistics of a sample of examples."),
    sample_size: int = typer.Option(200, "--sample", min=1, help="Examples measured by --stats."),
    seed: int = typer.Option(0, "--seed", min=0, help="Dataset seed for --stats."),
    as_json: bool = JSON_OPT,
) -> None:
    """Show the resolved config, where each preset value comes from, and the vocabulary."""
    from pptrain_core.tasks import resolve

    resolved = resolve(task, _overrides(overrides))
    info = resolved.describe()
    built = resolved.build()
    info["vocabulary"] = built.vocab.describe()
    if stats:
        from pptrain_core.stats import task_stats

        info["stats"] = task_stats(built, sample=sample_size, seed=seed)
    if as_json:
        _emit_json(info)
        return
    con = _console()
    con.print(f"[bold]{info['task']}[/bold]" + (f":{info['preset']}" if info["preset"] else ""), "-", info["summary"])
    if info["citation"]:
        con.print(f"citation: {info['citation']}")
    if info.get("source"):
        src = info["source"]
        con.print("source: " + ", ".join(f"{k}={v}" for k, v in src.items() if v))
    table = Table(title="Resolved config")
    for col in ("field", "value", "provenance", "note"):
        table.add_column(col, overflow="fold")
    prov = info.get("provenance", {})
    for key, value in info["config"].items():
        p = prov.get(key)
        table.add_row(key, json.dumps(value), p["status"] if p else "default", p["note"] if p else "")
    con.print(table)
    voc = info["vocabulary"]
    specials = ", ".join(f"{k}={v}" for k, v in voc["special_ids"].items()) or "none"
    con.print(f"vocabulary: {voc['size']} ids; special ids: {specials}; first names: {' '.join(voc['first_names'])}")
    if stats:
        from pptrain_core.stats import flatten_stats

        stats_table = Table(title=f"Statistics ({sample_size} examples, seed {seed})")
        stats_table.add_column("statistic", overflow="fold")
        stats_table.add_column("value", overflow="fold")
        for key, shown in flatten_stats(info["stats"]):
            stats_table.add_row(key, shown)
        con.print(stats_table)


@app.command("sample")
def sample(
    task: str = typer.Argument(..., help="TASK or TASK:PRESET."),
    n: int = typer.Option(3, "-n", "--num", min=1, help="How many examples."),
    seed: int = typer.Option(0, "--seed", min=0, help="Dataset seed."),
    split: str = typer.Option("train", "--split", help="Split name: train or eval."),
    start: int = typer.Option(0, "--start", min=0, help="Index of the first example."),
    overrides: list[str] | None = SET_OPT,
    max_tokens: int = typer.Option(
        160, "--max-tokens", min=1, help="Show at most this many tokens per example (text mode)."
    ),
    as_json: bool = JSON_OPT,
) -> None:
    """Print examples; tokens that carry loss are shown in bold.

    With --json, one JSON object per line: tokens, loss_mask, text, index, meta.
    """
    from collections import OrderedDict

    from pptrain_core.data import example_at
    from pptrain_core.tasks import resolve

    if split not in ("train", "eval"):
        raise UserError(f"--split must be 'train' or 'eval', got {split!r}.")
    resolved = resolve(task, _overrides(overrides))
    built = resolved.build()
    con = None if as_json else _console()
    blocks: OrderedDict = OrderedDict()  # one generation per block, as `generate` and training read
    for index in range(start, start + n):
        ex = example_at(built, seed, split, index, cache=blocks, cache_blocks=1)
        if as_json:
            record = {
                "task": resolved.ref,
                "split": split,
                "seed": seed,
                "index": index,
                "tokens": ex.tokens.tolist(),
                "loss_mask": ex.loss_mask.tolist(),
                "text": built.render(ex),
                "meta": ex.meta,
            }
            sys.stdout.write(json.dumps(record, default=_json_default) + "\n")
            continue
        rich_view = getattr(built, "render_rich", None)
        if callable(rich_view):
            con.print(
                f"[bold]#{index}[/bold] {resolved.ref} [{split}] {len(ex)} tokens, {int(ex.loss_mask.sum())} with loss"
            )
            con.print(rich_view(ex))
            con.print()
            continue
        from pptrain_core.tasks import default_render

        text = default_render(built, ex, max_tokens=max_tokens)
        con.print(
            f"[bold]#{index}[/bold] {resolved.ref} [{split}] {len(ex)} tokens, "
            f"{int(ex.loss_mask.sum())} with loss (bold)"
        )
        con.print(text)
        con.print()


@app.command("generate")
def generate(
    task: str = typer.Argument(..., help="TASK or TASK:PRESET."),
    split: str = typer.Option("train", "--split", help="Split to write (train, eval, ...)."),
    count: int = typer.Option(..., "--count", help="Number of examples in the whole split (all shards)."),
    out: str = typer.Option(..., "--out", help="Output directory."),
    seed: int = typer.Option(0, "--seed", help="Dataset seed."),
    start: int = typer.Option(0, "--start", help="Index of the first example."),
    shard: str = typer.Option("0/1", "--shard", help="Write shard i of n, e.g. 2/8 (for several machines)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing shard."),
    overrides: list[str] | None = SET_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Write a split to disk as token shards (tokens, loss mask, offsets, manifest) for other trainers."""
    from pptrain_core.shards import parse_shard, write_shards
    from pptrain_core.tasks import resolve

    index, total = parse_shard(shard)
    resolved = resolve(task, _overrides(overrides))
    manifest = write_shards(
        resolved,
        split=split,
        count=count,
        out_dir=out,
        seed=seed,
        shard_index=index,
        num_shards=total,
        start=start,
        overwrite=overwrite,
        progress=not as_json,
    )
    if as_json:
        _emit_json(json.loads(Path(manifest).read_text(encoding="utf-8")))
    else:
        _console().print(f"wrote {manifest}")


@app.command("transfer")
def transfer(
    bundle: str = typer.Argument(..., help="A transfer bundle (the bundle/ folder of a finished run)."),
    model: str | None = typer.Option(
        None,
        "--model",
        help="Target: a model file (adapter + params), a save_pretrained dir, or omitted for the bundle's own architecture.",
    ),
    policy: str | None = typer.Option(None, "--policy", help="Transfer policy (default: the bundle's suggestion)."),
    overrides: list[str] | None = typer.Option(None, "--set", help="Policy option, e.g. --set copy_positions=true."),
    vocab_size: int | None = typer.Option(None, "--vocab-size", help="Target vocabulary size."),
    tokenizer: str | None = typer.Option(
        None, "--tokenizer", help="Local HF tokenizer dir: sets the vocabulary size and is copied along."
    ),
    out: str | None = typer.Option(None, "--out", help="Output directory (an HF save_pretrained folder)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the target's fresh initialisation."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the report; write nothing."),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace --out if it is an earlier transfer output (nothing else is replaced)."
    ),
    as_json: bool = JSON_OPT,
) -> None:
    """Move a bundle's weights into a fresh downstream model under a transfer policy.

    --out must be new or empty; the bundle is data, so a bundle whose adapter names code
    (torch_module's factory) needs --model naming the target yourself.
    """
    from pptrain_core.transfer.run import transfer_bundle

    result = transfer_bundle(
        bundle,
        out_dir=out,
        model=model,
        policy=policy,
        policy_params=_overrides(overrides),
        vocab_size=vocab_size,
        tokenizer=tokenizer,
        seed=seed,
        dry_run=dry_run,
        overwrite=overwrite,
    )
    if as_json:
        _emit_json({"out": str(result.out_dir) if result.out_dir else None, "report": result.report.to_json()})
        return
    con = _console()
    result.report.render(con)
    if result.out_dir:
        con.print(f"wrote {result.out_dir} (load it with AutoModelForCausalLM.from_pretrained)")
    else:
        con.print("dry run: nothing written")


@app.command("fit")
def fit(
    config: str = typer.Argument(..., help="Job file (YAML or TOML) with task, model and run sections."),
    overrides: list[str] | None = typer.Option(
        None, "--set", help="Override a job value by its path, e.g. --set run.max_steps=50 (repeatable)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the run summary as JSON."),
    eval_config: str | None = typer.Option(
        None, "--eval-config", help="Eval file run after training: text perplexity, metrics (see configs/)."
    ),
) -> None:
    """Pre-pretrain a model on a task; writes a run directory and a transfer bundle.

    Works under torchrun / accelerate launch: every rank reads disjoint examples.
    """
    from pptrain_core.training.job import load_job
    from pptrain_core.training.trainer import PrePreTrainer

    resolved, adapter, run = load_job(config, overrides)
    if eval_config is not None:
        from pptrain_core.evalconfig import load_eval_config, run_eval_config

        evals = load_eval_config(eval_config)  # a bad eval file fails before training
    if int(os.environ.get("RANK", "0")) == 0:  # other ranks would race rank 0's first files
        from pptrain_core.outputs import check_output_dir

        # a new, empty or earlier run directory (resume) only: never someone's own folder
        check_output_dir(
            run.output_dir, option="run.output_dir", markers=["job.json", "run.json"], kind="a pptrain run"
        )
    if as_json:
        run = attrs.evolve(run, progress=False)
    result = PrePreTrainer(resolved, adapter, run).fit()
    if int(os.environ.get("RANK", "0")) != 0:
        return
    info = {
        "run_dir": str(result.run_dir),
        "bundle": str(result.bundle_dir) if result.bundle_dir else None,
        "loss_curve": str(result.run_dir / "loss_curve.png"),
        **result.summary,
    }
    if eval_config is not None:
        info["eval"] = run_eval_config(evals, result, adapter)
    if as_json:
        _emit_json(info)
        return
    con = _console()
    table = Table(title=f"pre-pretraining finished: {resolved.ref} on {adapter.name}")
    table.add_column("what")
    table.add_column("value", overflow="fold")
    for key, value in info.items():
        table.add_row(key, "-" if value is None else str(value))
    con.print(table)


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


# --------------------------------------------------------------------------- entry point


_commands_added = False


def build_app() -> typer.Typer:
    """The root app with plugin commands added (each plugin isolated), once per process."""
    global _commands_added
    if not _commands_added:
        reg = _registry()
        reg.add_commands(app)
        _commands_added = True
        for note in reg.notices:  # a typo in a PPTRAIN_* variable: said once, never fatal
            sys.stderr.write(f"warning: {note}.\n")
    return app


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: user mistakes become one sentence and exit status 2."""
    try:
        build_app()(args=argv, prog_name="pptrain")
    except UserError as exc:
        message = str(exc).rstrip()
        if not message.endswith((".", "?", "!")):
            message += "."
        sys.stderr.write(f"error: {message}\n")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt as exc:  # Ctrl-C while plugins load: the message names the plugin
        sys.stderr.write(f"error: {str(exc) or 'interrupted'}.\n")
        sys.exit(130)
