"""Each fact in one place: one case key, one run record (lossless, appended), one report path,
and the checks resume and merge make on what they are given."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import bench.run_writer
from bench.cli import main
from bench.compare import compare_runs, load_side
from bench.records import CaseKey, key_of, key_of_entry
from bench.store import CASES_JSONL, read_record
from bench.store.entries import entry_of, result_of
from tests.robust_helpers import LINEAR, model_entry, read_rows, suite_text

REFERENCE = Path(__file__).resolve().parent.parent / "results" / "example-default"
PARAMS = ["--metrics", "params"]

MODEL_FILE = """\
import torch


def make(width=8):
    return torch.nn.Linear(8, {out})
"""


def run(capsys, *args: object) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out.strip(), captured.err


def cut_last_row(run_dir: Path) -> None:
    """As if the run had died before its last case."""
    lines = (run_dir / "results.csv").read_text().splitlines(keepends=True)
    (run_dir / "results.csv").write_text("".join(lines[:-1]))


def test_a_run_compared_with_itself_matches_every_case() -> None:
    side = load_side(REFERENCE)
    comparison = compare_runs(side, load_side(REFERENCE))
    assert side.duplicates == ()  # channels_last rows are cases of their own
    assert len(comparison.cases) == len(read_rows(REFERENCE)) == 19
    assert comparison.counts()["same"] == 19
    assert comparison.added == comparison.removed == ()


def test_every_reader_derives_the_same_key() -> None:
    """From the case, from its run record entry and from its results.csv row."""
    side = load_side(REFERENCE)
    record = read_record(REFERENCE)
    for entry, row, case in zip(record["cases"], read_rows(REFERENCE), side.cases, strict=True):
        key, backoff_batch = key_of_entry(entry)
        assert key_of_entry(row) == (key, backoff_batch)
        assert case.key == key
        assert key_of(result_of(entry, REFERENCE).case) == key
    layouts = {k.memory_format for k in (c.key for c in side.cases)}
    assert layouts == {"contiguous", "channels_last"}


def test_keys_stored_by_format_1_shards_read_back() -> None:
    old_model = ["model", "m", "eval", "cpu", "float32", 8, "", "channels_last", "eager", 2, ""]
    old_experiment = ["experiment", "e", "relu", "in_place", "cpu", "float32", 1000]
    assert CaseKey.from_json(old_model) == CaseKey(
        "model", "m", "cpu", "float32", 8, memory_format="channels_last", repeat=2
    )
    key = CaseKey.from_json(old_experiment)
    assert (key.variant, key.numel) == ("relu/in_place", 1000)
    assert CaseKey.from_json(key.to_json()) == key
    with pytest.raises(ValueError):
        CaseKey.from_json(["model", "m"])


@pytest.fixture
def two_case_run(write_suite, tmp_path: Path, capsys) -> Path:
    two = LINEAR.replace("linear", "lin") + "batch_sizes = [1, 2]\n"
    suite = write_suite(suite_text(two))
    code, out, _ = run(capsys, "run", suite, "--quick", "--out", tmp_path / "r")
    assert code == 0
    return Path(out)


def test_the_record_is_lossless_write_read_write(two_case_run: Path) -> None:
    entries = read_record(two_case_run)["cases"]
    assert len(entries) == 2 and entries[0]["memory"] and entries[0]["counting"]
    for entry in entries:
        assert entry_of(result_of(entry, Path("elsewhere"))) == entry


def test_resume_keeps_what_the_first_session_measured(two_case_run: Path, capsys) -> None:
    first = read_record(two_case_run)["cases"][0]
    cut_last_row(two_case_run)
    code, _, err = run(capsys, "run", "--resume", two_case_run, "--quick")
    assert code == 0, err
    again = read_record(two_case_run)["cases"]
    assert len(again) == 2 and again[0] == first  # memory, counting, flags: all still there
    assert read_rows(two_case_run)[0]["peak_memory_bytes"] != ""


def test_a_case_costs_two_appends_not_a_rewrite(
    write_suite, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers: list[int] = []
    original = bench.run_writer.write_header
    monkeypatch.setattr(
        bench.run_writer, "write_header", lambda *a: headers.append(1) or original(*a)
    )
    sweep = LINEAR.replace("linear", "lin") + "batch_sizes = [1, 2, 3, 4, 5, 6, 7, 8]\n"
    code, out, _ = run(
        capsys, "run", write_suite(suite_text(sweep)), *PARAMS, "--out", tmp_path / "r"
    )
    assert code == 0
    run_dir = Path(out)
    assert len(headers) == 2  # the start and the end, whatever the number of cases
    header = read_record(run_dir)
    assert header["format_version"] == 2
    assert (run_dir / CASES_JSONL).read_text().count("\n") == 8 == len(read_rows(run_dir))


def rebuilt_report(capsys, run_dir: Path) -> str:
    """The report `bench report` writes from the record alone."""
    os.remove(run_dir / "report.md")
    assert run(capsys, "report", run_dir)[0] == 0
    return (run_dir / "report.md").read_text()


def test_a_merged_run_report_rebuilds_byte_for_byte(write_suite, tmp_path: Path, capsys) -> None:
    two = LINEAR + "batch_sizes = [1, 2]\n"
    suite = write_suite(suite_text(two, two.replace('"linear"', '"other"')))
    shards = []
    for k in (1, 2):
        code, out, _ = run(capsys, "run", suite, "--quick", "--shard", f"{k}/2", "--out", tmp_path)
        assert code == 0
        shards.append(out)
    code, out, err = run(capsys, "merge", *shards, "--out", tmp_path / "m")
    assert code == 0, err
    merged = Path(out)
    written = (merged / "report.md").read_text()
    assert "## Shards and their machines" in written and "## Plots" in written
    assert rebuilt_report(capsys, merged) == written

    code, _, err = run(capsys, "run", "--resume", merged)
    assert code == 2 and err.count("\n") == 1 and "merge" in err  # a merge is not resumed
    assert read_record(merged)["merged_from"]


@pytest.mark.parametrize(
    "command", [["run", "--profile"], ["profile", "--steps", "1"]], ids=["run", "profile"]
)
def test_a_profiled_run_report_rebuilds_byte_for_byte(
    write_suite, tmp_path: Path, capsys, command: list[str]
) -> None:
    suite = write_suite(suite_text(LINEAR))
    code, out, err = run(capsys, command[0], suite, "--quick", *command[1:], "--out", tmp_path)
    assert code == 0, err
    written = (Path(out) / "report.md").read_text()
    assert "## Profiles" in written and "### `linear cpu float32 b1`" in written
    assert rebuilt_report(capsys, Path(out)) == written


def test_merge_refuses_a_shard_whose_csv_and_record_disagree(
    write_suite, tmp_path: Path, capsys
) -> None:
    suite = write_suite(suite_text(LINEAR))
    code, out, _ = run(capsys, "run", suite, *PARAMS, "--shard", "1/1", "--out", tmp_path)
    assert code == 0
    csv = Path(out) / "results.csv"
    header, row = csv.read_text().splitlines()
    params = header.split(",").index("params")
    cells = row.split(",")
    cells[params] = "999"
    csv.write_text(f"{header}\n{','.join(cells)}\n")
    code, out, err = run(capsys, "merge", Path(csv.parent), "--out", tmp_path / "m")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "params is '999' in results.csv but '20' in run.json" in err
    assert not (tmp_path / "m").exists()


def model_folder(where: Path, out_features: int) -> Path:
    where.mkdir()
    (where / "model.py").write_text(MODEL_FILE.format(out=out_features))
    return where


def test_resume_through_a_symlinked_suite_uses_the_same_model_file(tmp_path: Path, capsys) -> None:
    target = model_folder(tmp_path / "target", 4)
    entry = model_entry("m", "model.py:make", input_shape="[8]", batch_sizes="[1, 2]")
    (target / "suite.toml").write_text(suite_text(entry))
    linked = model_folder(tmp_path / "linked", 16)
    (linked / "suite.toml").symlink_to(target / "suite.toml")
    code, out, _ = run(capsys, "run", linked / "suite.toml", *PARAMS, "--out", tmp_path / "r")
    assert code == 0
    cut_last_row(Path(out))
    assert run(capsys, "run", "--resume", out, *PARAMS)[0] == 0
    assert [r["params"] for r in read_rows(Path(out))] == ["144", "144"]  # linked/model.py's


def test_resume_refuses_an_edited_model_file(tmp_path: Path, capsys) -> None:
    folder = model_folder(tmp_path / "suite", 4)
    entry = model_entry("m", "model.py:make", input_shape="[8]", batch_sizes="[1, 2]")
    (folder / "suite.toml").write_text(suite_text(entry))
    code, out, _ = run(capsys, "run", folder / "suite.toml", *PARAMS, "--out", tmp_path / "r")
    assert code == 0
    cut_last_row(Path(out))
    before = (Path(out) / "results.csv").read_bytes()
    (folder / "model.py").write_text(MODEL_FILE.format(out=16))
    code, _, err = run(capsys, "run", "--resume", out, *PARAMS)
    assert code == 2 and err.count("\n") == 1
    assert f"its factory file {folder.resolve() / 'model.py'} changed since the run" in err
    assert (Path(out) / "results.csv").read_bytes() == before


def test_cases_run_with_what_was_alive_before_frozen_out_of_the_collector(
    write_suite, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each case ends with a full gc.collect(); without the freeze it walked torch's whole
    object graph every time (~100 ms a case) and grew with the results kept."""
    import gc

    import bench.pipeline

    frozen: list[int] = []
    execute = bench.pipeline.execute
    monkeypatch.setattr(
        bench.pipeline, "execute", lambda *a: frozen.append(gc.get_freeze_count()) or execute(*a)
    )
    code, _, _ = run(capsys, "run", write_suite(suite_text(LINEAR)), *PARAMS, "--out", tmp_path)
    assert code == 0
    assert frozen and frozen[0] > 0
    assert gc.get_freeze_count() == 0  # unfrozen again for whoever goes on in this process
