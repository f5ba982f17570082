"""Nothing finished is lost: Ctrl-C, SIGTERM, SIGKILL, concurrent runs, --isolate, --resume."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from bench.cli import main
from bench.records import COLUMNS
from bench.store import read_record
from bench.store.rundir import new_run_dir
from tests.robust_helpers import (
    LINEAR,
    bench,
    bench_popen,
    model_entry,
    read_rows,
    suite_text,
)


def with_batches(entry: str, batches: str) -> str:
    return entry.replace("input_shape = [4]", f"input_shape = [4]\nbatch_sizes = {batches}")


def wait_for(path: Path, process: subprocess.Popen[str], seconds: float = 120) -> None:
    """Poll until `path` exists; fail (not hang) if the process ends first or it never comes."""
    deadline = time.monotonic() + seconds
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f"bench exited {process.returncode}: {process.communicate()}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"{path} never appeared")
        time.sleep(0.05)


def sleeper_suite(write_suite, tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / "sleeping"
    text = suite_text(
        with_batches(LINEAR, "[1, 2]"),
        model_entry("sleeper", ":sleep_once", kwargs=f'{{ marker = "{marker}" }}'),
        model_entry("after", "torch.nn:Linear", kwargs="{ in_features = 4, out_features = 2 }"),
    )
    return write_suite(text), marker


@pytest.mark.parametrize(
    ("signum", "code", "word", "flags"),
    [
        (signal.SIGINT, 130, "interrupted", ()),
        (signal.SIGTERM, 143, "terminated", ()),
        (signal.SIGINT, 130, "interrupted", ("--isolate",)),
    ],
    ids=["sigint", "sigterm", "sigint-isolate"],
)
def test_signal_keeps_finished_rows_and_writes_the_report(
    write_suite, tmp_path: Path, signum: int, code: int, word: str, flags: tuple[str, ...]
) -> None:
    suite, marker = sleeper_suite(write_suite, tmp_path)
    process = bench_popen("run", suite, "--out", tmp_path / "r", "--quick", *flags)
    wait_for(marker, process)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == code
    assert "Traceback" not in stderr
    assert stderr.splitlines()[-1].startswith(f"{word}: finished rows and the report")
    run_dir = Path(stdout.strip())
    rows = read_rows(run_dir)
    assert [(r["model"], r["batch_size"], r["status"]) for r in rows] == [
        ("linear", "1", "ok"),
        ("linear", "2", "ok"),
    ]
    report = (run_dir / "report.md").read_text()
    assert report.startswith(
        f"# bench run: robust (interrupted: 2 rows; finish it with --resume {run_dir})"
    )
    assert "2 cases: 2 ok, 0 not ok." in report
    record = read_record(run_dir)
    assert record["complete"] is False
    assert [c["batch_size"] for c in record["cases"]] == [1, 2]
    log = (run_dir / "run.log").read_text()
    assert "interrupted: 2 rows written" in log


def test_interrupted_run_resumes_and_skips_finished_cases(write_suite, tmp_path: Path, cli) -> None:
    """Interrupted in a real process by a real SIGINT; resumed in this one (`cli`): the resume
    reads only what the interrupted process left on disk."""
    suite, marker = sleeper_suite(write_suite, tmp_path)
    process = bench_popen("run", suite, "--out", tmp_path / "r", "--quick")
    wait_for(marker, process)
    process.send_signal(signal.SIGINT)
    stdout, _ = process.communicate(timeout=120)
    run_dir = Path(stdout.strip())
    before = (run_dir / "results.csv").read_bytes()
    first_samples = read_record(run_dir)["cases"][0]["latency_samples_ms"]

    done = cli("run", "--resume", run_dir, "--quick")  # the suite file comes from run.json
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()) == run_dir
    # only the two unfinished cases ran, numbered as this session's work
    assert [line.split(":")[0] for line in done.stderr.splitlines()] == [
        "[1/2] sleeper cpu float32 b1",
        "[2/2] after cpu float32 b1",
    ]
    after = (run_dir / "results.csv").read_bytes()
    assert after.startswith(before) and after.count(b"\n") == 5
    rows = read_rows(run_dir)
    assert [(r["model"], r["batch_size"]) for r in rows] == [
        ("linear", "1"),
        ("linear", "2"),
        ("sleeper", "1"),
        ("after", "1"),
    ]
    record = read_record(run_dir)
    assert record["complete"] is True
    assert record["cases"][0]["latency_samples_ms"] == first_samples
    assert len(record["earlier_environments"]) == 1
    assert "4 cases: 4 ok, 0 not ok." in (run_dir / "report.md").read_text()
    assert "resumed: suite 'robust'" in (run_dir / "run.log").read_text()

    again = cli("run", suite, "--resume", run_dir, "--quick")
    assert again.returncode == 0 and again.stderr == ""  # nothing left to run
    assert (run_dir / "results.csv").read_bytes() == after


def resume_main(capsys, *args: str | Path) -> tuple[int, str]:
    code = main(["run", *map(str, args)])
    return code, capsys.readouterr().err


def finished_run(write_suite, tmp_path: Path, capsys, text: str) -> Path:
    suite = write_suite(text)
    assert main(["run", str(suite), "--out", str(tmp_path / "r"), "--metrics", "params"]) == 0
    return Path(capsys.readouterr().out.strip())


def test_resume_refuses_another_suite(write_suite, tmp_path: Path, capsys) -> None:
    run_dir = finished_run(write_suite, tmp_path, capsys, suite_text(LINEAR))
    other = write_suite(suite_text(LINEAR, name="other"), "other.toml")
    code, err = resume_main(capsys, other, "--resume", run_dir)
    assert code == 2
    assert err == (
        f"error: {run_dir}: a run of suite 'robust', not 'other'; "
        "resume it with its own suite file\n"
    )
    assert len(read_rows(run_dir)) == 1


def test_resume_refuses_a_changed_model(write_suite, tmp_path: Path, capsys) -> None:
    run_dir = finished_run(write_suite, tmp_path, capsys, suite_text(LINEAR))
    changed = write_suite(suite_text(LINEAR.replace("out_features = 4", "out_features = 3")))
    code, err = resume_main(capsys, changed, "--resume", run_dir)
    assert code == 2
    assert "model 'linear' changed since the run" in err and err.count("\n") == 1


def test_resume_refuses_a_case_no_longer_in_the_suite(write_suite, tmp_path, capsys) -> None:
    run_dir = finished_run(write_suite, tmp_path, capsys, suite_text(LINEAR))
    fewer = write_suite(suite_text(with_batches(LINEAR, "[2]")))
    code, err = resume_main(capsys, fewer, "--resume", run_dir)
    assert code == 2 and "is not a case of the suite now" in err


def test_resume_of_a_non_run_dir_is_exit_2(write_suite, tmp_path: Path, capsys) -> None:
    suite = write_suite(suite_text(LINEAR))
    (tmp_path / "empty").mkdir()
    for target in (tmp_path / "empty", tmp_path / "absent"):
        code, err = resume_main(capsys, suite, "--resume", target)
        assert code == 2 and err.startswith("error: ") and err.count("\n") == 1
    assert list((tmp_path / "empty").iterdir()) == []
    code, err = resume_main(capsys)
    assert code == 2 and "give a suite file, or --resume RUN_DIR" in err


def test_resume_cuts_a_torn_last_line(write_suite, tmp_path: Path, capsys) -> None:
    text = suite_text(with_batches(LINEAR, "[1, 2]"))
    run_dir = finished_run(write_suite, tmp_path, capsys, text)
    csv_path = run_dir / "results.csv"
    lines = csv_path.read_bytes().splitlines(keepends=True)
    csv_path.write_bytes(lines[0] + lines[1] + lines[2][:10])  # as if killed mid-write
    code, _ = resume_main(capsys, "--resume", run_dir, "--metrics", "params")
    assert code == 0
    assert [r["batch_size"] for r in read_rows(run_dir)] == ["1", "2"]


def test_sigkill_leaves_only_complete_lines(write_suite, tmp_path: Path) -> None:
    entry = with_batches(LINEAR, str(list(range(1, 41))))
    suite = write_suite(suite_text(entry))
    process = bench_popen("run", suite, "--out", tmp_path / "r", "--metrics", "params")
    run_dir = Path(process.stdout.readline().strip())
    csv_path = run_dir / "results.csv"
    deadline = time.monotonic() + 120
    while csv_path.read_bytes().count(b"\n") < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    process.kill()
    process.communicate(timeout=60)
    data = csv_path.read_bytes()
    assert data.endswith(b"\n")
    rows = read_rows(run_dir)
    assert len(rows) >= 3
    assert all(None not in r and None not in r.values() for r in rows)
    assert [r["batch_size"] for r in rows] == [str(b) for b in range(1, len(rows) + 1)]
    assert len(read_record(run_dir)["cases"]) >= len(rows)


def test_two_runs_started_at_once_get_their_own_dirs(write_suite, tmp_path: Path) -> None:
    suite = write_suite(suite_text(LINEAR))
    out = tmp_path / "r"
    processes = [bench_popen("run", suite, "--out", out, "--metrics", "params") for _ in range(3)]
    outputs = [p.communicate(timeout=300) for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0]
    dirs = {Path(stdout.strip()) for stdout, _ in outputs}
    assert len(dirs) == 3 and {p for p in out.iterdir() if p.is_dir()} == dirs
    for run_dir in dirs:
        assert len(read_rows(run_dir)) == 1
        assert sorted(p.name for p in run_dir.iterdir()) == [
            "cases.jsonl",
            "report.md",
            "results.csv",
            "run.json",
            "run.log",
        ]


def test_run_dirs_are_unique_within_one_second_across_threads(tmp_path: Path) -> None:
    import datetime

    now = datetime.datetime(2026, 1, 2, 3, 4, 5)
    made: list[Path] = []
    threads = [
        threading.Thread(target=lambda: made.append(new_run_dir(tmp_path, "s", now)))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(made)) == 8
    assert sorted(p.name for p in made)[:2] == ["20260102-030405-s", "20260102-030405-s-1"]


def test_a_run_being_written_cannot_be_resumed_at_the_same_time(write_suite, tmp_path) -> None:
    from bench.errors import BenchError
    from bench.store.rundir import CsvWriter

    first = CsvWriter(tmp_path / "results.csv")
    try:
        with pytest.raises(BenchError, match="another bench process is writing this run"):
            CsvWriter(tmp_path / "results.csv", resume=True)
    finally:
        first.close()
    assert (tmp_path / "results.csv").read_text() == ",".join(COLUMNS) + "\n"


def test_isolate_records_abort_and_segfault_as_that_case_error(write_suite, tmp_path) -> None:
    suite = write_suite(
        suite_text(
            model_entry("abort", ":aborts"),
            model_entry("segv", ":segfaults"),
            model_entry("nan", ":nan_output"),
        )
    )
    done = bench("run", suite, "--out", tmp_path / "r", "--quick", "--isolate")
    assert done.returncode == 1
    assert len(done.stderr.splitlines()) == 3 and "Traceback" not in done.stderr
    run_dir = Path(done.stdout.strip())
    rows = read_rows(run_dir)
    # each worker's death is its own row, and the run went on after each crash (the rows after)
    assert [(r["model"], r["status"]) for r in rows] == [
        ("abort", "error"),
        ("segv", "error"),
        ("nan", "error"),
    ]
    died = "worker process died (killed by signal {}) before reporting a result"
    assert rows[0]["error"] == died.format("SIGABRT")
    assert rows[1]["error"] == died.format("SIGSEGV")
    # an ordinary failure inside a worker is reported as in-process, traceback and warning kept
    assert rows[2]["error"].startswith("NonFiniteOutputError: output has non-finite values")
    log = (run_dir / "run.log").read_text()
    assert "exited with code -11" in log and "exited with code -6" in log
    assert "Traceback (most recent call last):" in log and "RuntimeWarning: NaN/Inf" in log


def _without_rss(row: dict[str, str]) -> dict[str, str]:
    return {column: value for column, value in row.items() if column != "rss_peak_bytes"}


def test_resume_keeps_backoff_rows_and_their_labels(write_suite, tmp_path: Path, capsys) -> None:
    suite = write_suite(
        suite_text(
            model_entry("big", ":oom_above", kwargs="{ limit = 1 }", batch_sizes="[4]"),
            LINEAR,
        )
    )
    # memory: a counts-only run counts on meta and never runs the model's real forward
    args = ["--quick", "--oom-backoff", "--metrics", "params,memory"]
    assert main(["run", str(suite), "--out", str(tmp_path / "r"), *args]) == 1
    run_dir = Path(capsys.readouterr().out.strip())
    rows = read_rows(run_dir)
    # drop the last row (linear), as if the run had died before it
    lines = (run_dir / "results.csv").read_text().splitlines(keepends=True)
    (run_dir / "results.csv").write_text("".join(lines[:-1]))
    assert main(["run", "--resume", str(run_dir), *args]) == 1  # the b4 oom row still stands
    captured = capsys.readouterr()
    assert captured.err.splitlines() == ["[1/1] linear cpu float32 b1: ok"]
    # every cell repeats but the process's RSS high-water mark (the re-measured row's own)
    assert [_without_rss(r) for r in read_rows(run_dir)] == [_without_rss(r) for r in rows]
    assert [(r["batch_size"], r["status"], r["backoff_from"]) for r in rows] == [
        ("4", "oom", ""),
        ("2", "oom", "4"),
        ("1", "ok", "4"),
        ("1", "ok", ""),
    ]
    report = (run_dir / "report.md").read_text()
    assert "big cpu float32 b2 (oom backoff from b4)" in report
