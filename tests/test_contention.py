"""The contention probe: other processes' CPU time and foreign threads of this process over a
timed phase, judged against the cores the case needs. Scripted CPU-time readings make it exact;
real tests run busy children and a busy thread."""

import subprocess
import sys
import threading
import time

import pytest

from bench.measure.contention import ContentionProbe, PsutilSource
from bench.measure.timing.engine import CpuTimer, TimingPolicy, measure_latency
from bench.records import CONTENDED_SHARE, Contention, LatencyStats, latency_cells
from bench.records.latency import MIN_JUDGED_EXCESS_S, TICK_S
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
    # run.json gets 0.0, a float like every reading, not the int a bare sum() of nothing gives
    assert (reading.foreign_threads, repr(reading.foreign_threads_cpu_s)) == ((), "0.0")


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


def test_a_short_phase_is_judged_on_a_floor_of_two_ticks() -> None:
    # 20 ms on 2 cores: 40 ms of the case's core time. A tick of others' time is a quarter of
    # it, above the share, but one tick is what a reading's rounding alone can give: not enough.
    short = {"wall_per_read_s": 0.02}
    quiet = probe_reading(FakeCpuSource(2, others_per_read_s=0.0, **short), 2)
    one_tick = probe_reading(FakeCpuSource(2, others_per_read_s=TICK_S, **short), 2)
    busy = probe_reading(FakeCpuSource(2, others_per_read_s=MIN_JUDGED_EXCESS_S, **short), 2)
    assert (quiet.contended, one_tick.contended, busy.contended) == (False, False, True)
    # readings are whole ticks, but their float differences are not: two ticks a hair under
    almost = probe_reading(FakeCpuSource(2, others_per_read_s=0.0199999, **short), 2)
    assert almost.contended is True
    assert one_tick.others_cpu_share == pytest.approx(0.25)


def test_a_phase_of_no_length_is_not_contended() -> None:
    reading = probe_reading(FakeCpuSource(2, others_per_read_s=1.0, wall_per_read_s=0.0), 2)
    assert reading.others_cpu_share is None and reading.contended is False


def test_a_busy_thread_of_this_process_contends_even_with_cores_to_spare() -> None:
    # 8 cores, a one-thread case: a process taking 0.5 core would fit beside it, but a thread
    # of this process competes for the interpreter lock, so all its time counts
    source = FakeCpuSource(8, others_per_read_s=0.0, threads_per_read_s={"spin": 0.5, "idle": 0})
    reading = probe_reading(source, 1)
    assert reading.others_cpu_s == 0.0 and reading.others_cpu_share == 0.0
    assert reading.foreign_threads_cpu_s == pytest.approx(0.5)
    assert reading.foreign_threads == ("spin (tid 101)",)  # the idle thread is not named
    assert reading.foreign_threads_share == pytest.approx(0.5)
    assert reading.contended is True
    assert reading.reason == (
        "threads of this process took 50% (spin (tid 101)) of the cores the case needs"
    )


def test_foreign_threads_below_the_share_are_named_but_not_contended() -> None:
    source = FakeCpuSource(2, others_per_read_s=0.0, threads_per_read_s={"a": 0.05, "b": 0.1})
    reading = probe_reading(source, 2)
    assert reading.foreign_threads == ("b (tid 102)", "a (tid 101)")  # the busiest first
    assert reading.foreign_threads_share == pytest.approx(0.075)
    assert (reading.contended, reading.reason) == (False, None)


def test_the_reason_names_both_competitors() -> None:
    source = FakeCpuSource(2, others_per_read_s=1.0, threads_per_read_s={"spin": 0.4})
    assert probe_reading(source, 2).reason == (
        "other processes took 50% and threads of this process took 20% (spin (tid 101))"
        " of the cores the case needs"
    )


def test_a_reading_without_thread_fields_still_loads() -> None:
    from bench.records.latency import latency_from_entry

    old = {"wall_s": 1.0, "others_cpu_s": 0.0, "cores": 2, "cores_needed": 2, "load_avg": 0.1}
    latency = latency_from_entry({"latency_samples_ms": [1.0] * 5, "contention": old})
    assert latency is not None and latency.contention is not None
    assert latency.contention.foreign_threads == () and latency.contention.contended is False


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
    busy = Contention(
        wall_s=1.0,
        others_cpu_s=1.0,
        cores=2,
        cores_needed=2,
        load_avg=3.0,
        foreign_threads_cpu_s=0.5,
        foreign_threads=("spin (tid 7)",),
    )
    latency = LatencyStats.from_samples(
        [1.0] * 10, precision_target=0.01, steady=False, contention=busy
    )
    entry = entry_of(Result(case, "ok", latency=latency))
    again = result_of(entry, Path()).latency
    assert again is not None
    assert (again.steady, again.contention, again.precision_target) == (False, busy, 0.01)


def test_a_spinning_thread_of_this_process_is_named_and_contends() -> None:
    """A daemon thread spinning in Python (what a model factory may leave behind) while the
    measuring thread works: the probe names the thread and calls the phase contended."""
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            pass

    spinner = threading.Thread(target=spin, name="leftover-spin", daemon=True)
    spinner.start()
    try:
        time.sleep(0.05)  # let it start spinning
        probe = ContentionProbe(1)
        probe.start()
        deadline = time.monotonic() + 0.3
        while time.monotonic() < deadline:  # the measured work, sharing the GIL with the spinner
            sum(range(1000))
        reading = probe.stop()
    finally:
        stop.set()
        spinner.join()
    assert reading.foreign_threads == (f"leftover-spin (tid {spinner.native_id})",)
    assert reading.foreign_threads_cpu_s > 0
    assert reading.contended is True
    assert reading.reason is not None and "leftover-spin" in reading.reason


def test_a_short_quiet_real_phase_is_judged() -> None:
    """No probe reading is left unjudged: a 20 ms phase gets a verdict, and names no thread."""
    probe = ContentionProbe(1)
    probe.start()
    time.sleep(0.02)
    reading = probe.stop()
    assert reading.contended in (True, False)  # True only if the machine is busy elsewhere
    assert reading.foreign_threads == ()


def test_the_report_names_the_threads_that_competed() -> None:
    from pathlib import Path

    from bench.records import Case, ModelSpec, Result
    from bench.report.summary import warnings

    case = Case("s", ModelSpec("m", "torch.nn:Linear", (4,), (1,)), "cpu", "float32", 1, Path())
    spun = Contention(1.0, 0.0, 2, 1, None, 0.9, ("leftover-spin (tid 7)",))
    elsewhere = Contention(1.0, 1.9, 2, 1, None)
    lines = [
        warnings([Result(case, "ok", latency=LatencyStats.from_samples([1.0] * 10, contention=c))])
        for c in (spun, elsewhere)
    ]
    label = f"`{case.label}`"
    assert f"contended (other work competed): {label}" in lines[1]
    named = f"contended (other work competed): {label} (threads of this process: leftover-spin"
    assert f"{named} (tid 7))" in lines[0]
