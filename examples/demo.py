"""The main job on the embedded default: discover the installed families and show data.

Runs the real ``pptrain`` command line, exactly as a user would type it:

    pptrain list-tasks
    pptrain describe TASK            (for each installed family, its default preset)
    pptrain sample TASK -n 2

Later stages (training, transfer, the downstream comparison) join this script as they
land. Exit status is non-zero if any step fails, so CI runs it as a test.
"""

from __future__ import annotations

import json
import subprocess
import sys

CLI = [sys.executable, "-m", "pptrain_core"]


def run(*args: str, capture: bool = False) -> str:
    print(f"\n$ pptrain {' '.join(args)}", flush=True)
    proc = subprocess.run([*CLI, *args], text=True, capture_output=capture, check=True)
    return proc.stdout if capture else ""


def main() -> None:
    run("list-tasks")
    tasks = json.loads(run("list-tasks", "--json", capture=True))
    if not tasks:
        sys.exit("no task family is installed; install one, e.g. pip install -e plugins/pptrain-dyck")
    for task in tasks:
        ref = task["name"]
        run("describe", ref)
        run("sample", ref, "-n", "2", "--max-tokens", "48")
    print(f"\ndemo finished: {len(tasks)} task families discovered and sampled.")


if __name__ == "__main__":
    main()
