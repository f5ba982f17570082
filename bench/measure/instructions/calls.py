"""The counting loop both sources share: warm up, then count each call alone, N repeats.

Only the model's call is counted: `setup` (clearing gradients in training) runs first,
uncounted, as it runs untimed for the latency. A repeat's count is the sum over its calls; the
case's count per call is the smallest repeat's (PyTorch's own instruction-count CI takes the
minimum of its runs too: anything extra a repeat picks up, a lazy initialisation or an allocator
growing, only ever adds).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bench.model.workload import Workload

WARMUP_CALLS = 3
"""Uncounted calls first: the first calls of a model allocate, pick kernels and fill caches."""


class Meter(Protocol):
    """Brackets one call: `begin` before it, `end` after it; `total` reads a repeat's sum."""

    def begin(self) -> None: ...

    def end(self, last: bool) -> None: ...

    def total(self) -> int | None: ...


@dataclass(frozen=True)
class Counted:
    """Instructions per call of each repeat, and the calls each repeat made."""

    per_repeat: tuple[int, ...]
    calls: int

    @property
    def per_call(self) -> int:
        return min(self.per_repeat)


def warm_up(workload: Workload, calls: int = WARMUP_CALLS) -> None:
    """Run `calls` uncounted calls; inside `workload.context()`."""
    for _ in range(calls):
        if workload.setup is not None:
            workload.setup()
        workload.run()


def count_calls(workload: Workload, meter: Meter, calls: int, repeats: int) -> Counted | None:
    """Count `repeats` repeats of `calls` calls; None if the meter read nothing. Inside
    `workload.context()`, after warm_up."""
    per_repeat = []
    for _ in range(repeats):
        for index in range(calls):
            if workload.setup is not None:
                workload.setup()
            meter.begin()
            workload.run()
            meter.end(last=index == calls - 1)
        total = meter.total()
        if total is None or total <= 0:
            return None
        per_repeat.append(round(total / calls))
    return Counted(per_repeat=tuple(per_repeat), calls=calls)
