"""Entry-point module: registers the NCA family and its in-context metric.

Imports no torch, no numpy and no generator code; the specs name them lazily.
"""

from pptrain_core import hookimpl


@hookimpl
def register_tasks(register):
    from pptrain_nca.specs import NCA

    register(NCA)


@hookimpl
def register_metrics(register):
    from pptrain_nca.specs import NCA_ICL

    register(NCA_ICL)
