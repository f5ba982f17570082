"""A run always ends: per-case timeouts, workers that never outlive bench, no state leaking
between cases, a model's own KeyboardInterrupt as its row."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import torch

from bench.cli import main
from bench.durations import TIMEOUT
from bench.store import read_record
from tests.robust_helpers import LINEAR, bench, bench_popen, model_entry, read_rows, suite_text


def run_main(capsys, *args: str | Path) -> tuple[int, Path | None, str]:
    code = main(["run", *map(str, args)])
    captured = capsys.readouterr()
    out = captured.out.strip()
    return code, Path(out) if out else None, captured.err


def statuses(run_dir: Path) -> list[tuple[str, str]]:
    return [(r["model"], r["status"]) for r in read_rows(run_dir)]


def test_timeout_parsing() -> None:
    assert TIMEOUT.parse("10m") == 600
    assert TIMEOUT.parse("1.5s") == 1.5
    assert TIMEOUT.parse("250ms") == 0.25
    assert TIMEOUT.parse("2h") == 7200
    for bad in ("0", "-1s", "ten", "9999h", ""):
        with pytest.raises(ValueError):
            TIMEOUT.parse(bad)


def test_timed_out_case_is_its_row_and_resume_retries_it_only_when_asked(
    write_suite, tmp_path: Path, capsys
) -> None:
    marker = tmp_path / "slept"
    suite = write_suite(
        suite_text(
            model_entry("slow", ":sleep_once", kwargs=f'{{ marker = "{marker}" }}'),
            LINEAR,
            header='timeout = "30s"',
        )
    )
    code, run_dir, err = run_main(
        capsys, suite, "--out", tmp_path / "r", "--quick", "--metrics", "params", "--timeout", "1s"
    )
    assert code == 1 and run_dir is not None
    assert statuses(run_dir) == [("slow", "timeout"), ("linear", "ok")]
    row = read_rows(run_dir)[0]
    assert row["error"] == "no result within 1 s (--timeout); stopped"
    assert "Traceback" not in err
    # a plain resume keeps the timeout row: nothing to run
    code, _, _ = run_main(capsys, "--resume", run_dir, "--quick", "--metrics", "params")
    assert statuses(run_dir) == [("slow", "timeout"), ("linear", "ok")]
    # --retry-timeouts runs it again (the marker exists now, so it finishes) in place of the row
    code, _, _ = run_main(
        capsys, "--resume", run_dir, "--retry-timeouts", "--quick", "--metrics", "params"
    )
    assert code == 0
    assert statuses(run_dir) == [("linear", "ok"), ("slow", "ok")]
    record = read_record(run_dir)
    assert [c["status"] for c in record["cases"]] == ["ok", "ok"]


def test_suite_timeout_key_is_validated(write_suite, tmp_path: Path, capsys) -> None:
    suite = write_suite(suite_text(LINEAR, header='timeout = "soon"'))
    assert main(["run", str(suite), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {suite}: [suite] timeout: invalid timeout 'soon'")
    assert not (tmp_path / "r").exists()


def test_a_model_changing_torch_settings_does_not_change_the_next_case(
    write_suite, tmp_path: Path, capsys
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    suite = write_suite(
        suite_text(
            model_entry("meddler", ":changes_settings", kwargs=f'{{ cwd = "{elsewhere}" }}'),
            LINEAR,
        )
    )
    before = (torch.get_num_threads(), torch.get_default_dtype(), os.getcwd())
    precision = torch.get_float32_matmul_precision()
    try:
        code, run_dir, _ = run_main(
            capsys, suite, "--out", tmp_path / "r", "--quick", "--threads", "2"
        )
        after = (torch.get_num_threads(), torch.get_default_dtype(), os.getcwd())
    finally:  # never leak into other tests, even when the assertions below fail
        os.chdir(before[2])
        torch.set_num_threads(before[0])
        torch.set_default_dtype(before[1])
        torch.set_float32_matmul_precision(precision)
    assert code == 0 and run_dir is not None
    assert after == before and torch.get_float32_matmul_precision() == precision
    meddler, linear = read_rows(run_dir)
    assert meddler["threads"] == "1"  # what was in effect when the case ended
    assert linear["threads"] == "2"  # the run's setting again
    cases = read_record(run_dir)["cases"]
    notes = {c["model"]: c["notes"] for c in cases}
    (note,) = [n for n in notes["meddler"] if n.startswith("the model changed process-wide")]
    assert "threads 2 -> 1" in note and "default_dtype torch.float32 -> torch.float64" in note
    assert "float32_matmul_precision" in note and f"-> {elsewhere})" in note
    assert not any("process-wide" in n for n in notes["linear"])


@pytest.mark.parametrize(
    ("factory", "error"),
    [
        (":raises_keyboard_interrupt", "KeyboardInterrupt raised by the model"),
        # any BaseException: asyncio.CancelledError killed the whole run
        (":raises_cancelled", "CancelledError: a library's own"),
    ],
)
def test_a_model_raising_a_base_exception_is_its_error_row(
    write_suite, tmp_path: Path, capsys, factory: str, error: str
) -> None:
    suite = write_suite(suite_text(model_entry("raiser", factory), LINEAR))
    code, run_dir, _ = run_main(capsys, suite, "--out", tmp_path / "r", "--quick")
    assert code == 1 and run_dir is not None
    assert statuses(run_dir) == [("raiser", "error"), ("linear", "ok")]
    assert read_rows(run_dir)[0]["error"].startswith(error)


def test_a_model_changing_speed_switches_does_not_slow_the_next_case(
    write_suite, tmp_path: Path, capsys
) -> None:
    """oneDNN off, anomaly detection, deterministic algorithms and flush-denormal are
    process-wide: each is restored before the next case, and the row says which changed."""
    suite = write_suite(suite_text(model_entry("slows", ":slows_the_process"), LINEAR))
    before = (
        torch.backends.mkldnn.enabled,
        torch.is_anomaly_enabled(),
        torch.are_deterministic_algorithms_enabled(),
    )
    try:
        code, run_dir, _ = run_main(capsys, suite, "--out", tmp_path / "r", "--quick")
        after = (
            torch.backends.mkldnn.enabled,
            torch.is_anomaly_enabled(),
            torch.are_deterministic_algorithms_enabled(),
        )
    finally:  # never leak into other tests
        torch.backends.mkldnn.enabled = before[0]
        torch.autograd.set_detect_anomaly(before[1])
        torch.use_deterministic_algorithms(before[2])
        torch.set_flush_denormal(False)
    assert code == 0 and run_dir is not None
    assert after == before
    notes = {c["model"]: c["notes"] for c in read_record(run_dir)["cases"]}
    (note,) = [n for n in notes["slows"] if n.startswith("the model changed process-wide")]
    for name in ("mkldnn_enabled", "anomaly_mode", "deterministic_algorithms", "flush_denormal"):
        assert name in note
    assert not any("process-wide" in n for n in notes["linear"])


def test_a_model_ignoring_sigterm_does_not_make_the_run_ignore_it(
    write_suite, tmp_path: Path, capsys
) -> None:
    import signal

    suite = write_suite(suite_text(model_entry("deaf", ":ignores_sigterm"), LINEAR))
    before = signal.getsignal(signal.SIGTERM)
    try:
        code, run_dir, _ = run_main(capsys, suite, "--out", tmp_path / "r", "--quick")
        after = signal.getsignal(signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, before)
    assert code == 0 and run_dir is not None
    assert after is before
    notes = {c["model"]: c["notes"] for c in read_record(run_dir)["cases"]}
    assert any("SIGTERM handler" in note for note in notes["deaf"])


def test_a_model_writing_into_its_input_is_noted(write_suite, tmp_path: Path, capsys) -> None:
    """`x.div_(255)` in a forward: the timed calls ran on ever smaller values, unnoticed."""
    suite = write_suite(suite_text(model_entry("divides", ":scales_its_input"), LINEAR))
    code, run_dir, _ = run_main(capsys, suite, "--out", tmp_path / "r", "--quick")
    assert code == 0 and run_dir is not None
    notes = {c["model"]: c["notes"] for c in read_record(run_dir)["cases"]}
    assert any("writes into its input (input 0" in note for note in notes["divides"])
    assert not any("writes into its input" in note for note in notes["linear"])


def test_a_model_that_takes_the_timer_away_still_times_out(
    write_suite, tmp_path: Path, capsys
) -> None:
    suite = write_suite(suite_text(model_entry("sly", ":takes_the_timer_away")))
    started = time.monotonic()
    code, run_dir, _ = run_main(
        capsys, suite, "--out", tmp_path / "r", "--quick", "--timeout", "2s"
    )
    assert code == 1 and run_dir is not None
    assert statuses(run_dir) == [("sly", "timeout")]  # (that the next case runs: tests above)
    assert time.monotonic() - started < 60  # the model sleeps 120 s


def test_the_case_that_left_a_thread_running_is_named(write_suite, tmp_path: Path, capsys) -> None:
    """A spinning thread a model left made a later MLP 553x slower; the later rows say
    contended, and now the row of the model that started it says so too."""
    suite = write_suite(suite_text(model_entry("leaver", ":leaves_a_waiting_thread"), LINEAR))
    code, run_dir, _ = run_main(capsys, suite, "--out", tmp_path / "r", "--quick")
    assert code == 0 and run_dir is not None
    notes = {c["model"]: c["notes"] for c in read_record(run_dir)["cases"]}
    assert any("thread(s) running" in n and "'prefetcher'" in n for n in notes["leaver"]), notes
    assert not any("left" in n and "thread" in n for n in notes["linear"])


def test_a_model_calling_os_exit_is_its_error_row(write_suite, tmp_path: Path) -> None:
    """In a real process: os._exit(0) ended the run with exit 0 and nothing written."""
    suite = write_suite(suite_text(model_entry("quitter", ":exits_the_process"), LINEAR))
    done = bench("run", suite, "--out", tmp_path / "r", "--quick")
    assert done.returncode == 1, done.stderr
    run_dir = Path(done.stdout.strip())
    assert statuses(run_dir) == [("quitter", "error"), ("linear", "ok")]
    assert "the model called os._exit(0)" in read_rows(run_dir)[0]["error"]


def test_a_model_that_forks_and_stays_measures_each_case_once(write_suite, tmp_path: Path) -> None:
    """A factory that forked without exiting left two processes measuring the rest (6 rows for
    3 cases); the child now ends when it comes back into bench's loop."""
    suite = write_suite(suite_text(model_entry("forker", ":forks_and_stays"), LINEAR, name="forks"))
    done = bench("run", suite, "--out", tmp_path / "r", "--quick", "--metrics", "params")
    assert done.returncode == 0, done.stderr
    run_dir = Path(done.stdout.strip())
    assert statuses(run_dir) == [("forker", "ok"), ("linear", "ok")]
    notes = {c["model"]: c["notes"] for c in read_record(run_dir)["cases"]}
    assert any("the model forked" in note for note in notes["forker"])


def test_a_model_printing_megabytes_does_not_reach_the_terminal(
    write_suite, tmp_path: Path, capsys
) -> None:
    suite = write_suite(suite_text(model_entry("chatty", ":prints_a_lot"), LINEAR))
    code = main(["run", str(suite), "--out", str(tmp_path / "r"), "--quick"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.count("\n") == 1 and "xxxx" not in out  # stdout: the run directory only
    run_dir = Path(out.strip())
    notes = {c["model"]: c["notes"] for c in read_record(run_dir)["cases"]}
    (note,) = [n for n in notes["chatty"] if "printed" in n]
    assert "characters to stdout (kept off the terminal)" in note and len(note) < 400


def test_a_hanging_case_times_out_and_a_left_thread_does_not_keep_bench_alive(
    write_suite, tmp_path: Path
) -> None:
    """In a real process: the hang is a timeout row, the next case runs, and the non-daemon
    thread a model left behind does not stop `bench` from exiting."""
    suite = write_suite(
        suite_text(
            model_entry("leaver", ":leaves_thread"),
            model_entry("hang", ":hangs"),
            LINEAR,
        )
    )
    done = bench(
        "run", suite, "--out", tmp_path / "r", "--quick", "--metrics", "params", "--timeout", "2s"
    )
    assert done.returncode == 1, done.stderr
    run_dir = Path(done.stdout.strip())
    assert statuses(run_dir) == [("leaver", "ok"), ("hang", "timeout"), ("linear", "ok")]
    assert "Traceback" not in done.stderr


def _children(pid: int) -> set[int]:
    """Every live descendant of `pid` (from /proc)."""
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        parents, frontier = frontier, set()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid in parents and int(entry.name) not in found:
                found.add(int(entry.name))
                frontier.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc (Linux)")
def test_isolate_finishes_past_a_left_thread_and_no_worker_outlives_sigkill(
    write_suite, tmp_path: Path
) -> None:
    marker = tmp_path / "worker.pid"
    suite = write_suite(
        suite_text(
            model_entry("leaver", ":leaves_thread"),
            model_entry("hang", ":hangs", kwargs=f'{{ marker = "{marker}" }}'),
        )
    )
    process = bench_popen(
        "run", suite, "--out", tmp_path / "r", "--quick", "--metrics", "params", "--isolate"
    )
    deadline = time.monotonic() + 240
    while not marker.exists() or not marker.read_text():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the hanging worker never started"
        time.sleep(0.1)
    worker = int(marker.read_text())
    descendants = _children(process.pid)
    assert worker in descendants
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in descendants) and time.monotonic() < deadline:
        time.sleep(0.1)
    survivors = [pid for pid in descendants if _alive(pid)]
    for pid in survivors:  # do not leave them spinning on the test machine either
        os.kill(pid, signal.SIGKILL)
    assert survivors == []
    # the thread-leaving case finished and its row is on disk before the parent died
    run_dir = Path(process.stdout.read().strip()) if process.stdout else None
    assert run_dir is not None and statuses(run_dir) == [("leaver", "ok")]
