"""Per-sample SM clocks: read after each timed sample, outside the timed region; a row whose
samples ran below 75% of the default clock is `throttled`, with NVML's reasons."""

from __future__ import annotations

from bench.measure.timing import CudaTimer, TimingPolicy, measure_latency
from bench.measure.timing.conditions import timing_conditions
from bench.measure.timing.device_clocks import DeviceWarmup
from bench.measure.timing.nvml import ClockReading, throttle_reason_words
from bench.records import LatencyStats, SmClocks, latency_cells, latency_from_entry
from bench.store.entries import json_value
from tests.fakes import FakeClock, FakeCudaBackend

POLICY = TimingPolicy(
    warmup_min_iterations=2, steady_window=0, min_blocks=4, max_samples=8, budget_s=0.0
)
SW_POWER_CAP = 0x4


class ScriptedMonitor:
    """Reads the scripted clocks in turn (the last one repeats) and logs each read."""

    def __init__(
        self, backend: FakeCudaBackend, mhz: list[int], default: int | None = 1980
    ) -> None:
        self.backend, self.mhz, self.default_sm_mhz = backend, mhz, default

    def read(self) -> ClockReading | None:
        self.backend.log.append(("clock_read",))
        mhz = self.mhz.pop(0) if len(self.mhz) > 1 else self.mhz[0]
        return ClockReading(mhz, SW_POWER_CAP if mhz < 1900 else 0)


def _timed(backend: FakeCudaBackend, monitor: ScriptedMonitor | None) -> LatencyStats:
    return measure_latency(
        backend.run_kernel,
        CudaTimer("cuda:0", backend, FakeClock(step_ns=1000)),
        POLICY,
        FakeClock(step_ns=1000),
        clocks=monitor,
    )


def test_a_sample_below_three_quarters_of_the_default_clock_flags_the_row() -> None:
    backend = FakeCudaBackend(repeat_ms=1.0)
    stats = _timed(backend, ScriptedMonitor(backend, [1980, 1980, 1400, 1980]))
    assert stats.clocks is not None
    assert stats.clocks.samples_mhz[:4] == (1980, 1980, 1400, 1980)
    assert len(stats.clocks.samples_mhz) == len(stats.samples_ms)
    assert stats.clocks.below == 1
    assert stats.throttled is True
    assert "throttled" in stats.doubts() and not stats.trustworthy
    assert stats.clocks.reasons == throttle_reason_words(SW_POWER_CAP)
    cells = latency_cells(stats)
    assert (cells["throttled"], cells["sm_clock_min_mhz"]) == (True, 1400)
    reason = stats.clocks.reason()
    assert f"1 of {len(stats.samples_ms)} samples" in reason
    assert "1980 MHz" in reason and "1400 MHz" in reason


def test_clocks_at_or_above_the_line_are_not_throttled() -> None:
    backend = FakeCudaBackend(repeat_ms=1.0)
    stats = _timed(backend, ScriptedMonitor(backend, [1980, 1485]))  # 1485 = 75% of 1980
    assert stats.throttled is False and stats.trustworthy


def test_no_monitor_or_no_default_clock_makes_no_claim() -> None:
    backend = FakeCudaBackend(repeat_ms=1.0)
    assert _timed(backend, None).throttled is None
    assert latency_cells(_timed(backend, None))["throttled"] is None
    unknown = _timed(backend, ScriptedMonitor(backend, [900], default=None))
    assert unknown.throttled is None and unknown.clocks is not None


def test_clocks_are_read_after_each_sample_outside_the_timed_region() -> None:
    backend = FakeCudaBackend(repeat_ms=1.0)
    stats = _timed(backend, ScriptedMonitor(backend, [1980]))
    log = [entry[0] for entry in backend.log]
    reads = [i for i, name in enumerate(log) if name == "clock_read"]
    assert len(reads) == len(stats.samples_ms)
    for i in reads:  # the end event, the synchronize, the elapsed time read, then the clock
        assert log[i - 3 : i] == ["record", "synchronize", "elapsed_time"]


def test_clocks_survive_run_json() -> None:
    backend = FakeCudaBackend(repeat_ms=1.0)
    stats = _timed(backend, ScriptedMonitor(backend, [1980, 1200]))
    entry = json_value(
        {
            **latency_cells(stats),
            "latency_samples_ms": list(stats.samples_ms),
            "sm_clocks": {
                "samples_mhz": list(stats.clocks.samples_mhz),  # type: ignore[union-attr]
                "default_mhz": 1980,
                "reasons": list(throttle_reason_words(SW_POWER_CAP)),
            },
        }
    )
    back = latency_from_entry(entry)
    assert back is not None and back.clocks == stats.clocks and back.throttled is True


def test_smclocks_reason_without_nvml_reasons() -> None:
    clocks = SmClocks(samples_mhz=(1000, 2000), default_mhz=2000)
    assert clocks.throttled and "NVML's reasons" not in clocks.reason()


def test_conditions_note_a_device_without_nvml_and_a_slow_start() -> None:
    slow = DeviceWarmup(
        slices=12, seconds=0.4, first_slice_ms=3.0, settled_slice_ms=1.0, steady=True
    )
    with timing_conditions(
        "cuda:0",
        "warm",
        None,
        warm_device=lambda device: slow,
        open_monitor=lambda device: (None, "install nvidia-ml-py"),
    ) as conditions:
        assert conditions.clocks is None
        assert any("below its working clocks" in n for n in conditions.notes)
        assert any("clocks not watched (install nvidia-ml-py)" in n for n in conditions.notes)
    backend = FakeCudaBackend()
    monitor = ScriptedMonitor(backend, [1980])
    with timing_conditions(
        "cuda:0",
        "warm",
        None,
        warm_device=lambda device: DeviceWarmup(10, 0.1, 1.0, 1.0, True),
        open_monitor=lambda device: (monitor, ""),
    ) as conditions:
        assert conditions.clocks is monitor and conditions.notes == ()


def test_a_throttled_row_is_warned_about_and_not_compared(tmp_path) -> None:
    from bench.compare.sources import SideCase
    from bench.compare.verdicts import compare_samples
    from bench.console.summary import flags_of
    from bench.records import CaseKey, Result
    from bench.report.summary import warnings
    from bench.suite.load import expand, load_suite
    from tests.test_cold_cache import _suite

    (case,) = expand(load_suite(_suite(tmp_path, "")))
    backend = FakeCudaBackend(repeat_ms=1.0)
    stats = _timed(backend, ScriptedMonitor(backend, [1980, 1000]))
    result = Result(case=case, status="ok", latency=stats)
    assert "throttled" in flags_of(result)
    assert any(line.startswith("throttled") for line in warnings([result]))
    key = CaseKey("model", "m", "cuda", "float32", 1)
    samples = tuple(1.0 + 0.001 * i for i in range(40))
    base = SideCase(key, "ok", samples, samples_per_block=2)
    new = SideCase(key, "ok", tuple(2 * v for v in samples), samples_per_block=2, throttled=True)
    verdict = compare_samples(base, new)
    assert verdict.verdict == "inconclusive" and "NEW ran throttled" in verdict.reason
