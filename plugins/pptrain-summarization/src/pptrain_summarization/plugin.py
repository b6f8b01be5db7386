"""Entry-point module: registers the family spec. Imports no numpy and no generator code."""

from pptrain_core import hookimpl


@hookimpl
def register_tasks(register):
    from pptrain_summarization.specs import SUMMARIZATION

    register(SUMMARIZATION)
