"""End to end: the timing columns, --budget/--precision/--threads, run.json. The budgeted run
and the CUDA one go through a fresh `bench` process (their timing is the point: no test-process
heap behind it); the rest through `bench.cli.main` in this process (the `cli` fixture)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench.store import read_record
from tests.conftest import TINY_SUITE
from tests.robust_helpers import bench, read_rows


def test_quick_run_fills_the_timing_columns(write_suite, tmp_path: Path, cli) -> None:
    done = cli(
        "run", write_suite(TINY_SUITE), "--out", tmp_path, "--quick", "--threads", "1",
        "--precision", "0.05", "--metrics", "latency",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    run_dir = Path(done.stdout.strip())
    for row in read_rows(run_dir):
        assert row["threads"] == "1"
        assert int(row["interop_threads"]) >= 1
        assert float(row["first_call_ms"]) > 0
        assert row["warmup_iterations"] == "1"
        assert int(row["iterations_per_sample"]) >= 1
        assert row["precision_target"] == "0.05"
        assert row["precision_met"] == "false"  # three samples give no 95% interval
        assert row["latency_ci_low_ms"] == row["latency_ci_high_ms"] == ""
        assert row["wall_median_ms"] == row["launch_bound"] == ""  # CPU: no device/wall split
        assert row["noisy"] in ("true", "false")
        assert row["steady"] == ""  # --quick: a smoke test, steadiness not judged
        assert row["contended"] in ("true", "false")  # every timed phase is judged
        assert row["repeat"] == ""
        assert float(row["latency_p99_ms"]) >= float(row["latency_median_ms"])
    assert "raise --budget" not in done.stderr  # a quick row is quick, not unsteady
    record = read_record(run_dir)
    case = record["cases"][0]
    assert case["latency_wall_samples_ms"] == []
    assert case["numerics_flags"]["tf32_matmul"] in (True, False)


def test_budgeted_run_samples_adaptively(write_suite, tmp_path: Path) -> None:
    done = bench(
        "run", write_suite(TINY_SUITE), "--out", tmp_path, "--budget", "300ms",
        "--metrics", "latency", "--threads", "1",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for row in read_rows(Path(done.stdout.strip())):
        assert int(row["samples"]) >= 10
        low, median, high = (
            float(row[c]) for c in ("latency_ci_low_ms", "latency_median_ms", "latency_ci_high_ms")
        )
        assert low <= median <= high
        assert row["precision_target"] == "0.01"
        assert row["precision_met"] in ("true", "false")
        assert row["steady"] == "true"  # a linear layer settles in microseconds
        assert float(row["others_cpu_share"]) >= 0.0
    # the terminal says what its interval is: +-% of the median, or its ends when lopsided
    assert re.search(r"95% CI (\+-[0-9.,]+%|[0-9.,]+-[0-9.,]+ ms)", done.stderr), done.stderr


def test_repeat_runs_every_case_n_times_interleaved(write_suite, tmp_path: Path, cli) -> None:
    done = cli(
        "run", write_suite(TINY_SUITE), "--out", tmp_path, "--quick", "--repeat", "3",
        "--metrics", "latency", "--threads", "1",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    run_dir = Path(done.stdout.strip())
    rows = read_rows(run_dir)
    assert [(r["batch_size"], r["repeat"]) for r in rows] == [
        ("1", "1"), ("2", "1"), ("1", "2"), ("2", "2"), ("1", "3"), ("2", "3"),
    ]  # fmt: skip
    assert done.stderr.count("repeatability: linear cpu float32 b") == 2
    assert "CV " in done.stderr and "over 3 runs" in done.stderr
    report = (run_dir / "report.md").read_text()
    assert "## Repeatability" in report


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--budget", "soon"), ("--precision", "2"), ("--threads", "0"), ("--repeat", "0")],
)
def test_bad_timing_flags_are_one_line_exit_2(flag: str, value: str, tmp_path: Path, cli) -> None:
    done = cli("run", tmp_path / "x.toml", flag, value)
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1


@pytest.mark.cuda
def test_cuda_rows_show_device_and_wall_time(write_suite, tmp_path: Path) -> None:
    suite = write_suite(TINY_SUITE.replace('name = "tiny"', 'name = "tiny"\ndevices = ["cuda"]'))
    done = bench("run", suite, "--out", tmp_path, "--quick", "--metrics", "latency")
    assert done.returncode == 0, done.stderr
    for row in read_rows(Path(done.stdout.strip())):
        assert float(row["latency_median_ms"]) > 0  # device time from CUDA events
        assert float(row["wall_median_ms"]) > 0  # synchronized host wall time
        assert row["launch_bound"] in ("true", "false")
