"""What a model case is timed under besides its calls: a cold cache and the GPU's clocks.

`timing_conditions` is entered around one case's timing. It brings a CUDA device to its working
clocks first (bench/measure/timing/device_clocks.py), opens NVML's clock monitor for it
(bench/measure/timing/nvml.py), and for `cache = "cold"` allocates the flush buffer
(bench/measure/timing/flush.py), freed on exit so the memory pass that follows never sees it.
Each thing that changes what the row means leaves a note: the device was found slow, the clocks
could not be watched, what `cold` flushed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from bench.measure.timing.flush import CacheFlush, cache_flush, with_flush
from bench.measure.timing.nvml import ClockMonitor


@dataclass(frozen=True)
class Conditions:
    """The setup each timed call needs (the workload's, then the flush), the clock monitor
    (None: not CUDA, or NVML unavailable) and the row's notes."""

    setup: Callable[[], Any] | None
    clocks: ClockMonitor | None
    notes: tuple[str, ...]


@contextlib.contextmanager
def timing_conditions(
    device: str,
    cache: str,
    setup: Callable[[], Any] | None,
    warm_device: Callable[[str], Any] | None = None,
    open_monitor: Callable[[str], tuple[ClockMonitor | None, str]] | None = None,
    make_flush: Callable[[str], CacheFlush] = cache_flush,
) -> Iterator[Conditions]:
    """The conditions for one case on `device`; the warm-up and NVML seams default to the real
    ones on CUDA (tests pass fakes)."""
    notes: list[str] = []
    clocks: ClockMonitor | None = None
    if device.startswith("cuda"):
        if warm_device is None:
            from bench.measure.timing.device_clocks import warm_cuda_device as warm_device
        warmup = warm_device(device)
        if warmup.ramped:
            notes.append(warmup.note())
        clocks, why = (open_monitor or cuda_clock_monitor)(device)
        if clocks is None:
            notes.append(f"clocks not watched ({why}): `throttled` is empty")
    flush = make_flush(device) if cache == "cold" else None
    if flush is not None:
        notes.append(flush.note())
    try:
        yield Conditions(with_flush(setup, flush and flush.flush), clocks, tuple(notes))
    finally:
        if flush is not None:
            flush.release()


def cuda_clock_monitor(device: str) -> tuple[ClockMonitor | None, str]:
    """NVML's monitor for the CUDA device torch calls `device`, found by its UUID (torch's and
    NVML's indices differ under CUDA_VISIBLE_DEVICES), else by index."""
    import torch

    from bench.measure.timing.nvml import nvml_monitor

    index = torch.device(device).index or 0
    uuid = None
    with contextlib.suppress(Exception):  # an older torch has no uuid property
        text = str(torch.cuda.get_device_properties(index).uuid)
        uuid = text if text.startswith("GPU-") else f"GPU-{text}"
    return nvml_monitor(index, uuid=uuid)
