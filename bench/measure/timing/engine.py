"""The timing engine: cold first call, warmup until steady, block sizing, adaptive sampling.

1. The first (cold) call is timed on its own and reported as `first_call_ms`: lazy
   initialisation, allocator growth and cuDNN autotuning belong there, not in the median.
2. Warmup runs single timed calls until the recent ones stop getting faster: the median of the
   last `steady_window` calls is no more than `steady_tolerance` below the median of the window
   before it. No sample is taken before that: warmup goes on as long as the budget leaves room
   for `min_samples` more calls at the recent pace. When the budget runs out first, the case
   samples what it can and is marked `steady = False` (its samples include the slow start, so
   its interval is not quoted and `precision_met` is false). Warmup always meets
   `warmup_min_iterations` and `warmup_min_s` first.
3. The block size is chosen from the steady per-call time so that the timer's own cost (a clock
   read on the CPU, a synchronize + events on CUDA) is at most `max_clock_overhead` of a block.
   A `setup` hook (fresh input, cleared gradients) must run before every call, outside the timed
   region, so with one the block size is 1.
4. Blocks are sampled until the median's distribution-free confidence interval (bench/stats.py)
   has a relative half-width of at most `precision`, or the case's `budget_s` (counted from the
   first call) runs out, always collecting at least `min_samples` and at most `max_samples`.
   Each raw sample is one block's time divided by its size.

5. Around sampling, a contention probe (bench/measure/contention.py) reads how much CPU other
   processes took; the row is `contended` when they took more than a tenth of its cores.

Every stopping rule reads the injected host `clock`, so tests drive them exactly with a fake one;
the contention probe takes an injected CPU-time source the same way.
"""

from __future__ import annotations

import bisect
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from bench.measure.contention import ContentionProbe, default_probe
from bench.measure.timing.timers import BlockTiming, Clock, CpuTimer, CudaTimer, Timer
from bench.records.latency import LatencyStats
from bench.stats import median, median_ci, relative_half_width

__all__ = [
    "DEFAULT_POLICY",
    "QUICK_POLICY",
    "BlockTiming",
    "Clock",
    "CpuTimer",
    "CudaTimer",
    "Timer",
    "TimingPolicy",
    "choose_block_size",
    "is_steady",
    "measure_latency",
    "warm_up",
]


@dataclass(frozen=True)
class TimingPolicy:
    """How long to warm up, how large a block, and when to stop sampling (see module doc)."""

    warmup_min_iterations: int = 3
    warmup_min_s: float = 0.0
    steady_window: int = 5  # 0: warm up for the minimums only, steadiness not judged
    steady_tolerance: float = 0.05
    min_samples: int = 10
    min_time_s: float = 0.0
    max_samples: int = 10_000
    budget_s: float = 2.0
    precision: float = 0.01
    confidence: float = 0.95
    min_block_s: float = 0.0
    max_clock_overhead: float = 1e-3
    max_block_size: int = 1_000_000

    def with_overrides(
        self, budget_s: float | None = None, precision: float | None = None
    ) -> TimingPolicy:
        """This policy with the given budget and precision, where they are not None."""
        return replace(
            self,
            budget_s=self.budget_s if budget_s is None else budget_s,
            precision=self.precision if precision is None else precision,
        )


DEFAULT_POLICY = TimingPolicy()
QUICK_POLICY = TimingPolicy(
    warmup_min_iterations=1,
    warmup_min_s=0.0,
    min_samples=3,
    max_samples=3,
    budget_s=0.0,
)
"""A smoke test: one cold call, one warmup call, three samples. Not for numbers you quote
(no budget, so never steady)."""
EXPERIMENT_POLICY = TimingPolicy(
    warmup_min_iterations=3, min_samples=10, budget_s=0.25, precision=0.02
)
"""Tensor experiments: ops take microseconds and a sweep has ~100 rows, so a short budget each.
Every call gets a fresh input (a setup step), so blocks are one call each."""


def is_steady(durations_ms: Sequence[float], window: int, tolerance: float) -> bool:
    """True when the last `window` calls are no longer faster than the `window` before them."""
    if window < 1 or len(durations_ms) < 2 * window:
        return False
    recent = statistics.median(durations_ms[-window:])
    before = statistics.median(durations_ms[-2 * window : -window])
    return recent >= (1.0 - tolerance) * before


def choose_block_size(
    per_call_ns: float, overhead_ns: float, policy: TimingPolicy, remaining_ns: float
) -> int:
    """Calls per block: enough that the timer's cost is negligible, few enough to fit the budget.

    The block lasts at least `overhead_ns / max_clock_overhead` and `min_block_s`; it is shrunk so
    that `min_samples` blocks still fit in the remaining budget, but never below one call.
    """
    target_ns = max(policy.min_block_s * 1e9, overhead_ns / policy.max_clock_overhead)
    if target_ns <= 0:
        return 1
    if per_call_ns <= 0:
        return policy.max_block_size
    size = math.ceil(target_ns / per_call_ns)
    fits = math.floor(remaining_ns / (policy.min_samples * per_call_ns)) if remaining_ns > 0 else 1
    return int(max(1, min(size, fits, policy.max_block_size)))


def measure_latency(
    fn: Callable[[], Any],
    timer: Timer,
    policy: TimingPolicy = DEFAULT_POLICY,
    clock: Clock = time.perf_counter_ns,
    setup: Callable[[], Any] | None = None,
    probe: ContentionProbe | None = None,
) -> LatencyStats:
    """Time fn as the module doc describes and summarise the raw per-block samples.

    `setup`, when given, runs before every call of fn (first call and warmup included), outside
    the timed region: clearing gradients, or preparing a fresh input for an in-place op.
    `probe` brackets the sampling (default: a real one for torch's intra-op thread count).
    """
    if probe is None:
        probe = default_probe()

    def timed(iterations: int) -> BlockTiming:
        if setup is not None:
            setup()
        return timer.time_block(fn, iterations)

    start_ns = clock()
    deadline_ns = start_ns + policy.budget_s * 1e9
    first = timed(1)
    first_call_ms = first.wall_ms if first.wall_ms is not None else first.elapsed_ms

    warmup_ms, steady = _warm_up(lambda: timed(1).elapsed_ms, policy, clock, deadline_ns)

    block_size, calibration_calls = 1, 0
    if setup is None:
        recent = warmup_ms[-policy.steady_window :] or [first.elapsed_ms]
        block_size, calibration_calls = _calibrate_block_size(
            timed, statistics.median(recent), timer.overhead_ns(), policy, clock, deadline_ns
        )

    samples_ms: list[float] = []
    ordered: list[float] = []
    walls_ms: list[float] = []
    probe.start()
    sampling_start = clock()
    while len(samples_ms) < policy.max_samples:
        now_ns = clock()
        if _enough_samples(ordered, (now_ns - sampling_start) / 1e9, now_ns >= deadline_ns, policy):
            break
        block = timed(block_size)
        sample_ms = block.elapsed_ms / block_size
        samples_ms.append(sample_ms)
        bisect.insort(ordered, sample_ms)
        if block.wall_ms is not None:
            walls_ms.append(block.wall_ms / block_size)
    contention = probe.stop()

    return LatencyStats.from_samples(
        samples_ms,
        warmup_iterations=len(warmup_ms) + calibration_calls,
        iterations_per_sample=block_size,
        first_call_ms=first_call_ms,
        precision_target=policy.precision,
        wall_samples_ms=walls_ms,
        confidence=policy.confidence,
        measure_s=(clock() - start_ns) / 1e9,
        steady=steady,
        contention=contention,
    )


@dataclass(frozen=True)
class Warmup:
    """What `warm_up` ran: the cold first call and each warmup call, in milliseconds."""

    first_call_ms: float
    durations_ms: tuple[float, ...]
    steady_window: int
    steady: bool | None = None  # False: the budget ran out before the calls settled

    @property
    def iterations(self) -> int:
        return len(self.durations_ms)

    @property
    def steady_ms(self) -> float:
        """The median of the last window of calls: the steady per-call time going forward."""
        recent = self.durations_ms[-self.steady_window :] or (self.first_call_ms,)
        return statistics.median(recent)


def warm_up(
    fn: Callable[[], Any],
    timer: Timer,
    policy: TimingPolicy = DEFAULT_POLICY,
    clock: Clock = time.perf_counter_ns,
    setup: Callable[[], Any] | None = None,
) -> Warmup:
    """Steps 1 and 2 of `measure_latency` on their own: the cold first call, then warmup until
    steady, with the same rules and bounds; no sampling.

    For callers whose own loop takes the samples (the pytest plugin hands a steady function to
    pytest-benchmark, whose warmup is off by default on CPython). `setup` runs before every call,
    outside the timed region; the timer's own synchronization ends every call on CUDA.
    """

    def timed_ms() -> float:
        if setup is not None:
            setup()
        return timer.time_block(fn, 1).elapsed_ms

    if setup is not None:
        setup()
    deadline_ns = clock() + policy.budget_s * 1e9
    first = timer.time_block(fn, 1)
    first_call_ms = first.wall_ms if first.wall_ms is not None else first.elapsed_ms
    durations_ms, steady = _warm_up(timed_ms, policy, clock, deadline_ns)
    return Warmup(first_call_ms, tuple(durations_ms), policy.steady_window, steady)


def _warm_up(
    call_ms: Callable[[], float], policy: TimingPolicy, clock: Clock, deadline_ns: float
) -> tuple[list[float], bool | None]:
    """Warmup call durations, and whether they reached a steady state (minimums always met).

    Warmup stops when steady, or when the budget no longer leaves room for `min_samples` calls
    at the pace of the recent ones: then the case is sampled anyway, and marked not steady.
    A `steady_window` of 0 asks for the minimums only, and steadiness is not judged (None).
    """
    durations_ms: list[float] = []
    warmup_start = clock()
    while True:
        now_ns = clock()
        elapsed_s = (now_ns - warmup_start) / 1e9
        if len(durations_ms) >= policy.warmup_min_iterations and elapsed_s >= policy.warmup_min_s:
            if policy.steady_window < 1:
                return durations_ms, None
            if is_steady(durations_ms, policy.steady_window, policy.steady_tolerance):
                return durations_ms, True
            recent_ms = statistics.median(durations_ms[-policy.steady_window :] or [0.0])
            if now_ns + policy.min_samples * recent_ms * 1e6 >= deadline_ns:
                return durations_ms, False
        durations_ms.append(call_ms())


def _calibrate_block_size(
    timed: Callable[[int], BlockTiming],
    single_call_ms: float,
    overhead_ns: float,
    policy: TimingPolicy,
    clock: Clock,
    deadline_ns: float,
) -> tuple[int, int]:
    """Block size from the single-call time, refined by timing blocks of the proposed size.

    A single timed call of a sub-microsecond function is mostly clock cost, so its estimate is
    refined (at most three times) from blocks, where that cost is spread over the calls. Returns
    the size and the number of calls the refinement ran (they count as warmup).
    """
    per_call_ns = max(single_call_ms * 1e6 - overhead_ns, 1.0)
    size = choose_block_size(per_call_ns, overhead_ns, policy, deadline_ns - clock())
    calls = 0
    for _ in range(3):
        if size == 1:
            break
        block = timed(size)
        calls += size
        per_call_ns = max(block.elapsed_ms * 1e6 / size, 1e-3)
        refined = choose_block_size(per_call_ns, overhead_ns, policy, deadline_ns - clock())
        stable = size / 2 <= refined <= size * 2
        size = refined
        if stable:
            break
    return size, calls


def _enough_samples(
    ordered_ms: list[float], sampling_s: float, out_of_budget: bool, policy: TimingPolicy
) -> bool:
    """The minimums are met, and the median is precise enough or the budget is spent."""
    if len(ordered_ms) < policy.min_samples or sampling_s < policy.min_time_s:
        return False
    return out_of_budget or _precise_enough(ordered_ms, policy)


def _precise_enough(ordered_ms: list[float], policy: TimingPolicy) -> bool:
    interval = median_ci(ordered_ms, policy.confidence)
    if interval is None:
        return False
    median_ms = median(ordered_ms)
    return relative_half_width(interval, median_ms) <= policy.precision
