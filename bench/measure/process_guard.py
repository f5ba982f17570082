"""What a model can do to the measuring process itself: end it, fork it, or flood its output.

`os._exit(0)` in a model ended the whole run with exit 0, no row and no report; a factory that
forked without exiting left two processes measuring the rest of the suite (6 CSV rows for 3
cases). In a case measured in this process (not `--isolate`, whose worker may do anything):

- `os._exit` is replaced, for the case, by a function that raises `ModelExited` in this process
  (the case's error row) and exits for real in any other (a forked child, a multiprocessing
  worker, which must be able to leave);
- a fork is counted (`os.register_at_fork`), and a child that comes back into bench's own loop
  ends there, before it can write anything; the parent's row says the model forked.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import os
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass


class ModelExited(BaseException):
    """The model called os._exit: its case's error, not the end of the run."""


@dataclass
class ProcessWatch:
    """Filled in while a case runs: the forks it made."""

    forks: int = 0

    def notes(self) -> tuple[str, ...]:
        if not self.forks:
            return ()
        return (
            f"the model forked {self.forks} process(es); a child that came back into bench's "
            "loop instead of exiting was ended there, before it could write a row",
        )


_FORKS = [0]  # forks made by this process since it started (os.register_at_fork below)


def _count_fork() -> None:
    _FORKS[0] += 1


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_count_fork)


@contextlib.contextmanager
def process_guard() -> Iterator[ProcessWatch]:
    """Guard one case (see the module doc); on leaving, a forked child ends itself."""
    home = os.getpid()
    real_exit = os._exit
    forks_before = _FORKS[0]
    watch = ProcessWatch()

    def guarded_exit(status: int) -> None:
        if os.getpid() != home:
            real_exit(status)
        raise ModelExited(f"the model called os._exit({status})")

    os._exit = guarded_exit  # type: ignore[assignment]
    try:
        yield watch
    finally:
        os._exit = real_exit
        if os.getpid() != home:  # a forked child is back in bench's loop: it must not go on
            real_exit(0)
        watch.forks = _FORKS[0] - forks_before


class CappedOutput(io.TextIOBase):
    """Where a case's prints go: counted, the first KEPT_CHARS kept, the rest dropped, so a
    model printing megabytes (every call, thousands of calls) neither floods the progress display
    nor grows without bound."""

    KEPT_CHARS = 2000

    def __init__(self) -> None:
        super().__init__()
        self.chars = 0
        self.kept: list[str] = []
        self._room = self.KEPT_CHARS

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.chars += len(text)
        if self._room > 0:
            self.kept.append(text[: self._room])
            self._room -= len(self.kept[-1])
        return len(text)

    def notes(self) -> tuple[str, ...]:
        if not self.chars:
            return ()
        first = " ".join("".join(self.kept).split())[:200]
        return (
            f"the model printed {self.chars:,} characters to stdout (kept off the terminal); "
            f"they began: {first}",
        )


@contextlib.contextmanager
def captured_stdout() -> Iterator[CappedOutput]:
    """A case's Python-level stdout, into a CappedOutput (see there)."""
    sink = CappedOutput()
    with contextlib.redirect_stdout(sink):
        yield sink


_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """Ask the kernel for SIGKILL when the parent dies (Linux); exit now if it already has."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # died before the request took effect
        os._exit(1)
