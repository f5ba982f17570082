"""The GPU's SM clock and throttle reasons from NVML, read beside each timed sample.

A GPU that hits its power or thermal limit lowers its clocks mid-run, and the samples taken
then are slower for a reason that has nothing to do with the model: nvbench discards samples
taken below 75% of the default SM clock. bench keeps them but flags the row `throttled`
(bench/records/latency.py) with the reasons NVML gave.

NVML comes from `nvidia-ml-py` (the `gpu` extra), imported lazily: without it, or without a
driver, there is no monitor and the row's `throttled` cell is empty, with the reason in the
row's notes. The NVML module is a parameter, so tests drive all of this with a fake one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

THROTTLE_FRACTION = 0.75
"""A sample read below this fraction of the default SM clock ran throttled (nvbench's rule)."""


@dataclass(frozen=True)
class ClockReading:
    """One reading: the SM clock in MHz and NVML's throttle-reason bitmask at that moment."""

    sm_mhz: int
    reasons: int = 0


class ClockMonitor(Protocol):
    """What the timing engine reads after each timed block (outside the timed region)."""

    default_sm_mhz: int | None  # the clock the device runs at by default (None: unknown)

    def read(self) -> ClockReading | None:
        """The current reading; None when NVML could not answer this time."""
        ...
