"""Entry-point module: registers the specs. Keep it light: no numpy, no torch, no generator."""

from pptrain_core import hookimpl


@hookimpl
def register_tasks(register):
    from pptrain_template.specs import TEMPLATE_REVERSE

    register(TEMPLATE_REVERSE)
