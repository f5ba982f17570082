"""stdout and stderr that never crash a run: a closed pipe, a closed descriptor (`2>&-`) or a
file-size limit (`ulimit -f`) becomes an error line or silence, never a traceback."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from pathlib import Path

from bench.errors import WriteError

RUN_DIRS: list[Path] = []  # the run directory, once it exists (for the closing message)


def announce(run_dir: Path) -> None:
    """Print the run directory on stdout (scripts read it); a closed pipe stops the run."""
    RUN_DIRS.append(run_dir)
    try:
        print(run_dir, flush=True)
    except BrokenPipeError:
        silence(sys.stdout)  # or Python's exit-time flush reports the same broken pipe again
        raise WriteError(f"stdout: the pipe was closed; the run is in {run_dir}") from None


def silence(stream: object) -> None:
    """Point a broken stream's descriptor at /dev/null so nothing tries to write to it again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())  # type: ignore[attr-defined]
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def ensure_streams() -> None:
    """With stdout or stderr closed (`2>&-`) Python sets sys.stderr to None, and every warning
    or print to it would fail inside the cases: give such a stream /dev/null instead. Writes
    past `ulimit -f` become an OSError (EFBIG) rather than killing the run by SIGXFSZ."""
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115
    if hasattr(signal, "SIGXFSZ"):
        with contextlib.suppress(ValueError):  # not the main thread: leave it be
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def say(line: str) -> None:
    """The closing line on stderr; a closed stderr cannot hear it, and must not crash us."""
    try:
        print(line, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        silence(sys.stderr)
