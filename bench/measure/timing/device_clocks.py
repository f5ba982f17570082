"""Bring a GPU to its working clocks before a case is timed.

An idle GPU sits at a low clock (an H200 read 345 MHz before a run and 1980 MHz after it) and
takes tens to hundreds of milliseconds of load to raise it. The first case timed after start-up,
or after seconds of model building and FLOP counting on the host, was timed on the way up:
resnet50 fp32 b1 read 1.36x the reference, flagged not steady but still the row's number.

So before each CUDA case's timing, a fixed kernel (a square matmul) runs in timed slices until
its time per slice stops falling, by the engine's own steadiness rule; a warm device passes in
the minimum of slices (~tens of milliseconds). The row gets a note when the device was found
slow (its first slice over RAMP_NOTE_RATIO times its last): the case was timed after the ramp,
not during it. The timer and clock are parameters, so a fake device drives it in tests.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.measure.timing.engine import is_steady
from bench.measure.timing.timers import Clock, Timer

SLICE_CALLS = 8  # kernel calls per timed slice
MIN_SLICES = 10
STEADY_WINDOW = 5
STEADY_TOLERANCE = 0.03
MAX_S = 3.0  # a device that never settles is timed anyway; the engine's warmup judges it
RAMP_NOTE_RATIO = 1.2
MATMUL_SIZE = 2048


@dataclass(frozen=True)
class DeviceWarmup:
    """What bringing the device to its clocks took: slices, seconds, first and settled pace."""

    slices: int
    seconds: float
    first_slice_ms: float
    settled_slice_ms: float
    steady: bool

    @property
    def ramped(self) -> bool:
        """The device was markedly slower at first: it was below its working clocks."""
        return self.first_slice_ms > RAMP_NOTE_RATIO * self.settled_slice_ms

    def note(self) -> str:
        text = (
            f"GPU below its working clocks before timing: a {MATMUL_SIZE}x{MATMUL_SIZE} matmul "
            f"ran {self.first_slice_ms / self.settled_slice_ms:.2f}x slower at first; "
            f"{self.slices} slices ({self.seconds:.2f} s) brought it up before the case was timed"
        )
        if not self.steady:
            text += f"; still not settled after {MAX_S:g} s"
        return text


def warm_device(kernel: Callable[[], Any], timer: Timer, clock: Clock) -> DeviceWarmup:
    """Timed slices of `kernel` until the last STEADY_WINDOW are no faster than the ones before
    (at least MIN_SLICES, at most MAX_S seconds)."""
    timer.time_block(kernel, 1)  # lazy loading and library set-up belong to no slice
    start = clock()
    slices: list[float] = []
    steady = False
    while True:
        slices.append(timer.time_block(kernel, SLICE_CALLS).elapsed_ms)
        if len(slices) >= MIN_SLICES and is_steady(slices, STEADY_WINDOW, STEADY_TOLERANCE):
            steady = True
            break
        if (clock() - start) / 1e9 >= MAX_S:
            break
    return DeviceWarmup(
        slices=len(slices),
        seconds=(clock() - start) / 1e9,
        first_slice_ms=slices[0],
        settled_slice_ms=statistics.median(slices[-STEADY_WINDOW:]),
        steady=steady,
    )


def warm_cuda_device(device: Any) -> DeviceWarmup:
    """`warm_device` with a float32 matmul on `device`, timed by CUDA events."""
    import torch

    from bench.measure.timing.timers import CudaTimer

    a = torch.randn(MATMUL_SIZE, MATMUL_SIZE, device=device)
    return warm_device(lambda: torch.mm(a, a), CudaTimer(device), time.perf_counter_ns)
