"""The timing engine: cold first call, warmup until steady, calibration, block sampling.

1. The first (cold) call is timed on its own and reported as `first_call_ms`: lazy
   initialisation, allocator growth and cuDNN autotuning belong there, not in the median.
2. Warmup runs single timed calls until the recent ones stop getting faster: the median of the
   last `steady_window` calls is no more than `steady_tolerance` below the median of the window
   before it. No sample is taken before that: warmup goes on as long as the budget leaves room
   for `min_blocks` more calls at the recent pace. When the budget runs out first, the case
   samples what it can and is marked `steady = False` (a slow start may be in its samples, so
   its interval is not quoted and `precision_met` is false). Warmup always meets
   `warmup_min_iterations` and `warmup_min_s` first.
3. Calibration, once: the calls per timed sample are chosen from the steady per-call time so
   that the timer's own cost (a clock read on the CPU, a synchronize + events on CUDA) is at most
   `max_clock_overhead` of a sample (a `setup` hook that must run before every call, outside the
   timed region, forces one call per sample). Then the samples per block are chosen so that
   `target_blocks` blocks fill the rest of the budget, at most `max_samples_per_block` of them
   (beyond that the samples grow longer instead, so a fast case's record stays small).
4. Blocks are taken back to back until the budget (counted from the first call) is spent, and
   at least `min_blocks` of them, at most `max_samples` raw samples. Sampling does not stop
   early when the interval looks tight: consecutive samples share the machine's state (this VM
   drifts 16-24% between half-second windows), so only blocks spread over the whole budget let
   the interval see that drift. Each raw sample is one timed run divided by its calls; each
   block is summarised by its median, and every statistic that claims an uncertainty (the
   median's interval, `precision_met`, `noisy`, `drifting`, compare's verdicts) is computed
   from the block medians (bench/records/latency.py). `precision` is the interval's target:
   `precision_met` says whether the blocks reached it.
5. On CUDA with NVML (`clocks`), the SM clock and throttle reasons are read after each timed
   sample, outside its timed region; a row with samples below 75% of the default clock is
   `throttled` (bench/measure/timing/nvml.py, bench/records/latency.py).
6. A contention probe (bench/measure/contention.py) brackets the whole timed phase, first
   call to last block: the row is `contended` when other processes, or Python threads of this
   process besides the measuring one (a model's leftover thread), took more than a tenth of its
   cores; every timed row is judged, true or false.

Every stopping rule reads the injected host `clock`, so tests drive them exactly with a fake one
(one that drifts, too); the contention probe takes an injected CPU-time source the same way.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from bench.measure.contention import ContentionProbe, default_probe
from bench.measure.timing.nvml import ClockMonitor, ClockReading, throttle_reason_words
from bench.measure.timing.timers import (
    BlockTiming,
    Clock,
    CpuTimer,
    CudaTimer,
    Timer,
    lead_call,
)
from bench.records.latency import LatencyStats, SmClocks

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
    min_blocks: int = 10
    target_blocks: int = 20
    max_samples_per_block: int = 25
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
    steady_window=0,  # not judged: a smoke test is not "not steady", and raising --budget is moot
    min_blocks=3,
    max_samples=3,
    budget_s=0.0,
)
"""A smoke test: one cold call, one warmup call, three samples. Not for numbers you quote: no
budget, steadiness not judged (`steady` empty), too few samples for an interval."""
EXPERIMENT_POLICY = TimingPolicy(
    warmup_min_iterations=3, min_blocks=10, budget_s=0.25, precision=0.02
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
    that `min_blocks` blocks still fit in the remaining budget, but never below one call.
    """
    target_ns = max(policy.min_block_s * 1e9, overhead_ns / policy.max_clock_overhead)
    if target_ns <= 0:
        return 1
    if per_call_ns <= 0:
        return policy.max_block_size
    size = math.ceil(target_ns / per_call_ns)
    fits = math.floor(remaining_ns / (policy.min_blocks * per_call_ns)) if remaining_ns > 0 else 1
    return int(max(1, min(size, fits, policy.max_block_size)))


def measure_latency(
    fn: Callable[[], Any],
    timer: Timer,
    policy: TimingPolicy = DEFAULT_POLICY,
    clock: Clock = time.perf_counter_ns,
    setup: Callable[[], Any] | None = None,
    probe: ContentionProbe | None = None,
    clocks: ClockMonitor | None = None,
) -> LatencyStats:
    """Time fn as the module doc describes and summarise the raw per-block samples.

    `setup`, when given, runs before every call of fn (first call and warmup included), outside
    the timed region: clearing gradients, flushing a cache, preparing a fresh input for an
    in-place op. `probe` brackets the sampling (default: a real one for torch's intra-op thread
    count). `clocks`, when given, is read after every timed sample.
    """
    if probe is None:
        probe = default_probe()

    lead = lead_call(fn, setup)

    def timed(iterations: int, first_call: bool = False) -> BlockTiming:
        if setup is not None:
            setup()
        return timer.time_block(fn, iterations, None if first_call else lead)

    probe.start()
    start_ns = clock()
    deadline_ns = start_ns + policy.budget_s * 1e9
    first = timed(1, first_call=True)
    first_call_ms = first.wall_ms if first.wall_ms is not None else first.elapsed_ms

    warmup_ms, steady = _warm_up(lambda: timed(1).elapsed_ms, policy, clock, deadline_ns)

    calls, calibration_calls = 1, 0
    per_call_ms = statistics.median(warmup_ms[-policy.steady_window :] or [first.elapsed_ms])
    if setup is None:
        calls, calibration_calls, per_call_ms = _calibrate_block_size(
            timed, per_call_ms, timer.overhead_ns(), policy, clock, deadline_ns
        )
    calls, samples_per_block = blocks_for(per_call_ms * 1e6, calls, policy, deadline_ns - clock())
    if setup is not None:
        calls = 1  # setup must precede every call: one call per sample

    samples_ms: list[float] = []
    walls_ms: list[float] = []
    readings: list[ClockReading] = []
    while _more_blocks(len(samples_ms) // samples_per_block, clock() >= deadline_ns, policy):
        if samples_ms and len(samples_ms) + samples_per_block > policy.max_samples:
            break
        for _ in range(samples_per_block):
            block = timed(calls)
            samples_ms.append(block.elapsed_ms / calls)
            if block.wall_ms is not None:
                walls_ms.append(block.wall_ms / calls)
            reading = clocks.read() if clocks is not None else None
            if reading is not None:
                readings.append(reading)
    contention = probe.stop()

    return LatencyStats.from_samples(
        samples_ms,
        warmup_iterations=len(warmup_ms) + calibration_calls,
        iterations_per_sample=calls,
        samples_per_block=samples_per_block,
        first_call_ms=first_call_ms,
        precision_target=policy.precision,
        wall_samples_ms=walls_ms,
        confidence=policy.confidence,
        measure_s=(clock() - start_ns) / 1e9,
        steady=steady,
        contention=contention,
        clocks=_sm_clocks(clocks, readings),
    )


def _sm_clocks(clocks: ClockMonitor | None, readings: list[ClockReading]) -> SmClocks | None:
    """The readings as the record keeps them: clocks in order, the reasons seen, in words."""
    if clocks is None or not readings:
        return None
    reasons = 0
    for reading in readings:
        reasons |= reading.reasons
    return SmClocks(
        samples_mhz=tuple(r.sm_mhz for r in readings),
        default_mhz=clocks.default_sm_mhz,
        reasons=throttle_reason_words(reasons),
    )


def blocks_for(
    per_call_ns: float, calls: int, policy: TimingPolicy, remaining_ns: float
) -> tuple[int, int]:
    """(calls per sample, samples per block) so that `target_blocks` blocks fill the rest.

    A block that would need more than `max_samples_per_block` samples gets longer samples
    instead (more calls each), so a microsecond case keeps a record of ~500 values, not 60,000.
    Without budget left (a smoke test), each sample is its own block.
    """
    sample_ns = max(per_call_ns, 1e-3) * calls
    if remaining_ns <= 0 or policy.target_blocks < 1:
        return calls, 1
    # the minimum of blocks must fit within max_samples
    fitting = policy.max_samples // max(1, policy.min_blocks)
    most = max(1, min(policy.max_samples_per_block, fitting))
    block_ns = remaining_ns / policy.target_blocks
    samples = math.floor(block_ns / sample_ns)
    if samples <= most:
        return calls, max(1, samples)
    longer = math.ceil(block_ns / (most * max(per_call_ns, 1e-3)))
    return int(min(max(calls, longer), policy.max_block_size)), most


def _more_blocks(blocks: int, out_of_budget: bool, policy: TimingPolicy) -> bool:
    """Another block is due: the minimum is not met, or the budget is not spent."""
    return blocks < policy.min_blocks or not out_of_budget


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

    lead = lead_call(fn, setup)

    def timed_ms() -> float:
        if setup is not None:
            setup()
        return timer.time_block(fn, 1, lead).elapsed_ms

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

    Warmup stops when steady, or when the budget no longer leaves room for `min_blocks` calls
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
            if now_ns + policy.min_blocks * recent_ms * 1e6 >= deadline_ns:
                return durations_ms, False
        durations_ms.append(call_ms())


def _calibrate_block_size(
    timed: Callable[[int], BlockTiming],
    single_call_ms: float,
    overhead_ns: float,
    policy: TimingPolicy,
    clock: Clock,
    deadline_ns: float,
) -> tuple[int, int, float]:
    """Calls per sample from the single-call time, refined by timing runs of the proposed size.

    A single timed call of a sub-microsecond function is mostly clock cost, so its estimate is
    refined (at most three times) from runs of several calls, where that cost is spread over
    them. Returns the size, the number of calls the refinement ran (they count as warmup) and
    the per-call time in milliseconds the size was chosen from.
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
    return size, calls, per_call_ns / 1e6
