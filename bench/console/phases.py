"""What a run is doing right now, for whoever shows it: build, count, compile, warmup and
sampling, memory, report.

The measuring code announces each phase as it enters it; the live progress display listens and
shows the phase and how long it has run, so a minute spent counting a large model's FLOPs or
writing the report reads as that, not as a frozen "measuring". Nothing listens by default (the
tests, a notebook), and an announcement then costs one empty loop. No torch here: the display
imports this on the torch-free verbs too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

BUILD = "building the model"
COUNT = "counting FLOPs"
COMPILE = "compiling"
TIME = "warmup and sampling"
MEMORY = "memory pass"
INSTRUCTIONS = "counting instructions"
PROFILE = "profiling"
REPORT = "writing the report"

_listeners: list[Callable[[str], None]] = []


def announce(phase: str) -> None:
    """Tell every listener that the run has entered `phase` (one of the names above)."""
    for listener in list(_listeners):
        listener(phase)


@contextlib.contextmanager
def listening(listener: Callable[[str], None]) -> Iterator[None]:
    """Call `listener(phase)` on every announcement made inside the block."""
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)
