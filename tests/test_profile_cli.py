"""`bench profile` and `bench run --profile` end to end, as a user runs them: the profile of a
working model in a fresh `bench` process (its stderr must hold no profiler log noise, which the
profiler writes to the process's own stderr), the rest through `bench.cli.main` in this process."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from bench import cli
from tests.fakes import FixedCallTimer
from tests.test_cli import assert_clean_stderr, bench
from tests.test_profile import write_suite


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_profile_of_a_users_two_layer_mlp(tmp_path: Path) -> None:
    suite = write_suite(tmp_path)
    out = tmp_path / "results"
    done = bench("profile", suite, "--model", "mlp", "--steps", "2", "--quick", "--out", out)
    assert done.returncode == 0, done.stderr
    assert_clean_stderr(done.stderr)
    run_dir = Path(done.stdout.strip())
    assert run_dir.parent == out
    ops = read_csv(run_dir / "profile_ops.csv")
    assert {"aten::addmm", "aten::linear", "aten::relu"} <= {r["operator"] for r in ops}
    assert {r["case"] for r in ops} == {"mlp cpu float32 b8"}
    modules = read_csv(run_dir / "profile_modules.csv")
    assert [r["module"] for r in modules] == ["TwoLayer", "fc1", "act", "fc2"]
    assert [r["module_type"] for r in modules] == ["TwoLayer", "Linear", "ReLU", "Linear"]
    memory = read_csv(run_dir / "profile_memory.csv")
    assert {r["operator"] for r in memory} == {"aten::linear", "aten::relu"}
    report = (run_dir / "report.md").read_text(encoding="utf-8")
    assert "## Profiles" in report and "profiler overhead" in report
    assert "ui.perfetto.dev" in report and "chrome://tracing" in report
    for name in ("`fc1`", "`fc2`", "`aten::addmm`"):
        assert name in report
    traces = sorted(run_dir.glob("profile/*/*.trace.json"))
    assert len(traces) == 1 and f"]({traces[0].relative_to(run_dir).as_posix()})" in report
    assert json.loads(traces[0].read_text(encoding="utf-8"))["traceEvents"]


def test_profile_of_an_unknown_model_is_a_usage_error(tmp_path: Path, cli) -> None:
    suite = write_suite(tmp_path)
    out = tmp_path / "results"
    done = cli("profile", suite, "--model", "nope", "--out", out)
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and len(done.stderr.splitlines()) == 1
    assert "--model 'nope': no such model" in done.stderr
    assert not out.exists()


def test_profile_of_a_failing_model_exits_1_and_reports_it(tmp_path: Path, cli) -> None:
    suite = write_suite(tmp_path)
    done = cli("profile", suite, "--model", "broken", "--quick", "--out", tmp_path / "r")
    assert done.returncode == 1
    report = (Path(done.stdout.strip()) / "report.md").read_text(encoding="utf-8")
    assert "Not profiled: error: RuntimeError: " in report


def test_profiling_does_not_change_the_latency_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Same rows with and without --profile, under a fake timer that makes timing exact (a 1 ms
    budget, none of it kept for sampling, leaves the engine its minimums only: ten one-call
    blocks, whatever the real clock)."""
    monkeypatch.setattr("bench.measure.case.CpuTimer", FixedCallTimer)
    monkeypatch.setattr("bench.measure.case.SAMPLING_SHARE", 0.0)
    suite = write_suite(tmp_path)
    rows = {}
    for flag in ((), ("--profile",)):
        out = tmp_path / ("profiled" if flag else "plain")
        args = ["run", str(suite), "--metrics", "latency", "--budget", "1ms", "--out", str(out)]
        assert cli.main([*args, *flag]) == 1  # the suite's broken model is an error row
        run_dir = Path(capsys.readouterr().out.strip())
        rows[flag] = (run_dir / "results.csv").read_text(encoding="utf-8")
        profiled = (run_dir / "profile_modules.csv").exists()
        assert profiled == bool(flag)
        report = (run_dir / "report.md").read_text(encoding="utf-8")
        assert ("## Profiles" in report) == bool(flag)
    # every cell but the machine's own load, read live around each run's sampling
    machine = {"load_avg", "others_cpu_share", "contended"}

    def cells(text: str) -> list[dict[str, str]]:
        return [
            {k: v for k, v in row.items() if k not in machine}
            for row in csv.DictReader(text.splitlines())
        ]

    assert cells(rows[()]) == cells(rows[("--profile",)])
    mlp = next(r for r in csv.DictReader(rows[()].splitlines()) if r["model"] == "mlp")
    assert mlp["latency_median_ms"] == "0.005"  # the fake timer's: timing was exact
