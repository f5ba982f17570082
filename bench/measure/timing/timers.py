"""Timers: how one block of iterations is timed on the CPU and on a CUDA device.

CPU: `time.perf_counter_ns` read once before and once after a block of calls, so the clock's own
cost (tens of nanoseconds) is paid once per block, not once per call.

CUDA work is asynchronous, so a host clock around a forward call measures only the launch. The
CUDA timer synchronizes the case's own device (nothing queued earlier may leak into the block),
runs one untimed *lead* call, records a CUDA event on that device's current stream, runs the
block, records a second event, synchronizes once and reads the device-side elapsed time. It also
reads the host clock across the same region: when that wall time is much longer than the device
time, the host (the Python and launch overhead) is the limit, not the GPU.

The lead call is what makes a short block read the steady state. Right after a synchronize the
device's queue is empty: without it, the first timed call's kernels run only as fast as the host
launches them, and nothing overlaps that launch with earlier device work as it does in a loop.
A block of one to four calls of a model whose launch and device times are close then reads well
above the back-to-back figure: on an H200, a model built to show it (benchmarks/gpu/lead_proof.py)
read 1.61x torch.utils.benchmark with one-call blocks and 1.13x with four, and 0.976x and 0.972x
with the lead call (a back-to-back event loop: 0.977x); the first GPU check's resnet50 bf16 b32,
timed in blocks of a few calls, had read 1.46x three references that agreed to 0.05%. With the
lead call queued first, the start event completes only once the device has run it, and by then the
host is already launching the timed calls: each timed call has one before it, as in a loop.
The first (cold) call is timed without one; on the host, calls are synchronous and the lead is
not run.

The host clock and the CUDA backend (`torch.cuda` by default) are parameters, so tests drive the
timers with a fake clock and a fake device and check the exact synchronize/record/read order.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

Clock = Callable[[], int]
"""Returns monotonic time in nanoseconds."""

OVERHEAD_READS = 101
OVERHEAD_BATCHES = 9


@dataclass(frozen=True)
class BlockTiming:
    """One timed block: `elapsed_ms` is the measure (CPU wall or CUDA device time) of the whole
    block; `wall_ms` is the synchronized host wall time of a CUDA block, None on the CPU."""

    elapsed_ms: float
    wall_ms: float | None = None


Lead = Callable[[], Any] | None
"""The untimed call a CUDA block starts with (the timed call, and any setup it needs after)."""


def lead_call(fn: Callable[[], Any], setup: Callable[[], Any] | None) -> Callable[[], Any]:
    """The lead for fn: fn itself, followed by its setup when each call needs one (the timed call
    that follows must find, say, its gradients cleared, as every timed call does)."""
    if setup is None:
        return fn

    def call_then_setup() -> None:
        fn()
        setup()

    return call_then_setup


class Timer(Protocol):
    def time_block(self, fn: Callable[[], Any], iterations: int, lead: Lead = None) -> BlockTiming:
        """Run fn `iterations` times back to back and time the whole block; `lead`, when given,
        runs once before it, untimed, where the timer needs the device busy first."""
        ...

    def overhead_ns(self) -> float:
        """The cost of timing an empty block, which a block must dwarf to be accurate."""
        ...


class CpuTimer:
    """Host wall time of a block of calls."""

    def __init__(self, clock: Clock = time.perf_counter_ns) -> None:
        self.clock = clock
        self._overhead_ns: float | None = None

    def time_block(self, fn: Callable[[], Any], iterations: int, lead: Lead = None) -> BlockTiming:
        clock = self.clock  # the lead is not run: host calls are synchronous, nothing to fill
        if iterations == 1:
            start = clock()
            fn()
            end = clock()
        else:
            loop = range(iterations)
            start = clock()
            for _ in loop:
                fn()
            end = clock()
        return BlockTiming(elapsed_ms=(end - start) / 1e6)

    def overhead_ns(self) -> float:
        """Cost of one clock read: the median over batches of back-to-back reads, so one
        preemption during the probe does not inflate it (measured once per timer)."""
        if self._overhead_ns is None:
            per_read = []
            for _ in range(OVERHEAD_BATCHES):
                reads = [self.clock() for _ in range(OVERHEAD_READS)]
                per_read.append((reads[-1] - reads[0]) / (OVERHEAD_READS - 1))
            self._overhead_ns = statistics.median(per_read)
        return self._overhead_ns


class CudaTimer:
    """Device time of a block from CUDA events, plus its synchronized host wall time."""

    def __init__(self, device: Any, backend: Any = None, clock: Clock = time.perf_counter_ns):
        if backend is None:
            import torch

            backend = torch.cuda
        self.device = device
        self.backend = backend
        self.clock = clock
        self._overhead_ns: float | None = None

    def time_block(self, fn: Callable[[], Any], iterations: int, lead: Lead = None) -> BlockTiming:
        backend = self.backend
        stream = backend.current_stream(self.device)
        start = backend.Event(enable_timing=True)
        end = backend.Event(enable_timing=True)
        backend.synchronize(self.device)  # nothing queued earlier may leak into this block
        if lead is not None:
            lead()  # queued before the start event: the timed calls start in a busy pipeline
        host_start = self.clock()
        start.record(stream)
        for _ in range(iterations):
            fn()
        end.record(stream)
        backend.synchronize(self.device)  # the events are complete before they are read
        host_end = self.clock()
        return BlockTiming(
            elapsed_ms=float(start.elapsed_time(end)), wall_ms=(host_end - host_start) / 1e6
        )

    def overhead_ns(self) -> float:
        """Host wall time of an empty synchronized block (median of 5), measured once."""
        if self._overhead_ns is None:
            walls = [self.time_block(lambda: None, 1).wall_ms or 0.0 for _ in range(5)]
            self._overhead_ns = statistics.median(walls) * 1e6
        return self._overhead_ns
