"""A testing kit for plugin authors, also used by every built-in family.

``parametrize_with_task_checks`` turns a list of task specs into one pytest case per
(spec, preset, check)::

    from pptrain_core.testing import parametrize_with_task_checks
    from my_plugin.specs import MY_TASK

    @parametrize_with_task_checks([MY_TASK], entry_point_module="my_plugin.plugin")
    def test_conformance(check):
        check()

The checks of every preset are :data:`TASK_CHECKS`; those of the optional task methods
(``stats``, ``render_rich``) are :data:`TASK_METHOD_CHECKS` and run once per spec, on its
default (else first) preset, like ``imports_light``.

Model adapters have their own suite in :mod:`pptrain_core.testing.adapters`
(``parametrize_with_adapter_checks``; it imports torch, so it is not re-exported here).

The fixtures (``pptrain_registry_factory``, ``pptrain_register``, ``pptrain_clean_registry``)
come from the pytest plugin ``pptrain_core.testing.pytest_plugin``, which pytest loads
automatically once pptrain-core is installed.
"""

from pptrain_core.testing.checks import (
    TASK_CHECKS,
    TASK_METHOD_CHECKS,
    TaskCheck,
    parametrize_with_task_checks,
    task_checks,
)

__all__ = ["TASK_CHECKS", "TASK_METHOD_CHECKS", "TaskCheck", "parametrize_with_task_checks", "task_checks"]
