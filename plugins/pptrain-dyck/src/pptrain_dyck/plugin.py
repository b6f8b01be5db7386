"""Entry-point module: registers the family specs. Imports no numpy and no generator code."""

from pptrain_core import hookimpl


@hookimpl
def register_tasks(register):
    from pptrain_dyck.dyck_specs import DYCK, SHUFFLE_DYCK
    from pptrain_dyck.language_specs import ARTIFICIAL_LANGUAGE

    register(DYCK)
    register(SHUFFLE_DYCK)
    register(ARTIFICIAL_LANGUAGE)
