"""User-facing errors: one base class that carries the CLI exit code.

Every entry point (train.py, eval.py, the prepare and export tools, experiments)
runs through `run_cli`, which prints a CpstnError as one line `error: ...` on
stderr (a DataError may go on to list the data layouts it reads) and returns its
exit code, so no user mistake ends in a traceback.
"""
import re
import sys
from typing import Callable


class CpstnError(Exception):
    """Base of every error a user can cause: bad flags, data, checkpoints. Exit code 2."""
    exit_code = 2
    keep_lines = False   # run_cli prints the message on one line unless a class keeps its lines


class UsageError(CpstnError):
    """A bad flag, config file or setting."""


class DataError(CpstnError):
    """Bad or missing data: the message names the file and what is wrong (on its first line;
    the next lines may list the data layouts that are read, one per line)."""
    keep_lines = True


class CheckpointError(CpstnError):
    """Missing, unreadable or incompatible checkpoint."""


class EvalError(CpstnError):
    """An evaluation that cannot run as asked."""


class TrainingDiverged(CpstnError):
    """The loss became NaN or inf: exit code 1 (the settings, not the command line, are at fault)."""
    exit_code = 1


def one_line(e) -> str:
    """Messages that wrap a library's error (torch.load, ...) can span lines; users get one."""
    return " ".join(str(e).split())


def message(e: CpstnError) -> str:
    """What the user reads: the error's own text, without the traceback a DataLoader worker
    wraps around an error it re-raises in the main process."""
    text = str(e)
    if text.startswith("Caught ") and "Original Traceback" in text:
        own = list(re.finditer(rf"^(?:[\w.]+\.)?{type(e).__name__}: ", text, re.MULTILINE))
        if own:
            text = text[own[-1].end():].rstrip("\n")
    return text if e.keep_lines else one_line(text)


def run_cli(main: Callable[[], object], interrupted_hint: str = "") -> int:
    """Call main(); CpstnError -> 'error: ...' on stderr and its exit code; Ctrl-C -> 130."""
    try:
        main()
    except CpstnError as e:
        print(f"error: {message(e)}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted" + (f"; {interrupted_hint}" if interrupted_hint else ""), file=sys.stderr)
        return 130
    return 0
