"""Run the ``pptrain`` CLI in-process from a test, and check its error contract.

from pptrain_core.testing.cli import one_sentence, run_cli

def test_refuses_a_bad_preset(capsys):
    code, out, err = run_cli(capsys, "sample", "mytask:nope")
    assert code == 2 and "preset" in one_sentence(err)
"""

from __future__ import annotations

from typing import Any


def run_cli(capsys: Any, *args: Any) -> tuple[int, str, str]:
    """``pptrain ARGS...`` in this process (arguments are turned into strings): its exit status,
    standard output and standard error, read through pytest's ``capsys``."""
    from pptrain_core.cli import main

    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_sentence(err: str) -> str:
    """``err`` itself, after asserting that it is the CLI's error form: one line starting
    ``error: ``, no traceback."""
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err
