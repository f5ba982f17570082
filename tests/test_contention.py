"""The contention probe: other processes' CPU time over a timed phase, judged against the cores
the case needs. Scripted CPU-time readings make it exact; one real test runs busy children."""

import subprocess
import sys
import time

import pytest

from bench.measure.contention import ContentionProbe, PsutilSource
from bench.measure.timing.engine import CpuTimer, TimingPolicy, measure_latency
from bench.records import CONTENDED_SHARE, Contention, LatencyStats, latency_cells
from tests.fakes import FakeClock, FakeCpuSource


def probe_reading(source: FakeCpuSource, cores_needed: int) -> Contention:
    probe = ContentionProbe(cores_needed, source)
    probe.start()
    return probe.stop()


def test_others_cpu_time_is_system_busy_time_minus_our_own() -> None:
    # Over one second we burn 2 core-seconds ourselves and others 0.5: that is all they took.
    reading = probe_reading(FakeCpuSource(2, others_per_read_s=0.5, own_per_read_s=2.0), 2)
    assert reading.wall_s == 1.0
    assert reading.others_cpu_s == pytest.approx(0.5)
    assert reading.others_cpu_share == pytest.approx(0.25)  # 0.5 of the case's 2 core-seconds
    assert reading.contended is True
    assert reading.load_avg == 0.5


def test_a_quiet_machine_is_not_contended() -> None:
    reading = probe_reading(FakeCpuSource(2, others_per_read_s=0.0, own_per_read_s=2.0), 2)
    assert (reading.others_cpu_share, reading.contended) == (0.0, False)


def test_the_threshold_is_a_tenth_of_the_case_cores() -> None:
    at = probe_reading(FakeCpuSource(2, others_per_read_s=2 * CONTENDED_SHARE), 2)
    above = probe_reading(FakeCpuSource(2, others_per_read_s=2 * CONTENDED_SHARE + 0.01), 2)
    assert at.contended is False
    assert above.contended is True


def test_work_on_cores_the_case_leaves_free_does_not_contend() -> None:
    # 8 cores, a one-thread case: others may use 7 cores without touching it; the 8th is taken.
    assert probe_reading(FakeCpuSource(8, others_per_read_s=7.0), 1).contended is False
    busy = probe_reading(FakeCpuSource(8, others_per_read_s=7.5), 1)
    assert busy.others_cpu_share == pytest.approx(0.5)
    assert busy.contended is True


def test_a_phase_too_short_to_judge_leaves_contended_empty() -> None:
    reading = probe_reading(FakeCpuSource(2, others_per_read_s=1.0, wall_per_read_s=0.01), 2)
    assert reading.others_cpu_share is not None
    assert reading.contended is None


def test_cores_needed_is_capped_by_the_machine() -> None:
    assert ContentionProbe(16, FakeCpuSource(2, others_per_read_s=0.0)).cores_needed == 2


def test_stop_before_start_is_an_error() -> None:
    with pytest.raises(RuntimeError):
        ContentionProbe(1, FakeCpuSource(2, others_per_read_s=0.0)).stop()


def test_the_engine_brackets_sampling_and_the_row_says_contended() -> None:
    clock = FakeClock()
    source = FakeCpuSource(2, others_per_read_s=1.0)
    policy = TimingPolicy(warmup_min_iterations=1, steady_window=0, min_blocks=6, max_samples=6)
    stats = measure_latency(
        lambda: clock.advance_ms(5),
        CpuTimer(clock),
        policy,
        clock,
        probe=ContentionProbe(2, source),
    )
    assert source.reads == 2  # one reading before the first sample, one after the last
    assert stats.contended is True
    assert "contended" in stats.doubts() and not stats.trustworthy
    cells = latency_cells(stats)
    assert cells["contended"] is True
    assert cells["others_cpu_share"] == pytest.approx(0.5)
    assert cells["load_avg"] == 0.5


def test_rows_without_a_probe_leave_the_columns_empty() -> None:
    cells = latency_cells(LatencyStats.from_samples([1.0] * 10))
    assert (cells["contended"], cells["others_cpu_share"], cells["steady"]) == (None, None, None)


def test_busy_processes_are_seen_by_the_real_probe() -> None:
    """A busy loop per core while this process sleeps: whatever else runs there only adds to
    other processes' CPU time, so the one core a case would need is plainly taken."""
    source = PsutilSource()
    if source.cores > 16:
        pytest.skip("one busy process per core is too many here")
    children = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(source.cores)
    ]
    try:
        time.sleep(0.3)  # let them start
        probe = ContentionProbe(1, source)
        probe.start()
        time.sleep(0.7)
        reading = probe.stop()
    finally:
        for child in children:
            child.kill()
            child.wait()
    assert reading.contended is True
    assert reading.others_cpu_share is not None and reading.others_cpu_share > 0.5


def test_resume_keeps_the_steady_and_contention_readings() -> None:
    from pathlib import Path

    from bench.records import Case, ModelSpec, Result
    from bench.store.entries import entry_of, result_of

    case = Case("s", ModelSpec("m", "torch.nn:Linear", (4,), (1,)), "cpu", "float32", 1, Path())
    busy = Contention(wall_s=1.0, others_cpu_s=1.0, cores=2, cores_needed=2, load_avg=3.0)
    latency = LatencyStats.from_samples(
        [1.0] * 10, precision_target=0.01, steady=False, contention=busy
    )
    entry = entry_of(Result(case, "ok", latency=latency))
    again = result_of(entry, Path()).latency
    assert again is not None
    assert (again.steady, again.contention, again.precision_target) == (False, busy, 0.01)
