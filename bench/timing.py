"""The timing core: warmup, then timed iterations, with an injectable clock and CUDA backend.

CPU iterations are timed with `time.perf_counter_ns`. CUDA work is asynchronous, so a host clock
around a forward call measures only the launch: the CUDA timer synchronizes the case's own device,
brackets the call with CUDA events on that device's current stream, synchronizes again and reads
the device-side elapsed time. The synchronizes sit outside the events, so they are not timed.

Both the host clock and the CUDA backend are parameters, so tests can drive warmup and stopping
rules with a fake clock and check the event/synchronize order with a fake device, without a GPU.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from bench.records import LatencyStats

Clock = Callable[[], int]
"""Returns monotonic time in nanoseconds."""


@dataclass(frozen=True)
class TimingPolicy:
    """When to stop warming up and when to stop sampling.

    Warmup runs until both its iteration and time minimums are met: the first calls pay for lazy
    initialisation, allocator growth and autotuning, which are not the model's steady-state cost.
    Sampling runs until both minimums are met, or until `max_samples`.
    """

    warmup_min_iterations: int = 3
    warmup_min_s: float = 0.25
    min_samples: int = 10
    min_time_s: float = 1.0
    max_samples: int = 10_000


DEFAULT_POLICY = TimingPolicy()
QUICK_POLICY = TimingPolicy(
    warmup_min_iterations=1, warmup_min_s=0.0, min_samples=3, min_time_s=0.0, max_samples=3
)


# Tensor ops take microseconds: a short, fixed policy keeps a 5-size sweep to a few minutes.
EXPERIMENT_POLICY = TimingPolicy(
    warmup_min_iterations=3, warmup_min_s=0.05, min_samples=10, min_time_s=0.2, max_samples=2000
)


class Timer(Protocol):
    def time_call(self, fn: Callable[[], Any]) -> float:
        """Run fn once and return its duration in milliseconds."""
        ...


class CpuTimer:
    """Host wall time of one call."""

    def __init__(self, clock: Clock = time.perf_counter_ns) -> None:
        self.clock = clock

    def time_call(self, fn: Callable[[], Any]) -> float:
        start = self.clock()
        fn()
        return (self.clock() - start) / 1e6


class CudaTimer:
    """Device time of one call, from CUDA events recorded on the case's device."""

    def __init__(self, device: Any, backend: Any = None) -> None:
        if backend is None:
            import torch

            backend = torch.cuda
        self.device = device
        self.backend = backend

    def time_call(self, fn: Callable[[], Any]) -> float:
        backend = self.backend
        stream = backend.current_stream(self.device)
        start = backend.Event(enable_timing=True)
        end = backend.Event(enable_timing=True)
        backend.synchronize(self.device)  # nothing queued earlier may leak into this sample
        start.record(stream)
        fn()
        end.record(stream)
        backend.synchronize(self.device)  # the events are complete before they are read
        return float(start.elapsed_time(end))


def measure_latency(
    fn: Callable[[], Any],
    timer: Timer,
    policy: TimingPolicy = DEFAULT_POLICY,
    clock: Clock = time.perf_counter_ns,
    setup: Callable[[], Any] | None = None,
) -> LatencyStats:
    """Warm up, then collect per-iteration samples; stopping rules read the host `clock`.

    `setup`, when given, runs before every call of fn (warmup included), outside the timed region:
    clearing gradients, or preparing a fresh input for an in-place op.
    """

    def timed_call() -> float:
        if setup is not None:
            setup()
        return timer.time_call(fn)

    warmup_iterations = 0
    warmup_start = clock()
    while (
        warmup_iterations < policy.warmup_min_iterations
        or (clock() - warmup_start) / 1e9 < policy.warmup_min_s
    ):
        timed_call()
        warmup_iterations += 1

    samples_ms: list[float] = []
    sampling_start = clock()
    while len(samples_ms) < policy.max_samples and (
        len(samples_ms) < policy.min_samples or (clock() - sampling_start) / 1e9 < policy.min_time_s
    ):
        samples_ms.append(timed_call())
    return LatencyStats.from_samples(samples_ms, warmup_iterations=warmup_iterations)
