"""Bringing a GPU to its working clocks before timing, driven by a fake device and clock."""

from __future__ import annotations

import pytest

from bench.measure.timing.device_clocks import (
    MAX_S,
    MIN_SLICES,
    SLICE_CALLS,
    warm_device,
)
from bench.measure.timing.timers import CudaTimer
from tests.fakes import FakeClock, FakeCudaBackend


def test_an_idle_device_is_run_until_its_slices_stop_getting_faster() -> None:
    """An H200 idled at 345 MHz: the first case ran at 1.36x. Slices ramp 6x faster, then
    hold: warm-up ends once the last five are no faster than the five before them."""
    ramp = [0.6, 0.5, 0.4, 0.3, 0.2, 0.15, 0.12, 0.1]  # per call, while the clock rises
    backend = FakeCudaBackend(
        kernel_ms=[0.6] + [ms for ms in ramp for _ in range(SLICE_CALLS)], repeat_ms=0.1
    )
    clock = FakeClock(step_ns=1_000_000)
    warm = warm_device(backend.run_kernel, CudaTimer("cuda:0", backend, clock), clock)
    assert warm.steady
    assert warm.first_slice_ms == pytest.approx(0.6 * SLICE_CALLS)
    assert warm.settled_slice_ms == pytest.approx(0.1 * SLICE_CALLS)
    # the 8 ramp slices, then full speed until the median of the window before the last five
    # is full speed too (slices 11-15 against 6-10: 0.15, 0.12, 0.1, 0.1, 0.1 per call)
    assert warm.slices == 15
    assert warm.ramped and "6.00x slower at first" in warm.note()


def test_a_warm_device_passes_in_the_minimum_of_slices_with_no_note() -> None:
    backend = FakeCudaBackend(repeat_ms=0.1)
    clock = FakeClock(step_ns=1_000_000)
    warm = warm_device(backend.run_kernel, CudaTimer("cuda:0", backend, clock), clock)
    assert (warm.slices, warm.steady, warm.ramped) == (MIN_SLICES, True, False)


def test_a_device_that_never_settles_stops_at_the_time_limit_and_says_so() -> None:
    backend = FakeCudaBackend(kernel_ms=[1.0 / (i + 1) for i in range(100_000)])
    clock = FakeClock(step_ns=50_000_000)  # 50 ms a clock read
    warm = warm_device(backend.run_kernel, CudaTimer("cuda:0", backend, clock), clock)
    assert not warm.steady
    assert warm.seconds >= MAX_S
    assert "still not settled" in warm.note()
