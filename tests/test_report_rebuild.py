"""`bench report RUN_DIR`: report.md and plots from run.json alone, the same bytes every time;
and index.md, the list of runs in a results folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench.cli import main
from bench.report.index import INDEX_MD, render_index
from bench.report.model_plots import model_plot_path
from bench.report.rebuild import write_report
from bench.store import read_record
from tests.conftest import TINY_SUITE

GOLDEN = Path(__file__).parent / "golden" / "report"


def _copy_run(tmp_path: Path, name: str = "run") -> Path:
    run_dir = tmp_path / name
    run_dir.mkdir()
    shutil.copy(GOLDEN / "run.json", run_dir / "run.json")
    return run_dir


def test_report_from_run_json_matches_the_golden_file(tmp_path: Path) -> None:
    """tests/golden/report/ is a real run (suite tests/golden/suite.toml): sweep, train, error.

    After a deliberate change to the report, regenerate the golden file with
    `bench report tests/golden/report` and review its diff.
    """
    run_dir = _copy_run(tmp_path)
    write_report(run_dir)
    assert (run_dir / "report.md").read_bytes() == (GOLDEN / "report.md").read_bytes()


def test_rebuilding_twice_gives_identical_report_and_plots(tmp_path: Path, capsys) -> None:
    first, second = _copy_run(tmp_path, "a"), _copy_run(tmp_path, "b")
    assert main(["report", str(first)]) == 0
    assert capsys.readouterr().out.strip() == str(first / "report.md")
    assert main(["report", str(second)]) == 0
    assert (first / "report.md").read_bytes() == (second / "report.md").read_bytes()
    plots = sorted(p.name for p in (first / "plots").iterdir())
    assert plots == [
        model_plot_path("mlp").split("/")[1]
    ]  # mlp ran at two batch sizes; nothing else did
    for name in plots:
        assert (first / "plots" / name).read_bytes() == (second / "plots" / name).read_bytes()


def test_golden_report_reads_at_a_glance() -> None:
    text = (GOLDEN / "report.md").read_text(encoding="utf-8")
    first_screen = text.split("## Details")[0]
    assert text.index("## Warnings") < text.index("## Suite `golden`") < text.index("## Details")
    assert "- **error** `broken cpu float32 b1`: ValueError: this factory always fails" in text
    header = next(line for line in first_screen.splitlines() if line.startswith("| Model"))
    columns = [c.strip() for c in header.strip("|").split("|")]
    assert columns[:6] == ["Model", "Mode", "Device", "Dtype", "Input", "Status"]
    assert "Peak memory (MiB)" in columns and "MMACs" in columns and "Median (ms)" in columns
    plot = model_plot_path("mlp")
    assert f"[![mlp: latency and throughput against batch size]({plot})]" in text
    for summary in ("Environment", "Timing precision", "Memory breakdown", "Counting coverage"):
        assert f"<summary>{summary}</summary>" in text
    assert "Peak reserved |" not in text and "Wall (ms)" not in text  # empty on CPU: left out
    assert "one whole training step" in text  # train rows' MACs are a step, not a forward


def test_metrics_subset_leaves_no_empty_column(write_suite, tmp_path: Path, capsys) -> None:
    suite = write_suite(TINY_SUITE)
    assert main(["run", str(suite), "--out", str(tmp_path / "r"), "--metrics", "params,flops"]) == 0
    run_dir = Path(capsys.readouterr().out.strip())
    text = (run_dir / "report.md").read_text(encoding="utf-8")
    header = next(line for line in text.splitlines() if line.startswith("| Model"))
    assert [c.strip() for c in header.strip("|").split("|")] == [
        "Model", "Mode", "Device", "Dtype", "Input", "Params (1)", "MACs",
    ]  # fmt: skip


def test_bench_run_report_equals_bench_report_and_index_lists_runs(
    write_suite, tmp_path: Path, capsys
) -> None:
    suite = write_suite(TINY_SUITE)
    out = tmp_path / "results"
    runs = []
    for _ in range(2):
        assert main(["run", str(suite), "--out", str(out), "--quick", "--quiet"]) == 0
        runs.append(Path(capsys.readouterr().out.strip()))
    written = (runs[0] / "report.md").read_bytes()
    plot = (runs[0] / model_plot_path("linear")).read_bytes()
    assert f"]({model_plot_path('linear')})" in written.decode()
    assert main(["report", str(runs[0])]) == 0
    assert (runs[0] / "report.md").read_bytes() == written
    assert (runs[0] / model_plot_path("linear")).read_bytes() == plot
    index = (out / INDEX_MD).read_text(encoding="utf-8")
    assert index.startswith("# bench runs in this folder\n\n2 runs, newest first.")
    for run in runs:
        assert f"[{run.name}]({run.name}/report.md)" in index
    assert index.count("| tiny ") == 2 and "2 (2 ok)" in index


def test_index_skips_folders_that_are_not_runs(tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "run.json").write_text("{", encoding="utf-8")
    run = _copy_run(tmp_path, "20260101-000000-golden")
    record = read_record(run)
    text = render_index(tmp_path)
    assert "1 runs" in text and "golden" in text and "notes" not in text and "broken" not in text
    assert f"{len(record['cases'])} (4 ok)" in text


@pytest.mark.parametrize("make", ["missing", "no_json", "bad_json"])
def test_report_of_a_non_run_is_one_error_line(tmp_path: Path, capsys, make: str) -> None:
    target = tmp_path / "x"
    if make != "missing":
        target.mkdir()
    if make == "bad_json":
        (target / "run.json").write_text("[]", encoding="utf-8")
    assert main(["report", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {target}") and err.count("\n") == 1
    assert not (target / "report.md").exists()


def test_report_into_a_read_only_run_is_one_error_line(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read-only run directory gave a traceback (faked: tests may run as root)."""
    import errno
    import os

    from bench.report import rebuild

    run_dir = _copy_run(tmp_path)

    def read_only(path: Path, text: str) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

    monkeypatch.setattr(rebuild, "write_atomic", read_only)
    assert main(["report", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {run_dir}: cannot write the report (Read-only file system)\n"
