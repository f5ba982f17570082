"""What `bench run` prints on stderr: labelled per-case lines, the live display, the summary."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from bench.cli import main
from bench.console import ProgressDisplay, case_line, summary_lines
from bench.records import Case, LatencyStats, ModelSpec, Result
from tests.conftest import TINY_SUITE

SPEC = ModelSpec(name="net", factory="x:y", input_shape=(8,), batch_sizes=(4,))
CASE = Case(suite="s", model=SPEC, device="cpu", dtype="float32", batch_size=4, base_dir=Path())
SAMPLES = [10.0 + (7 * i % 20) / 100 for i in range(20)]  # no trend: not drifting


def _ok() -> Result:
    latency = LatencyStats.from_samples(SAMPLES, precision_target=0.001)
    return Result(case=CASE, status="ok", latency=latency, peak_memory_bytes=3 * 2**20)


def test_case_line_labels_the_interval() -> None:
    line = case_line(2, 5, CASE, _ok())
    assert line.startswith("[2/5] net cpu float32 b4: ok median 10.09 ms (95% CI +-")
    assert line.endswith("%), precision target not met; noisy")  # IQR over 10% of the median
    failed = Result(case=CASE, status="error", error="ValueError: no\nmore")
    assert case_line(1, 1, CASE, failed) == "[1/1] net cpu float32 b4: error ValueError: no\\nmore"


def test_plain_display_writes_one_line_per_finished_case() -> None:
    stream = io.StringIO()
    display = ProgressDisplay(stream, interactive=False)
    display(1, 1, CASE, None)
    display(1, 1, CASE, _ok())
    display.close()
    assert stream.getvalue().count("\n") == 1 and "\x1b" not in stream.getvalue()
    assert display.results[0].status == "ok"


def test_live_display_prints_finished_cases_and_stops() -> None:
    stream = io.StringIO()
    display = ProgressDisplay(stream, interactive=True)
    display(1, 2, CASE, None)
    display(1, 2, CASE, _ok())
    display(2, 2, CASE, None)
    display(2, 2, CASE, Result(case=CASE, status="error", error="boom"))
    display.close()
    text = stream.getvalue()
    assert "[1/2] net cpu float32 b4: ok median 10.09 ms" in text
    assert "[2/2] net cpu float32 b4: error boom" in text


def test_summary_table_has_a_row_per_case_and_a_count() -> None:
    lines = summary_lines([_ok(), Result(case=CASE, status="error", error="boom")])
    assert lines[0].split() == ["case", "status", "median", "ms", "95%", "CI", "samples/s",
                                "peak", "MiB", "flags"]  # fmt: skip
    assert "10.09" in lines[2] and "396.2" in lines[2] and "3.000" in lines[2]
    assert lines[2].endswith("noisy")  # the flags column: IQR over 10% of the median
    assert lines[-2] == "2 cases: 1 ok, 1 not ok; flagged: 1 noisy"
    assert lines[-1].startswith("- noisy: the samples disagree")


def test_summary_gives_one_line_of_advice_per_kind_of_flag() -> None:
    from bench.records import Contention

    busy = Contention(wall_s=1.0, others_cpu_s=1.0, cores=2, cores_needed=2, load_avg=3.0)
    contended = LatencyStats.from_samples([10.0] * 20, steady=True, contention=busy)
    unsteady = LatencyStats.from_samples([10.0] * 20, steady=False, contention=busy)
    rows = [Result(case=CASE, status="ok", latency=lat) for lat in (contended, unsteady)]
    lines = summary_lines(rows)
    assert lines[-3] == "2 cases: 2 ok, 0 not ok; flagged: 1 not steady, 2 contended"
    assert lines[-2].startswith("- not steady:") and "--budget" in lines[-2]
    assert lines[-1].startswith("- contended:") and "--threads 1" in lines[-1]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    import bench

    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"bench {bench.__version__}\n"


def test_a_piped_runs_report_keeps_the_busy_machine_note(
    write_suite, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """stderr piped (a CI log): the note on a busy machine was dropped with the terminal's
    summary table. stderr stays one line a case (stdout names the run); the note goes to the
    report, which a CI job keeps."""
    monkeypatch.setattr("bench.measure.threads.neighbour_advice", lambda: "busy; try --threads 1")
    suite = write_suite(TINY_SUITE)
    argv = ["run", str(suite), "--out", str(tmp_path / "r"), "--metrics", "latency"]
    assert main([*argv, "--budget", "0.05s"]) == 0
    out, err = capsys.readouterr()
    assert all(line.startswith("[") for line in err.splitlines())
    report = (Path(out.strip()) / "report.md").read_text()
    assert "> **Machine at the start:** busy; try --threads 1" in report
