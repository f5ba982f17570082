"""One benchmark through pytest-benchmark's own loop, with the three things it lacks for torch.

pytest-benchmark times with a host clock and knows nothing of CUDA or of warmup (off by default
on CPython), and `pedantic` is the only way it runs something untimed before each call. So:

1. bench's steady-state warmup (`bench.measure.timing.warm_up`: a cold first call, then calls
   until the recent ones stop getting faster) runs before pytest-benchmark's first round, timed
   with bench's own timer (CUDA events after a synchronize on a CUDA device).
2. On a CUDA device every timed call ends with `synchronize(device)` on the case's own device,
   so the clock pytest-benchmark reads after a call (or a block of calls) sees the finished
   work, never only its launch; the warmup also ends synchronized, so nothing queued before
   the first round leaks into it. The price is one synchronize per call (about 10 us), and a
   call that starts on an empty device queue, whose launch nothing overlaps: for steps shorter
   than ~100 us, or models whose launch and device times are close (up to 1.6x on an H200),
   time with `bench run` (CUDA events behind an untimed lead call, one synchronize per sample).
3. A workload with a `setup` (a train step's `zero_grad`, a fresh copy of an input an in-place
   op would otherwise overwrite) goes through `benchmark.pedantic(setup=...)`, so the setup runs
   before every call outside the timed region, followed by a synchronize on CUDA. pedantic needs
   a round count: the one pytest-benchmark's own loop would choose, `--benchmark-max-time`
   over the steady per-call time, at least `--benchmark-min-rounds`.

Everything else (calibration, rounds, statistics, storage, compare) is pytest-benchmark's.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from bench.measure.timing import CpuTimer, CudaTimer, Timer, TimingPolicy, Warmup, warm_up

DEFAULT_WARMUP_MAX_S = 1.0


@dataclass(frozen=True)
class LoopSettings:
    """How long bench's warmup may run, and pytest-benchmark's round limits for `pedantic`."""

    warmup_max_s: float = DEFAULT_WARMUP_MAX_S
    max_time_s: float = 1.0
    min_rounds: int = 5
    instructions: bool = False  # --bench-instructions: count them too (CPU's counter only)

    @property
    def warmup_policy(self) -> TimingPolicy:
        """bench's default warmup rules; the budget bounds warmup (it stops when the budget no
        longer leaves room for the minimum samples at the current pace)."""
        return TimingPolicy(budget_s=self.warmup_max_s)

    def rounds_for(self, steady_ms: float) -> int:
        """pytest-benchmark's own rule: enough rounds to fill max_time, at least min_rounds."""
        if steady_ms <= 0:
            return self.min_rounds
        return max(self.min_rounds, math.ceil(self.max_time_s * 1000.0 / steady_ms))


@dataclass(frozen=True)
class TimedRun:
    """What the benchmark ran besides pytest-benchmark's rounds: the warmup, and how."""

    warmup: Warmup | None  # None when benchmarks are disabled (one plain call instead)
    pedantic: bool
    synchronized: bool


def synchronizer(device: torch.device, backend: Any = None) -> Callable[[], None] | None:
    """`synchronize(device)` for a CUDA device (torch.cuda unless a backend is given), else None."""
    if device.type != "cuda":
        return None
    cuda = torch.cuda if backend is None else backend

    def synchronize() -> None:
        cuda.synchronize(device)

    return synchronize


def bench_timer(device: torch.device, backend: Any = None) -> Timer:
    return CudaTimer(device, backend) if device.type == "cuda" else CpuTimer()


def run_benchmark(
    benchmark: Any,
    run: Callable[[], Any],
    device: torch.device,
    settings: LoopSettings = LoopSettings(),
    setup: Callable[[], Any] | None = None,
    backend: Any = None,
    clock: Callable[[], int] = time.perf_counter_ns,
) -> TimedRun:
    """Warm `run` up, then time it with pytest-benchmark's fixture `benchmark` (module doc).

    `backend` stands in for `torch.cuda` (tests use a fake device); `clock` bounds the warmup.
    """
    synchronize = synchronizer(device, backend)

    def timed() -> None:
        run()
        if synchronize is not None:
            synchronize()

    def prepared() -> None:
        if setup is not None:
            setup()
        if synchronize is not None:
            synchronize()  # the setup's device work is done before the clock starts

    if not benchmark.enabled:  # --benchmark-disable: the step runs once, as a plain test
        benchmark.pedantic(timed, setup=prepared, rounds=1, iterations=1)
        return TimedRun(None, pedantic=True, synchronized=synchronize is not None)
    warmup = warm_up(
        run, bench_timer(device, backend), settings.warmup_policy, clock=clock, setup=setup
    )
    if setup is None:
        benchmark(timed)
    else:
        rounds = settings.rounds_for(warmup.steady_ms)
        benchmark.pedantic(timed, setup=prepared, rounds=rounds, iterations=1)
    return TimedRun(warmup, pedantic=setup is not None, synchronized=synchronize is not None)
