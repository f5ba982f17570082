import csv
import datetime
from pathlib import Path

from bench.records import COLUMNS, Case, LatencyStats, ModelSpec, Result
from bench.store.entries import entry_of
from bench.store.rundir import CsvWriter, format_cell, new_run_dir, write_atomic

SPEC = ModelSpec(name="m", factory="torch.nn:Identity", input_shape=(3,), batch_sizes=(1,))
CASE = Case(suite="s", model=SPEC, device="cpu", dtype="float32", batch_size=1, base_dir=Path())


def test_run_dirs_are_unique_within_one_second(tmp_path: Path) -> None:
    now = datetime.datetime(2026, 1, 2, 3, 4, 5)
    first = new_run_dir(tmp_path, "my suite", now)
    second = new_run_dir(tmp_path, "my suite", now)
    assert first.name == "20260102-030405-my-suite"
    assert second.name == "20260102-030405-my-suite-1"
    assert first.is_dir() and second.is_dir()


def test_cells_are_empty_for_missing_and_fixed_for_floats() -> None:
    assert format_cell(None) == ""
    assert format_cell(0) == "0"
    assert format_cell(19.5234567) == "19.5235"
    assert format_cell(True) == "true"
    assert format_cell(-0.5) == "-0.5"  # a number is never taken for a formula
    for text in ("=1+1", "+1", "-cmd", "@SUM(A1)", "\tx"):  # text a spreadsheet would run
        assert format_cell(text) == "'" + text
    assert format_cell("RuntimeError: =x") == "RuntimeError: =x"


def test_csv_has_header_and_one_flushed_row_per_result(tmp_path: Path) -> None:
    path = tmp_path / "results.csv"
    writer = CsvWriter(path)
    writer.append(Result(case=CASE, status="ok", params=3, macs=0).row())
    # readable before close: every finished row is already on disk
    rows = list(csv.DictReader(path.open()))
    writer.close()
    assert list(rows[0]) == list(COLUMNS)
    assert rows[0]["params"] == "3"
    assert rows[0]["macs"] == "0"
    assert rows[0]["flops"] == "0"
    assert rows[0]["latency_median_ms"] == ""


def test_write_atomic_replaces_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "report.md"
    write_atomic(path, "old")
    write_atomic(path, "new")
    assert path.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.md"]


def test_run_record_keeps_raw_samples_and_notes() -> None:
    latency = LatencyStats.from_samples([3.0, 1.0, 2.0], warmup_iterations=4)
    result = Result(case=CASE, status="ok", latency=latency, notes=("UserWarning: x",))
    case = entry_of(result)
    assert case["latency_samples_ms"] == [3.0, 1.0, 2.0]
    assert case["warmup_iterations"] == 4
    assert case["notes"] == ["UserWarning: x"]
