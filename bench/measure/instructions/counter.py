"""The CPU's retired-instruction counter, through torch's own binding.

`torch._C._instruction_counter` opens a perf event counting user-space instructions of the
calling thread (what PyTorch's compile-time CI gates on). Cloud VMs often hide the PMU: then
`start()` returns -1 and torch prints its failure to stderr from C++, which is silenced here so
the probe costs the terminal nothing.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Iterator
from typing import Any, Protocol

import torch

SOURCE = "perf"
NO_COUNTER = (
    "the CPU's instruction counter cannot be opened here (perf events hidden or not permitted, "
    "as on most cloud VMs)"
)


class CounterBackend(Protocol):
    """torch._C._instruction_counter's shape: start() -> handle (-1: failed), end(handle)."""

    def start(self) -> int: ...

    def end(self, handle: int) -> int: ...


class CounterMeter:
    """A calls.Meter over the hardware counter: one counter per call, summed per repeat."""

    def __init__(self, backend: CounterBackend) -> None:
        self._backend = backend
        self._handle = -1
        self._sum = 0

    def begin(self) -> None:
        self._handle = self._backend.start()

    def end(self, last: bool) -> None:
        self._sum += self._backend.end(self._handle)

    def total(self) -> int | None:
        total, self._sum = self._sum, 0
        return total


def hardware_counter(backend: Any = None) -> CounterBackend | None:
    """The counter when this machine lets a process open it, else None."""
    return _probe(backend) if backend is not None else _default_counter()


@functools.cache
def _default_counter() -> CounterBackend | None:
    return _probe(getattr(torch._C, "_instruction_counter", None))


def _probe(backend: Any) -> CounterBackend | None:
    if backend is None:
        return None
    with _quiet_stderr():
        handle = backend.start()
        if handle < 0:
            return None
        backend.end(handle)
    return backend


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """File descriptor 2 to /dev/null inside: torch's C++ writes there, not to sys.stderr."""
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
