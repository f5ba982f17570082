"""The timing engine under a fake clock and a fake CUDA device: exact, deterministic, no GPU.

The first call is timed separately (first_call_ms), warmup runs until steady (bounded by time),
calls per sample are sized from the clock's cost, samples per block so that the blocks fill the
budget, and sampling goes on until the budget is spent (at least `min_blocks` blocks); the
median's interval comes from the block medians.
"""

import itertools
from collections.abc import Callable, Iterable

import pytest

from bench.measure.contention import ContentionProbe
from bench.measure.timing.engine import (
    QUICK_POLICY,
    CpuTimer,
    CudaTimer,
    TimingPolicy,
    choose_block_size,
    is_steady,
    measure_latency,
)
from bench.records import LatencyStats
from tests.fakes import FakeClock, FakeCpuSource, FakeCudaBackend, PipelinedDevice

NO_WARMUP = {"warmup_min_iterations": 0, "steady_window": 0}


def quiet_probe(cores: int = 2) -> ContentionProbe:
    """A probe on a machine where nothing else runs."""
    return ContentionProbe(cores, FakeCpuSource(cores, others_per_read_s=0.0))


def scripted(clock: FakeClock, durations_ms: Iterable[float]) -> Callable[[], None]:
    """A callable whose successive calls take the given times on the fake clock (the last one
    repeated for ever after)."""
    durations_ms = list(durations_ms)
    durations = itertools.chain(durations_ms, itertools.repeat(durations_ms[-1]))

    def fn() -> None:
        clock.advance_ms(next(durations))

    return fn


def test_cpu_timer_reads_clock_around_the_call() -> None:
    clock = FakeClock()
    timer = CpuTimer(clock)
    assert timer.time_block(lambda: clock.advance_ms(2.5), 1).elapsed_ms == 2.5
    assert timer.time_block(lambda: clock.advance_ms(2.0), 3).elapsed_ms == 6.0


def test_cpu_timer_overhead_is_the_cost_of_one_clock_read() -> None:
    assert CpuTimer(FakeClock(step_ns=70)).overhead_ns() == 70.0
    assert CpuTimer(FakeClock()).overhead_ns() == 0.0


def test_is_steady_compares_the_last_window_with_the_one_before() -> None:
    assert not is_steady([10.0] * 5, window=3, tolerance=0.05)  # too few calls to judge
    assert not is_steady([30, 20, 10, 10, 10, 10], window=3, tolerance=0.05)  # 10 < 0.95 * 20
    assert is_steady([20, 10, 10, 10, 10, 10], window=3, tolerance=0.05)  # medians 10 vs 10
    assert is_steady([10, 10, 10, 11, 12, 11], window=3, tolerance=0.05)  # slower: not falling
    assert is_steady([10, 10, 10, 9.6, 9.6, 9.6], window=3, tolerance=0.05)  # -4% is noise


def test_first_call_is_separate_and_warmup_stops_when_steady() -> None:
    clock = FakeClock()
    warmup = [50, 30, 20, 10, 10, 10, 10, 10]
    fn = scripted(clock, [100.0, *warmup] + [10.0] * 100)
    policy = TimingPolicy(warmup_min_iterations=1, steady_window=3, min_blocks=6, budget_s=1.0)
    stats = measure_latency(fn, CpuTimer(clock), policy, clock, probe=quiet_probe())
    assert stats.first_call_ms == 100.0  # the cold call is not in the samples
    # After 8 warmup calls the last three (10, 10, 10) match the three before (20, 10, 10).
    assert stats.warmup_iterations == 8
    assert stats.steady is True
    assert stats.iterations_per_sample == 1  # a free clock needs no longer samples
    # 100 + 160 ms spent; the 740 ms left make 20 blocks of 37 ms: 3 samples of 10 ms each,
    # taken until the budget is spent (25 blocks reach 1,010 ms).
    assert stats.samples_per_block == 3
    assert stats.samples_ms == (10.0,) * 75
    assert stats.blocks == 25
    assert stats.precision_met is True


def slow_start(clock: FakeClock, slow_calls: int, steady_ms: float = 20.0) -> Callable[[], None]:
    """A workload whose first `slow_calls` calls are 30x slower than its steady pace."""
    return scripted(clock, [30 * steady_ms] * slow_calls + [steady_ms] * 10_000)


def test_slow_start_is_warmed_through_before_any_sample() -> None:
    clock = FakeClock()
    policy = TimingPolicy(min_blocks=10, budget_s=10.0)
    stats = measure_latency(slow_start(clock, 4), CpuTimer(clock), policy, clock)
    # Cold call + 3 slow warmup calls, then 20 ms calls until the median of the last five
    # matches the five before them: [600, 600, 20, 20, 20] has median 20 after 8 fast calls.
    assert stats.first_call_ms == 600.0
    assert stats.steady is True
    assert stats.warmup_iterations == 3 + 8
    assert set(stats.samples_ms) == {20.0}  # not one slow call among the samples
    assert stats.precision_met is True
    assert not stats.noisy


def test_budget_that_ends_before_steady_state_marks_the_case_not_steady() -> None:
    clock = FakeClock()
    # 1 s: the cold call and two slow warmup calls (1.8 s) already overrun it.
    policy = TimingPolicy(min_blocks=10, budget_s=1.0)
    stats = measure_latency(slow_start(clock, 12), CpuTimer(clock), policy, clock)
    assert stats.steady is False
    assert stats.warmup_iterations == 3  # the minimum; then the budget had no room left
    assert len(stats.samples_ms) == 10  # it samples what it can: the minimum of blocks
    assert stats.precision_met is False
    assert stats.precision_label() == "not steady: raise --budget"
    assert "not steady: raise --budget" in stats.doubts()
    assert not stats.trustworthy


def test_warmup_keeps_room_for_the_minimum_samples() -> None:
    clock = FakeClock()
    fn = scripted(clock, [200.0] + [100.0 - i for i in range(60)] + [1.0] * 1000)
    policy = TimingPolicy(budget_s=2.0, min_blocks=6)
    stats = measure_latency(fn, CpuTimer(clock), policy, clock)
    # Never steady (every call faster than the last). After the cold 200 ms call, warmup stops at
    # the first check where 6 more calls at the recent pace would overrun the 2 s budget: after
    # 14 calls (100 down to 87 ms) 1,509 ms are spent, and 1,509 + 6 x 89 (the median of the
    # last five) > 2,000; after 13, 1,422 + 6 x 90 still fit.
    assert stats.warmup_iterations == 14
    assert stats.steady is False


def test_warmup_minimums_come_first() -> None:
    clock = FakeClock()
    fn = scripted(clock, [5.0] * 100)
    policy = TimingPolicy(warmup_min_iterations=12, steady_window=0, min_blocks=6)
    assert measure_latency(fn, CpuTimer(clock), policy, clock).warmup_iterations == 12


def test_choose_block_size_makes_the_clock_cost_negligible_within_the_budget() -> None:
    policy = TimingPolicy(max_clock_overhead=1e-3, min_blocks=10)
    big = 1e12
    assert choose_block_size(1_000, 100, policy, big) == 100  # 100 ns / 1e-3 = 100 us blocks
    assert choose_block_size(30_000, 100, policy, big) == 4  # ceil(100 us / 30 us)
    assert choose_block_size(5e6, 100, policy, big) == 1  # a 5 ms call is its own block
    assert choose_block_size(1_000, 0, policy, big) == 1  # a free clock needs no blocks
    # 10 blocks must fit the remaining 50 us: at most 5 calls of 1 us each
    assert choose_block_size(1_000, 100, policy, 50_000) == 5
    with_min_block = TimingPolicy(min_block_s=0.01)
    assert choose_block_size(1e6, 0, with_min_block, big) == 10  # 10 ms blocks of 1 ms calls


def test_samples_are_sized_from_the_clock_cost_and_are_per_call() -> None:
    clock = FakeClock(step_ns=100)  # every clock read costs 100 ns
    policy = TimingPolicy(budget_s=0.01)
    stats = measure_latency(lambda: clock.advance_ms(0.001), CpuTimer(clock), policy, clock)
    # One call reads as 1.1 us; minus the 100 ns read, 1 us. A sample must last 100 ns / 1e-3
    # = 100 us: 100 calls. A calibration run of 100 (100.1 us) confirms the size.
    assert stats.iterations_per_sample == 100
    assert stats.samples_ms[0] == pytest.approx(100_100 / 100 / 1e6)
    # 10 single warmup calls reach steadiness (window 5); the 100 calibration calls count too.
    assert stats.warmup_iterations == 10 + 100
    # ~9.9 ms left for 20 blocks: 4 samples (400 us) each, until the budget is spent
    assert stats.samples_per_block == 4
    assert len(stats.samples_ms) % 4 == 0 and stats.blocks >= 20


def test_a_fast_case_gets_longer_samples_not_thousands_of_them() -> None:
    clock = FakeClock()
    policy = TimingPolicy(budget_s=2.0, min_block_s=1e-4)
    stats = measure_latency(lambda: clock.advance_ms(0.001), CpuTimer(clock), policy, clock)
    # 1 us calls: 100 us samples would make 1,000 per 0.1 s block; capped at 25 samples a block,
    # each sample holds 4,000 calls instead (4 ms)
    assert stats.samples_per_block == 25
    assert stats.iterations_per_sample == 4000
    assert len(stats.samples_ms) <= 25 * 21


def test_a_tight_interval_does_not_stop_sampling_before_the_budget() -> None:
    clock = FakeClock()
    fn = scripted(clock, [10.0])
    policy = TimingPolicy(**NO_WARMUP, min_blocks=6, precision=0.05, budget_s=1.0)
    stats = measure_latency(fn, CpuTimer(clock), policy, clock)
    # identical samples meet the target after 6 blocks, yet the blocks go on to the budget:
    # 990 ms left / 20 blocks = 49.5 ms: 4 samples a block, 25 blocks to pass 1 s
    assert stats.precision_met is True
    assert (stats.samples_per_block, stats.blocks) == (4, 25)


def test_the_interval_comes_from_blocks_and_sees_drift_the_samples_hide() -> None:
    clock = FakeClock()
    # the machine slows by 30% over the run: each block's 4 samples agree with each other
    # (a per-sample interval would be tight), but the blocks do not
    pace = iter(10.0 * (1 + 0.3 * i / 100) for i in itertools.count())

    def drifting_fn() -> None:
        clock.advance_ms(next(pace))

    policy = TimingPolicy(**NO_WARMUP, min_blocks=6, precision=0.01, budget_s=1.0)
    stats = measure_latency(drifting_fn, CpuTimer(clock), policy, clock)
    assert stats.blocks >= 20
    assert stats.relative_half_width > 0.05  # the interval spans the drift, not +-0.1%
    assert stats.precision_met is False
    assert stats.drifting is True and "drifting" in stats.doubts()
    assert stats.block_lag1 is not None and stats.block_lag1 > 0.5
    assert stats.ci_low_ms is not None and stats.ci_high_ms is not None
    assert stats.ci_low_ms < stats.median_ms < stats.ci_high_ms


def test_a_drifting_run_is_never_quoted_a_tight_interval() -> None:
    """Halves 0.5% apart, each tight: the run's own interval sat between them and
    claimed a precision the moving speed did not have. It now spans both halves' intervals."""
    first = [10.00 + 0.002 * (i % 5) for i in range(20)]
    second = [10.05 + 0.002 * (i % 5) for i in range(20)]
    stats = LatencyStats.from_samples(first + second, precision_target=0.002)
    assert stats.drifting
    assert stats.ci_low_ms is not None and stats.ci_high_ms is not None
    assert stats.ci_low_ms <= 10.004 and stats.ci_high_ms >= 10.054  # both halves inside
    assert stats.precision_met is False
    steady = LatencyStats.from_samples(first + first, precision_target=0.002)
    assert not steady.drifting and steady.precision_met  # no drift: the interval as it was


def test_sampling_stops_at_the_budget_when_the_target_is_out_of_reach() -> None:
    clock = FakeClock()
    fn = scripted(clock, [1.0] + [3.0, 1.0] * 1000)
    policy = TimingPolicy(**NO_WARMUP, min_blocks=6, precision=0.01, budget_s=0.1)
    stats = measure_latency(fn, CpuTimer(clock), policy, clock)
    # 99 ms left: 20 blocks of 4.95 ms, 4 samples each at the first call's 1 ms (no warmup to
    # tell better); blocks stop once 100 ms have passed since the first call: 1 + 13 x 8 ms
    assert (stats.samples_per_block, stats.blocks) == (4, 13)
    assert stats.block_medians_ms == (2.0,) * 13
    assert stats.precision_target == 0.01


def test_min_blocks_outlast_the_budget() -> None:
    clock = FakeClock()
    fn = scripted(clock, [1.0] + [50.0, 70.0] * 100)
    policy = TimingPolicy(**NO_WARMUP, min_blocks=7, budget_s=0.01)
    assert len(measure_latency(fn, CpuTimer(clock), policy, clock).samples_ms) == 7


def test_max_samples_caps_sampling() -> None:
    clock = FakeClock()
    fn = scripted(clock, [1.0, 2.0] * 100)
    policy = TimingPolicy(**NO_WARMUP, min_blocks=1, budget_s=60.0, max_samples=7)
    stats = measure_latency(fn, CpuTimer(clock), policy, clock)
    assert len(stats.samples_ms) == 7  # one block of 7: the most that fits the cap
    assert stats.samples_per_block == 7


def test_quick_policy_is_small() -> None:
    clock = FakeClock()
    stats = measure_latency(lambda: clock.advance_ms(1), CpuTimer(clock), QUICK_POLICY, clock)
    assert (stats.warmup_iterations, len(stats.samples_ms)) == (1, 3)
    assert stats.median_ms == pytest.approx(1.0)
    assert stats.precision_met is False  # three samples cannot give a 95% interval


def test_setup_runs_before_every_call_outside_the_timed_region() -> None:
    clock = FakeClock(step_ns=50)
    calls: list[str] = []

    def setup() -> None:
        calls.append("setup")
        clock.advance_ms(100.0)  # expensive preparation must not show in the samples

    def fn() -> None:
        calls.append("fn")
        clock.advance_ms(0.001)

    policy = TimingPolicy(warmup_min_iterations=1, steady_window=0, min_blocks=2, max_samples=2)
    stats = measure_latency(fn, CpuTimer(clock), policy, clock, setup=setup)
    assert calls == ["setup", "fn"] * 4  # first call, one warmup call, two samples
    assert stats.iterations_per_sample == 1  # setup must precede every call: no blocks
    assert stats.samples_ms == (0.00105, 0.00105)  # 1 us plus one 50 ns clock read


def test_cuda_timer_synchronizes_the_case_device_around_events() -> None:
    backend = FakeCudaBackend(kernel_ms=[3.0])
    timer = CudaTimer("cuda:1", backend)
    elapsed = timer.time_block(backend.run_kernel, 1).elapsed_ms
    assert elapsed == 3.0
    assert backend.log == [
        ("synchronize", "cuda:1"),
        ("record", "stream:cuda:1"),
        ("kernel",),
        ("record", "stream:cuda:1"),
        ("synchronize", "cuda:1"),
        ("elapsed_time",),
    ]


def test_a_lead_call_is_queued_after_the_synchronize_and_before_the_start_event() -> None:
    backend = FakeCudaBackend(kernel_ms=[9.0, 3.0])
    elapsed = CudaTimer("cuda:0", backend).time_block(backend.run_kernel, 1, backend.run_kernel)
    assert elapsed.elapsed_ms == 3.0  # the lead's 9 ms are before the start event
    assert backend.log[:4] == [
        ("synchronize", "cuda:0"),
        ("kernel",),  # the lead
        ("record", "stream:cuda:0"),
        ("kernel",),  # the timed call
    ]


@pytest.mark.parametrize(("launch_ms", "kernel_ms"), [(3.0, 4.0), (4.0, 3.0), (1.0, 5.0)])
def test_cuda_samples_read_the_back_to_back_cost_when_launch_and_device_times_are_close(
    launch_ms: float, kernel_ms: float
) -> None:
    """After a synchronize the device queue is empty: a one-call sample then waits for that
    call's launch before any device work starts, and read launch + kernel (resnet50 bf16 b32
    on an H200: 1.46x what three references agreed on). With a lead call queued before the
    start event, each sample reads what a loop does: the larger of the two."""
    device = PipelinedDevice(launch_ms, kernel_ms)
    policy = TimingPolicy(budget_s=0.2, min_blocks=10)
    timer = CudaTimer("cuda:0", device, device.clock)
    stats = measure_latency(device.call, timer, policy, device.clock, probe=quiet_probe())
    assert stats.iterations_per_sample == 1  # no clock cost here: the shortest sample
    assert set(stats.samples_ms) == {max(launch_ms, kernel_ms)}
    assert stats.first_call_ms == launch_ms + kernel_ms  # the cold call: no lead, on its own

    class WithoutLead(CudaTimer):
        def time_block(self, fn, iterations, lead=None):  # type: ignore[no-untyped-def]
            return super().time_block(fn, iterations, None)

    device = PipelinedDevice(launch_ms, kernel_ms)
    without = WithoutLead("cuda:0", device, device.clock)
    old = measure_latency(device.call, without, policy, device.clock, probe=quiet_probe())
    assert set(old.samples_ms) == {launch_ms + kernel_ms}  # what the timer read before


def test_cuda_block_has_one_event_pair_and_one_synchronize_before_reading() -> None:
    backend = FakeCudaBackend(kernel_ms=[1.0, 2.0, 3.0])
    clock = FakeClock()

    def launch() -> None:
        clock.advance_ms(5.0)  # the host takes 5 ms to launch each 1-3 ms kernel
        backend.run_kernel()

    block = CudaTimer("cuda:0", backend, clock).time_block(launch, 3)
    assert (block.elapsed_ms, block.wall_ms) == (6.0, 15.0)
    stream = ("record", "stream:cuda:0")
    assert backend.log == [
        ("synchronize", "cuda:0"),
        stream,
        ("kernel",),
        ("kernel",),
        ("kernel",),
        stream,
        ("synchronize", "cuda:0"),
        ("elapsed_time",),
    ]


def test_cuda_latency_is_device_time_with_wall_time_and_a_launch_bound_flag() -> None:
    backend = FakeCudaBackend(kernel_ms=[9.0], repeat_ms=2.0)
    clock = FakeClock()

    def launch() -> None:
        clock.advance_ms(5.0)
        backend.run_kernel()

    policy = TimingPolicy(warmup_min_iterations=1, steady_window=0, min_blocks=3, max_samples=3)
    stats = measure_latency(launch, CudaTimer("cuda:0", backend, clock), policy, clock)
    assert stats.samples_ms == (2.0, 2.0, 2.0)  # device time from the events
    assert stats.first_call_ms == 5.0  # the cold call's synchronized host wall time
    assert stats.wall_median_ms == 5.0
    assert stats.launch_bound is True  # 5 ms wall for 2 ms of device work
    # Every block: synchronize, (the untimed lead call,) record, kernels, record, synchronize,
    # then read. The cold first call and the clock-cost probe have no lead.
    blocks = _split_blocks(backend.log)
    assert len(blocks) == 1 + 1 + 5 + 3  # first call, warmup, overhead probe, samples
    led = [("synchronize", "cuda:0"), ("kernel",), ("record", "stream:cuda:0")]
    assert [block[:3] == led for block in blocks] == [False, True] + [False] * 5 + [True] * 3
    for block in blocks:
        assert block[0] == ("synchronize", "cuda:0")
        assert block[-3:] == [
            ("record", "stream:cuda:0"),
            ("synchronize", "cuda:0"),
            ("elapsed_time",),
        ]


def test_device_bound_cuda_case_is_not_launch_bound() -> None:
    backend = FakeCudaBackend(repeat_ms=8.0)
    clock = FakeClock()

    def launch() -> None:
        clock.advance_ms(0.1)
        backend.run_kernel()
        clock.advance_ms(7.9)  # the synchronize waits for the kernel

    policy = TimingPolicy(warmup_min_iterations=1, steady_window=0, min_blocks=3, max_samples=3)
    stats = measure_latency(launch, CudaTimer("cuda:0", backend, clock), policy, clock)
    assert stats.median_ms == 8.0
    assert stats.launch_bound is False


def test_cpu_latency_has_no_wall_column() -> None:
    clock = FakeClock()
    stats = measure_latency(lambda: clock.advance_ms(1), CpuTimer(clock), QUICK_POLICY, clock)
    assert stats.wall_median_ms is None and stats.launch_bound is None


def _split_blocks(log: list[tuple[object, ...]]) -> list[list[tuple[object, ...]]]:
    blocks: list[list[tuple[object, ...]]] = [[]]
    for entry in log:
        blocks[-1].append(entry)
        if entry == ("elapsed_time",):
            blocks.append([])
    return [b for b in blocks if b]


@pytest.mark.cuda
def test_real_cuda_latency_reports_device_and_wall_time() -> None:
    import torch

    a = torch.randn(512, 512, device="cuda")
    stats = measure_latency(lambda: a @ a, CudaTimer(torch.device("cuda")), QUICK_POLICY)
    assert stats.median_ms > 0
    assert stats.wall_median_ms is not None and stats.wall_median_ms > 0
