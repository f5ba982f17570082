"""Smaller hostile inputs: NaN after the checked call, host OOM, odd names and numbers, BOMs,
directories as suites, text checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from bench.cli import main
from bench.errors import SuiteError
from bench.report.tables import markdown_table
from bench.suite.load import load_suite
from tests.robust_helpers import LINEAR, model_entry, read_rows, suite_text


def run(capsys, *args: str | Path) -> tuple[int, Path | None, str]:
    code = main(["run", *map(str, args)])
    captured = capsys.readouterr()
    out = captured.out.strip()
    return code, Path(out) if out else None, captured.err


def test_nan_on_a_later_call_or_after_a_train_step_is_an_error_row(
    write_suite, tmp_path: Path, capsys
) -> None:
    suite = write_suite(
        suite_text(
            model_entry("later", ":nan_later"),
            model_entry("step", ":inf_gradient", modes='["train"]'),
            LINEAR,
        )
    )
    code, run_dir, _ = run(capsys, suite, "--out", tmp_path, "--quick", "--metrics", "latency")
    assert code == 1 and run_dir is not None
    rows = {r["model"]: r for r in read_rows(run_dir)}
    assert [rows[m]["status"] for m in ("later", "step", "linear")] == ["error", "error", "ok"]
    assert rows["later"]["error"].startswith(
        "NonFiniteOutputError: after the measured calls, output has non-finite values"
    )
    assert rows["step"]["error"].startswith(
        "NonFiniteOutputError: parameter linear.weight became non-finite"
    )


def test_a_host_allocation_failure_is_oom_and_backoff_handles_it(
    write_suite, tmp_path: Path, capsys
) -> None:
    entry = model_entry("big", ":host_allocation", batch_sizes="[4]")
    suite = write_suite(suite_text(entry))
    # latency: a counts-only run counts on meta and never runs the model's real forward
    code, run_dir, _ = run(
        capsys, suite, "--out", tmp_path, "--quick", "--metrics", "params,latency", "--oom-backoff"
    )
    assert code == 1 and run_dir is not None
    rows = [(r["batch_size"], r["status"], r["backoff_from"]) for r in read_rows(run_dir)]
    assert rows == [("4", "oom", ""), ("2", "oom", "4"), ("1", "ok", "4")]
    # the exception type is torch's allocator's (RuntimeError today): the same request, here
    with pytest.raises((MemoryError, RuntimeError)) as refused:
        torch.empty(2**42, dtype=torch.float32)  # what batch 2 asks for
    kind = type(refused.value).__name__
    assert read_rows(run_dir)[0]["error"].startswith(f"CPU out of memory ({kind}: ")


def test_a_pipe_in_any_table_cell_is_escaped_once() -> None:
    table = markdown_table([["a|b", "c\\|d"]], ["x", "y"])
    row = table.splitlines()[-1]
    assert "a\\|b" in row and "c\\|d" in row and "\\\\|" not in row
    assert row.replace("\\|", "").count("|") == 3


def load_error(write_suite, text: str, name: str = "suite.toml") -> str:
    path = write_suite(text, name)
    with pytest.raises(SuiteError) as caught:
        load_suite(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    return message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (suite_text(LINEAR, name="abc\u202edef"), "bidirectional control character"),
        (suite_text(LINEAR.replace('"linear"', '"x\u2066y"')), "bidirectional control character"),
        (suite_text(LINEAR, header="budget = 0"), "more than 0 and at most 24 hours"),
        (suite_text(LINEAR, header='budget = "0ms"'), "more than 0 and at most 24 hours"),
        (suite_text(LINEAR, header="threads = 100000"), "at most 1024"),
        (suite_text(LINEAR, header="batch_sizes = [100000000000000000000000]"), "1 to 16777216"),
        (suite_text(LINEAR.replace("[4]", "[4]\nbatch_sizes = [1, 99999999]")), "1 to 16777216"),
        (suite_text(LINEAR.replace("[4]", "[9999999999]")), "(at most 2147483647)"),
        (suite_text(LINEAR.replace("in_features = 4", "in_features = nan")), "in_features is nan"),
        (
            suite_text(model_entry("m", "torch.nn:Identity", kwargs="{ a = { b = [1, -inf] } }")),
            "a.b.1 is nan or inf",
        ),
    ],
    ids=[
        "rlo-suite-name",
        "isolate-model-name",
        "budget-0",
        "budget-0ms",
        "threads-100000",
        "batch-1e23",
        "batch-1e8",
        "shape-dim",
        "kwargs-nan",
        "kwargs-nested-inf",
    ],
)
def test_hostile_suite_values_are_refused(write_suite, text: str, expected: str) -> None:
    assert expected in load_error(write_suite, text)


def test_a_bom_and_a_directory_say_what_they_are(write_suite, tmp_path: Path) -> None:
    bom = tmp_path / "bom.toml"
    bom.write_bytes(b"\xef\xbb\xbf" + suite_text(LINEAR).encode())
    with pytest.raises(SuiteError, match=r"byte-order mark \(BOM\).*without BOM"):
        load_suite(bom)
    with pytest.raises(SuiteError, match=r"file: is a directory; give the path of a \.toml"):
        load_suite(tmp_path)


def test_nan_kwargs_never_reach_run_json_and_cli_refuses_them(write_suite, tmp_path, capsys):
    text = suite_text(LINEAR.replace("in_features = 4", "in_features = inf"))
    code, run_dir, err = run(capsys, write_suite(text), "--out", tmp_path / "r")
    assert (code, run_dir) == (2, None) and err.startswith("error: ") and err.count("\n") == 1
    ok, run_dir, _ = run(
        capsys, write_suite(suite_text(LINEAR)), "--out", tmp_path / "r", "--metrics", "params"
    )
    assert ok == 0 and run_dir is not None
    json.loads((run_dir / "run.json").read_text(), parse_constant=_refuse)  # strict JSON


def _refuse(name: str) -> None:
    raise AssertionError(f"run.json holds {name}, which is not JSON")


def test_a_model_deleting_the_results_folder_loses_no_row(
    write_suite, tmp_path: Path, capsys
) -> None:
    """A model that removes `results/` while its case runs: the run directory is written again
    from the rows in memory, every row is there, the row that did it says so, exit 0."""
    out = tmp_path / "out"
    (tmp_path / "wipe.py").write_text(
        "import shutil\nimport torch\n"
        f"def make():\n    shutil.rmtree({str(out)!r}, ignore_errors=True)\n"
        "    return torch.nn.Linear(4, 4)\n",
        encoding="utf-8",
    )
    wiper = model_entry("wiper", "wipe.py:make", kwargs="{}")
    suite = write_suite(suite_text(LINEAR, wiper, LINEAR.replace('"linear"', '"after"')))
    code, run_dir, err = run(capsys, suite, "--out", out, "--metrics", "params", "--quiet")
    assert code == 0, err
    assert run_dir is not None
    rows = read_rows(run_dir)
    assert [(r["model"], r["status"]) for r in rows] == [
        ("linear", "ok"), ("wiper", "ok"), ("after", "ok"),
    ]  # fmt: skip
    wiped = json.loads((run_dir / "cases.jsonl").read_text().splitlines()[1])
    assert any("run directory was deleted" in note for note in wiped["notes"])
    assert "written again" in (run_dir / "run.log").read_text(encoding="utf-8")
    assert json.loads((run_dir / "run.json").read_text())["complete"] is True


def test_a_run_directory_deleted_after_the_last_row_is_written_again_on_close(
    tmp_path: Path,
) -> None:
    import shutil

    from bench.records import Case, ModelSpec, Result
    from bench.run_writer import RunWriter

    writer = RunWriter.create(tmp_path / "out", "s", {"suite_name": "s"})
    spec = ModelSpec("m", "torch.nn:Identity", input_shape=(4,), batch_sizes=(1,))
    case = Case("s", spec, "cpu", "float32", 1, tmp_path)
    writer.add(Result(case=case, status="ok", params=0))
    shutil.rmtree(tmp_path / "out")
    assert writer.close(complete=True) is None
    assert [r["model"] for r in read_rows(writer.run_dir)] == ["m"]
    assert (writer.run_dir / "report.md").is_file()


@pytest.mark.parametrize(
    "record",
    [
        "[]",
        "null",
        '{"cases": 5, "environment": 3}',
        '{"environment": {"date": [1]}, "cases": [{"status": 5}]}',
    ],
)
def test_a_malformed_sibling_run_does_not_break_a_run_into_the_same_folder(
    write_suite, tmp_path: Path, capsys, record: str
) -> None:
    """index.md lists every run in --out: a sibling whose run.json is not what bench writes is
    listed as unreadable or skipped, never a crash of the run that finished its cases."""
    out = tmp_path / "out"
    (out / "old-run").mkdir(parents=True)
    (out / "old-run" / "run.json").write_text(record, encoding="utf-8")
    code, run_dir, err = run(
        capsys, write_suite(suite_text(LINEAR)), "--out", out, "--metrics", "params", "--quiet"
    )
    assert code == 0, err
    assert run_dir is not None and read_rows(run_dir)[0]["status"] == "ok"
    assert (out / "index.md").is_file()
