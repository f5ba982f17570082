"""Failing models stay contained: their rows say why, other cases run, run.log has the detail."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from bench.cli import main
from bench.model.outputs import NonFiniteOutputError, OutputError, check_output
from bench.store import read_record
from tests.robust_helpers import LINEAR, bench, model_entry, read_rows, suite_text


def run_main(capsys, *args: str | Path) -> tuple[int, Path | None, list[str]]:
    code = main(["run", *map(str, args)])
    captured = capsys.readouterr()
    out = captured.out.strip()
    return code, Path(out) if out else None, captured.err.splitlines()


@pytest.mark.parametrize(
    "output",
    [
        torch.ones(2),
        (torch.ones(2), torch.zeros(1, dtype=torch.int64)),
        [torch.ones(1)],
        {"a": torch.ones(1), "b": (torch.ones(1), [torch.ones(1)])},
    ],
    ids=["tensor", "tuple", "list", "nested-dict"],
)
def test_tensor_outputs_are_accepted(output) -> None:
    check_output(output)


@pytest.mark.parametrize(
    ("output", "message"),
    [
        (None, "forward returned no tensor (NoneType); allowed: tensors"),
        (3, "forward returned no tensor (int); allowed: tensors"),
        ((), "forward returned no tensor (tuple); allowed: tensors"),
        ({"b": "text"}, "forward returned no tensor (dict: output['b'] (str)); allowed: tensors"),
        ([None, [3]], "no tensor (list: output[0] (NoneType), output[1][0] (int))"),
    ],
)
def test_outputs_without_a_tensor_are_refused(output, message: str) -> None:
    with pytest.raises(OutputError, match=re.escape(message)):
        check_output(output)


def test_nan_and_inf_are_counted() -> None:
    values = torch.tensor([1.0, float("nan"), float("inf"), -float("inf"), float("nan")])
    with pytest.raises(
        NonFiniteOutputError,
        match=r"output\[1\] has non-finite values "
        r"\(2 NaN, 2 Inf of 5\)",
    ):
        check_output((torch.ones(1), values))
    check_output(torch.tensor([1, 2]))  # integer tensors cannot hold NaN


def test_each_failure_is_its_own_error_row_and_the_rest_still_runs(
    write_suite, tmp_path: Path, capsys
) -> None:
    suite = write_suite(
        suite_text(
            LINEAR,
            model_entry("nan", ":nan_output"),
            model_entry("inf", ":inf_output"),
            model_entry("none", ":none_output"),
            model_entry("int", ":int_output"),
            model_entry("empty", ":empty_output"),
            model_entry("nested", ":nested_output"),
            model_entry("build", ":build_fails"),
            model_entry("string", ":not_a_module"),
            model_entry("exits", ":exits"),
            model_entry(
                "shape", "torch.nn:Linear", "[7]", kwargs="{ in_features = 5, out_features = 2 }"
            ),
            model_entry("last", "torch.nn:Linear", kwargs="{ in_features = 4, out_features = 2 }"),
        )
    )
    code, run_dir, err = run_main(capsys, suite, "--out", tmp_path / "r", "--quick")
    assert code == 1
    rows = {r["model"]: r for r in read_rows(run_dir)}
    assert {m: r["status"] for m, r in rows.items()} == {
        "linear": "ok",
        "nan": "error",
        "inf": "error",
        "none": "error",
        "int": "error",
        "empty": "error",
        "nested": "ok",
        "build": "error",
        "string": "error",
        "shape": "error",
        "exits": "error",
        "last": "ok",
    }
    assert rows["nan"]["error"].startswith("NonFiniteOutputError: output has non-finite values")
    assert "(4 NaN, 0 Inf of 4)" in rows["nan"]["error"]
    assert "(0 NaN, 4 Inf of 4)" in rows["inf"]["error"]
    assert rows["none"]["error"].startswith("OutputError: forward returned no tensor (NoneType)")
    assert rows["build"]["error"] == "ValueError: this factory always fails"
    assert rows["string"]["error"] == "TypeError: factory returned str, not a torch.nn.Module"
    assert rows["exits"]["error"] == "SystemExit: 3"
    # torch's own wording changes between releases, and which exception it raises (RuntimeError
    # today) is torch's too: the type is taken from the same call, here
    with pytest.raises(Exception) as mismatch:
        torch.nn.Linear(5, 2)(torch.ones(1, 7))
    assert rows["shape"]["error"].startswith(f"{type(mismatch.value).__name__}: ")
    assert all("\n" not in r["error"] for r in rows.values())
    # stderr: one line per case (12), no traceback
    assert len(err) == 12 and not any("Traceback" in line for line in err)
    # the NaN/Inf warning is in the row's notes (run.json, report) and in run.log
    record = read_record(run_dir)
    notes = {c["model"]: c["notes"] for c in record["cases"]}
    assert any(n.startswith("RuntimeWarning: NaN/Inf output:") for n in notes["nan"])
    assert any(n.startswith("RuntimeWarning: NaN/Inf output:") for n in notes["inf"])
    assert notes["linear"] == []
    log = (run_dir / "run.log").read_text()
    assert log.count("Traceback (most recent call last):") == 9
    assert 'raise ValueError("this factory always fails")' in log
    assert "NaN/Inf output" in (run_dir / "report.md").read_text()


def test_cli_subprocess_stderr_is_one_line_per_case_and_log_has_traceback(
    write_suite, tmp_path: Path
) -> None:
    suite = write_suite(suite_text(model_entry("build", ":build_fails"), LINEAR))
    done = bench("run", suite, "--out", tmp_path / "r", "--quick", "--metrics", "params")
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "[1/2] build cpu float32 b1: error ValueError: this factory always fails",
        "[2/2] linear cpu float32 b1: ok",
    ]
    log = (Path(done.stdout.strip()) / "run.log").read_text()
    assert "Traceback (most recent call last):" in log and "in build_fails" in log


def test_fake_cuda_oom_is_an_oom_row_and_the_run_goes_on(write_suite, tmp_path, capsys) -> None:
    suite = write_suite(
        suite_text(
            model_entry("big", ":oom_above", kwargs="{ limit = 2 }", batch_sizes="[2, 8]"), LINEAR
        )
    )
    code, run_dir, _ = run_main(capsys, suite, "--out", tmp_path / "r", "--quick")
    assert code == 1
    rows = read_rows(run_dir)
    assert [(r["model"], r["batch_size"], r["status"], r["backoff_from"]) for r in rows] == [
        ("big", "2", "ok", ""),
        ("big", "8", "oom", ""),
        ("linear", "1", "ok", ""),
    ]
    assert rows[1]["error"].startswith("CUDA out of memory. Tried to allocate 8 GiB")
    assert rows[1]["params"] == ""


def test_oom_backoff_adds_labelled_rows_at_real_smaller_batches(
    write_suite, tmp_path: Path, capsys
) -> None:
    suite = write_suite(
        suite_text(
            model_entry("big", ":oom_above", kwargs="{ limit = 3 }", batch_sizes="[16]"), LINEAR
        )
    )
    code, run_dir, err = run_main(
        capsys, suite, "--out", tmp_path / "r", "--quick", "--oom-backoff"
    )
    assert code == 1  # the requested batch did not run: still a failure
    rows = read_rows(run_dir)
    assert [
        (r["model"], r["batch_size"], r["input_shape"], r["status"], r["backoff_from"])
        for r in rows
    ] == [
        ("big", "16", "16x4", "oom", ""),
        ("big", "8", "8x4", "oom", "16"),
        ("big", "4", "4x4", "oom", "16"),
        ("big", "2", "2x4", "ok", "16"),
        ("linear", "1", "1x4", "ok", ""),
    ]
    # throughput uses the batch the row really ran (2), not the requested 16 (cells are 6 digits)
    assert float(rows[3]["throughput_per_s"]) == pytest.approx(
        2 * 1000 / float(rows[3]["latency_median_ms"]), rel=1e-5
    )
    assert "big cpu float32 b2 (oom backoff from b16): ok" in "\n".join(err)
    record = read_record(run_dir)
    assert record["cases"][3]["notes"][0].startswith("oom backoff: batch 16 ran out of memory")


def test_without_backoff_flag_the_batch_never_changes(write_suite, tmp_path, capsys) -> None:
    suite = write_suite(
        suite_text(model_entry("big", ":oom_above", kwargs="{ limit = 1 }", batch_sizes="[4]"))
    )
    code, run_dir, _ = run_main(capsys, suite, "--out", tmp_path / "r", "--quick")
    assert code == 1
    assert [r["batch_size"] for r in read_rows(run_dir)] == ["4"]


def test_backoff_stops_after_batch_one(write_suite, tmp_path: Path, capsys) -> None:
    suite = write_suite(
        suite_text(model_entry("big", ":oom_above", kwargs="{ limit = 0 }", batch_sizes="[3]"))
    )
    code, run_dir, _ = run_main(capsys, suite, "--out", tmp_path / "r", "--quick", "--oom-backoff")
    assert code == 1
    rows = read_rows(run_dir)
    assert [(r["batch_size"], r["status"]) for r in rows] == [("3", "oom"), ("1", "oom")]


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("a|b", "contains |, which report.md reads as markup"),
        ("<img src=x onerror=alert(1)>", "contains < >, which report.md reads as markup"),
        ("a\u2028b", "invisible or line-breaking character (U+2028)"),
        ("a\u200bb", "invisible or line-breaking character (U+200B)"),
        ("m" * 101, "is 101 characters long; at most 100"),
        ("=HYPERLINK(1)", "starts with =, which a spreadsheet opening results.csv runs"),
    ],
)
def test_a_name_no_output_can_carry_is_a_one_line_suite_error(
    write_suite, tmp_path, capsys, name: str, says: str
) -> None:
    """A model named `<img src=x onerror=...>` went raw into report.md's tables, warnings and
    `<summary>` (rendered on GitHub and in browsers); `a|b` split table cells."""
    suite = write_suite(suite_text(LINEAR.replace('name = "linear"', f'name = "{name}"')))
    code, run_dir, err = run_main(capsys, suite, "--out", tmp_path / "r", "--metrics", "params")
    assert code == 2 and run_dir is None
    assert len(err) == 1 and says in err[0] and "models[0] (" in err[0]


def test_an_error_message_is_escaped_in_the_report(write_suite, tmp_path, capsys) -> None:
    """An error holding `</details><script>` closed the report's blocks and ran in a browser."""
    suite = write_suite(suite_text(model_entry("boom", ":raises_markup"), LINEAR))
    code, run_dir, _ = run_main(capsys, suite, "--out", tmp_path / "r", "--quick")
    assert code == 1 and run_dir is not None
    report = (run_dir / "report.md").read_text(encoding="utf-8")
    assert "<script>" not in report and "</details><script>" not in report
    assert "&lt;/details&gt;&lt;script&gt;" in report
    assert read_rows(run_dir)[0]["error"].endswith("</details><script>alert(1)</script>")


def test_a_cuda_case_ends_by_freeing_the_cache_and_cublas_workspaces(monkeypatch) -> None:
    """The CUDA branch of measure_case on a CPU machine: device check and measurement faked.
    The workspaces first: a training case's backward thread left one that the next case read
    as its own memory (mlp_bn b1: 69,244,416 B against 35,689,984 B by hand on an H200)."""
    from bench.measure import case as runner
    from bench.measure.case import RunOptions, measure_case
    from bench.records import Case, ModelSpec

    spec = ModelSpec(name="m", factory="torch.nn:Identity", input_shape=(4,), batch_sizes=(8,))
    case = Case(
        suite="s", model=spec, device="cuda", dtype="float32", batch_size=8, base_dir=Path()
    )
    emptied: list[str] = []

    def out_of_memory(case: Case, options: RunOptions) -> None:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(runner, "device_unavailable_reason", lambda device: None)
    monkeypatch.setattr(runner, "_measure", out_of_memory)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: emptied.append("cache"))
    clear = lambda: emptied.append("cublas workspaces")  # noqa: E731
    monkeypatch.setattr(torch._C, "_cuda_clearCublasWorkspaces", clear, raising=False)
    result = measure_case(case, RunOptions())
    assert (result.status, result.error) == (
        "oom",
        "CUDA out of memory. Tried to allocate 2.00 GiB",
    )
    assert emptied == ["cublas workspaces", "cache"]
    assert "OutOfMemoryError" in result.detail


def test_a_multi_line_warning_is_one_note_line() -> None:
    """A library's multi-line notice (torch.ao.quantization's deprecation) must not break the
    report's list of notes."""
    import warnings

    from bench.measure.case import warning_notes

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.warn("first line\n  second line\n", DeprecationWarning, stacklevel=1)
        warnings.warn("first line\n  second line\n", DeprecationWarning, stacklevel=1)
    assert warning_notes(caught) == ("DeprecationWarning: first line second line",)


def _warns_every_call() -> None:
    import warnings

    warnings.warn("a kernel's workaround notice", UserWarning, stacklevel=1)


def test_a_warning_raised_on_every_timed_call_is_recorded_once_per_case() -> None:
    """A forward that warns on every call must not pay for a new warning record on every timed
    call, as the "always" filter made it do: the record list grew by one per call while the
    samples were taken. Each case still records the warning afresh, even after an earlier case
    saw it."""
    from bench.measure.case import recorded_warnings, warning_notes

    for _ in range(2):  # two cases in a row
        with recorded_warnings() as caught:
            for _ in range(500):
                _warns_every_call()
        assert len(caught) == 1
        assert warning_notes(caught) == ("UserWarning: a kernel's workaround notice",)
