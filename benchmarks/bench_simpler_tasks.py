"""Throughput of `simpler_tasks` next to pptrain 0.3.0's `simpler_tasks` family, same process.

pptrain 0.3.0's import name ``pptrain`` clashes with our meta-package, so install it
into its own directory first:

    pip install --no-deps --target /tmp/pptrain030 pptrain==0.3.0
    python benchmarks/bench_simpler_tasks.py [--seconds 0.3] [--repeats 5] [--ref-path /tmp/pptrain030]

How ours and 0.3.0 are timed, and the table: `_family_bench.py`. Nothing here is a test.
"""

from __future__ import annotations

import _family_bench

from pptrain_simpler_tasks.specs import SIMPLER_TASKS

#: our preset -> the pptrain 0.3.0 preset generating the same task (its sizes differ)
OLD_MATCH = {
    "paper_copy": "paper_copy_1m",
    "paper_set": "paper_set_1m",
    "paper_first_char": "paper_first_token_100k",
    "paper_last_char": "paper_last_token_100k",
    "paper_unary_core": "paper_unary_core_1m",
    "paper_binary": "paper_binary_1m",
    "smoke": "smoke",
}


def old_families():
    from pptrain.tasks.simpler_tasks.config import SIMPLER_TASKS_PRESETS, SimplerTasksConfig
    from pptrain.tasks.simpler_tasks.task import SimplerTasksTaskFamily

    for preset in SIMPLER_TASKS_PRESETS:
        yield preset.name, lambda p=preset: SimplerTasksTaskFamily(SimplerTasksConfig(**p.config))


if __name__ == "__main__":
    _family_bench.main(
        section="simpler_tasks", family=SIMPLER_TASKS, match=OLD_MATCH, old_families=old_families, docstring=__doc__
    )
