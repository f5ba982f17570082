"""The timing core under a fake clock and a fake CUDA device: exact, deterministic, no GPU."""

import pytest

from bench.timing import CpuTimer, CudaTimer, TimingPolicy, measure_latency
from tests.fakes import FakeClock, FakeCudaBackend


def test_cpu_timer_reads_clock_around_the_call() -> None:
    clock = FakeClock()
    timer = CpuTimer(clock)
    assert timer.time_call(lambda: clock.advance_ms(2.5)) == 2.5


def test_warmup_meets_iteration_and_time_minimums_then_samples_are_kept() -> None:
    clock = FakeClock()
    durations = iter([100.0, 50.0, 10.0, 10.0, 10.0] + [4.0] * 100)

    def fn() -> None:
        clock.advance_ms(next(durations))

    policy = TimingPolicy(
        warmup_min_iterations=2, warmup_min_s=0.2, min_samples=3, min_time_s=0.0, max_samples=50
    )
    stats = measure_latency(fn, CpuTimer(clock), policy, clock)
    # 100 + 50 = 150 ms < 200 ms, so warmup runs a third call (160 ms), a fourth (170)...
    # until 200 ms: 100+50+10+10+10+4+4+4+4+4 = 200 -> 10 warmup calls.
    assert stats.warmup_iterations == 10
    assert stats.samples_ms == (4.0, 4.0, 4.0)
    assert stats.median_ms == 4.0


def test_sampling_runs_until_min_time() -> None:
    clock = FakeClock()
    policy = TimingPolicy(
        warmup_min_iterations=1, warmup_min_s=0.0, min_samples=2, min_time_s=0.1, max_samples=1000
    )
    stats = measure_latency(lambda: clock.advance_ms(10.0), CpuTimer(clock), policy, clock)
    assert stats.warmup_iterations == 1
    assert len(stats.samples_ms) == 10  # 10 x 10 ms reach the 0.1 s minimum


def test_max_samples_caps_sampling() -> None:
    clock = FakeClock()
    policy = TimingPolicy(
        warmup_min_iterations=0, warmup_min_s=0.0, min_samples=1, min_time_s=60.0, max_samples=7
    )
    stats = measure_latency(lambda: clock.advance_ms(1.0), CpuTimer(clock), policy, clock)
    assert len(stats.samples_ms) == 7


def test_cuda_timer_synchronizes_the_case_device_around_events() -> None:
    backend = FakeCudaBackend(kernel_ms=[3.0])
    timer = CudaTimer("cuda:1", backend)
    elapsed = timer.time_call(backend.run_kernel)
    assert elapsed == 3.0
    assert backend.log == [
        ("synchronize", "cuda:1"),
        ("record", "stream:cuda:1"),
        ("kernel",),
        ("record", "stream:cuda:1"),
        ("synchronize", "cuda:1"),
        ("elapsed_time",),
    ]


def test_cuda_latency_uses_device_time_not_host_time() -> None:
    """Host clock sees nothing (async launch); the samples must come from the events."""
    backend = FakeCudaBackend(kernel_ms=[9.0, 2.0, 2.0, 2.0])
    clock = FakeClock(step_ns=1)
    policy = TimingPolicy(
        warmup_min_iterations=1, warmup_min_s=0.0, min_samples=3, min_time_s=0.0, max_samples=3
    )
    stats = measure_latency(backend.run_kernel, CudaTimer("cuda:0", backend), policy, clock)
    assert stats.samples_ms == (2.0, 2.0, 2.0)
    assert stats.warmup_iterations == 1


def test_quick_policy_is_small() -> None:
    from bench.timing import QUICK_POLICY

    clock = FakeClock()
    stats = measure_latency(lambda: clock.advance_ms(1), CpuTimer(clock), QUICK_POLICY, clock)
    assert (stats.warmup_iterations, len(stats.samples_ms)) == (1, 3)
    assert stats.median_ms == pytest.approx(1.0)


def test_setup_runs_before_every_call_outside_the_timed_region() -> None:
    clock = FakeClock()
    calls: list[str] = []

    def setup() -> None:
        calls.append("setup")
        clock.advance_ms(100.0)  # expensive preparation must not show in the samples

    def fn() -> None:
        calls.append("fn")
        clock.advance_ms(1.0)

    policy = TimingPolicy(
        warmup_min_iterations=1, warmup_min_s=0.0, min_samples=2, min_time_s=0.0, max_samples=2
    )
    stats = measure_latency(fn, CpuTimer(clock), policy, clock, setup=setup)
    assert calls == ["setup", "fn"] * 3
    assert stats.samples_ms == (1.0, 1.0)
