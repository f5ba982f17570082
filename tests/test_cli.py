"""`bench run` as a user runs it: end to end in a subprocess (the console script, and one run
whose stderr must be bench's lines alone), the rest through `bench.cli.main` in this process
(the `cli` fixture), which parses the same arguments and writes the same run directory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bench.store import read_record
from tests.conftest import TINY_SUITE
from tests.robust_helpers import bench, read_rows


def assert_clean_stderr(stderr: str) -> None:
    """Only bench's own progress lines: no traceback, no profiler log noise."""
    assert "Traceback" not in stderr
    for line in stderr.splitlines():
        assert line.startswith("["), line


def test_run_writes_new_run_dir_with_csv_report_and_json(write_suite, tmp_path: Path) -> None:
    suite = write_suite(TINY_SUITE)
    out = tmp_path / "results"
    done = bench("run", suite, "--out", out, "--quick")
    assert done.returncode == 0, done.stderr
    assert_clean_stderr(done.stderr)
    run_dir = Path(done.stdout.strip())
    assert run_dir.parent == out and run_dir.is_dir()
    rows = read_rows(run_dir)
    assert [(r["model"], r["batch_size"], r["status"]) for r in rows] == [
        ("linear", "1", "ok"),
        ("linear", "2", "ok"),
    ]
    for row, batch in zip(rows, (1, 2), strict=True):
        assert row["input_shape"] == f"{batch}x16"
        assert row["params"] == row["trainable_params"] == str(16 * 4 + 4)
        assert int(row["macs"]) == batch * 16 * 4
        assert int(row["flops"]) == 2 * int(row["macs"])
        assert row["samples"] == "3"
        assert float(row["latency_median_ms"]) > 0
        assert float(row["throughput_per_s"]) > 0
        assert int(row["peak_memory_bytes"]) >= (16 * 4 + 4 + batch * 16) * 4
        # resident = weights + input exactly; the breakdown adds up; no pool on CPU
        assert int(row["param_bytes"]) == (16 * 4 + 4) * 4
        assert row["buffer_bytes"] == "0"
        assert int(row["resident_bytes"]) == (16 * 4 + 4 + batch * 16) * 4
        assert int(row["resident_bytes"]) + int(row["activation_peak_bytes"]) == int(
            row["peak_memory_bytes"]
        )
        assert row["peak_reserved_bytes"] == ""
        assert row["error"] == ""
    report = (run_dir / "report.md").read_text()
    assert "<summary>Environment</summary>" in report and "| linear " in report
    record = read_record(run_dir)
    assert record["environment"]["torch"] == torch.__version__
    assert len(record["cases"][0]["latency_samples_ms"]) == 3
    memory = record["cases"][0]["memory"]
    assert memory["source"] == "profiler"
    assert memory["param_bytes_by_dtype"] == {"float32": (16 * 4 + 4) * 4}
    assert memory["resident_by_kind"]["inputs"] == 16 * 4
    assert memory["pass_s"] > 0
    assert "Activation peak" in report


def test_second_run_never_touches_the_first(write_suite, tmp_path: Path, cli) -> None:
    suite = write_suite(TINY_SUITE)
    out = tmp_path / "results"
    first = Path(cli("run", suite, "--out", out, "--quick", "--metrics", "params").stdout.strip())
    before = (first / "results.csv").read_bytes()
    second = Path(cli("run", suite, "--out", out, "--quick", "--metrics", "params").stdout.strip())
    assert first != second
    assert (first / "results.csv").read_bytes() == before


def test_bad_suite_is_one_line_exit_2_and_writes_nothing(write_suite, tmp_path: Path, cli) -> None:
    suite = write_suite(TINY_SUITE.replace("[16]", "[16.0]"))
    out = tmp_path / "results"
    done = cli("run", suite, "--out", out)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: {suite}: models[0] (linear) input_shape: ")
    assert "positive integers" in lines[0]
    assert not out.exists()


def test_missing_suite_file_is_exit_2(tmp_path: Path, cli) -> None:
    done = cli("run", tmp_path / "nope.toml", "--out", tmp_path / "r")
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1


@pytest.mark.parametrize(
    "args", [("run",), ("run", "x.toml", "--metrics", "speed"), ("frobnicate",)]
)
def test_usage_errors_are_one_line_exit_2(args: tuple[str, ...], cli) -> None:
    done = cli(*args)
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1


def test_failing_case_gets_an_error_row_and_others_still_run(write_suite, tmp_path, cli) -> None:
    suite = write_suite(
        TINY_SUITE
        + '\n[[models]]\nname = "wrong_shape"\nfactory = "torch.nn:Linear"\n'
        + "kwargs = { in_features = 5, out_features = 2 }\ninput_shape = [7]\n"
    )
    done = cli("run", suite, "--out", tmp_path / "r", "--quick")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    rows = read_rows(Path(done.stdout.strip()))
    assert [r["status"] for r in rows] == ["ok", "ok", "error"]
    # which exception torch raises for the mismatch (RuntimeError today) is torch's: the same call
    with pytest.raises(Exception) as mismatch:
        torch.nn.Linear(5, 2)(torch.ones(1, 7))
    assert rows[2]["error"].startswith(f"{type(mismatch.value).__name__}: ")
    assert rows[2]["params"] == rows[2]["latency_median_ms"] == ""


def test_metrics_choose_what_is_measured(write_suite, tmp_path: Path, cli) -> None:
    done = cli("run", write_suite(TINY_SUITE), "--out", tmp_path / "r", "--metrics", "params")
    assert done.returncode == 0
    (row, _) = read_rows(Path(done.stdout.strip()))
    assert row["params"] == "68"
    assert row["macs"] == row["latency_median_ms"] == row["peak_memory_bytes"] == ""


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU behaviour")
def test_cuda_cases_are_skipped_with_a_reason_without_a_gpu(write_suite, tmp_path, cli) -> None:
    suite = write_suite(TINY_SUITE.replace('name = "tiny"', 'name = "tiny"\ndevices = ["cuda"]'))
    done = cli("run", suite, "--out", tmp_path / "r", "--quick")
    assert done.returncode == 0
    rows = read_rows(Path(done.stdout.strip()))
    assert {r["status"] for r in rows} == {"skipped"}
    assert rows[0]["error"] == "no CUDA device on this machine"


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "bench"
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert "run" in done.stdout


def test_train_mode_times_a_whole_step(write_suite, tmp_path: Path, cli) -> None:
    suite = write_suite(
        TINY_SUITE.replace("batch_sizes = [1, 2]", 'batch_sizes = [2]\nmodes = ["eval", "train"]')
    )
    done = cli("run", suite, "--out", tmp_path / "r", "--quick")
    assert done.returncode == 0, done.stderr
    eval_row, train_row = read_rows(Path(done.stdout.strip()))
    assert (eval_row["mode"], train_row["mode"]) == ("eval", "train")
    # forward, plus input-free backward: the weight gradient matmul (the input needs no grad)
    assert int(train_row["macs"]) == 2 * int(eval_row["macs"])
    assert float(train_row["latency_median_ms"]) > 0
