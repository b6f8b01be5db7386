"""Entry-point module: registers the text-corpus and probe tasks, the metrics and the CLI commands.

Imports nothing heavy: specs are attrs objects with lazy factories, and each command
module imports torch, transformers or matplotlib inside its command bodies.
"""

from pptrain_core import hookimpl


@hookimpl
def register_tasks(register):
    from pptrain_analytics.corpus_specs import TASKS
    from pptrain_analytics.probe_specs import PROBE_TASKS

    for spec in (*TASKS, *PROBE_TASKS):
        register(spec)


@hookimpl
def register_metrics(register):
    from pptrain_analytics.metric_specs import METRICS

    for spec in METRICS:
        register(spec)


@hookimpl
def register_commands(app):
    from pptrain_analytics import cli_compare, cli_evaluate, cli_replicate, cli_report

    cli_compare.register(app)
    cli_report.register(app)
    cli_evaluate.register(app)
    cli_replicate.register(app)
