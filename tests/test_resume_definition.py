"""--resume refuses a suite that now defines a finished case differently, and a refused resume
changes nothing on disk; a Ctrl-C before the run directory exists claims no files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import bench.pipeline
from bench.cli import main
from tests.robust_helpers import LINEAR, model_entry, read_rows, suite_text

KW = "{ in_features = 4, out_features = 4 }"


def finished_run(write_suite, tmp_path: Path, capsys, text: str) -> Path:
    suite = write_suite(text)
    assert main(["run", str(suite), "--out", str(tmp_path / "r"), "--metrics", "params"]) == 0
    return Path(capsys.readouterr().out.strip())


def resume(capsys, suite: Path, run_dir: Path) -> tuple[int, str]:
    code = main(["run", str(suite), "--resume", str(run_dir), "--metrics", "params"])
    return code, capsys.readouterr().err


def test_resume_refuses_a_changed_input_shape(write_suite, tmp_path: Path, capsys) -> None:
    run_dir = finished_run(write_suite, tmp_path, capsys, suite_text(LINEAR))
    before = (run_dir / "results.csv").read_bytes()
    changed = write_suite(suite_text(LINEAR.replace("input_shape = [4]", "input_shape = [3, 4]")))
    code, err = resume(capsys, changed, run_dir)
    assert code == 2 and err.count("\n") == 1
    assert "ran with input 1x4, the suite now gives 1x3x4; start a new run" in err
    assert (run_dir / "results.csv").read_bytes() == before


def test_resume_refuses_a_changed_checkpoint_by_content(write_suite, tmp_path, capsys) -> None:
    weights = tmp_path / "w.pt"
    torch.save(torch.nn.Linear(4, 4).state_dict(), weights)
    entry = model_entry("linear", "torch.nn:Linear", kwargs=KW, checkpoint='"w.pt"')
    run_dir = finished_run(
        write_suite, tmp_path, capsys, suite_text(entry, LINEAR.replace("linear", "b"))
    )
    torch.save(torch.nn.Linear(4, 4).state_dict(), weights)  # same name, other weights
    code, err = resume(capsys, tmp_path / "suite.toml", run_dir)
    assert code == 2 and "model 'linear' changed since the run (checkpoint_sha256)" in err


@pytest.mark.parametrize(
    "change",
    ['budget = "3s"', "threads = 1", "precision = 0.05"],
    ids=["budget", "threads", "precision"],
)
def test_resume_refuses_changed_timing_keys(write_suite, tmp_path: Path, capsys, change) -> None:
    run_dir = finished_run(write_suite, tmp_path, capsys, suite_text(LINEAR))
    changed = write_suite(suite_text(LINEAR, header=change))
    code, err = resume(capsys, changed, run_dir)
    assert code == 2 and "changed since the run" in err


def test_a_refused_resume_does_not_cut_a_torn_line_even_through_a_symlink(
    write_suite, tmp_path: Path, capsys
) -> None:
    run_dir = finished_run(write_suite, tmp_path, capsys, suite_text(LINEAR))
    real = tmp_path / "elsewhere.csv"
    torn = (run_dir / "results.csv").read_bytes() + b"robust,linear,cpu"  # killed mid-write
    real.write_bytes(torn)
    (run_dir / "results.csv").unlink()
    (run_dir / "results.csv").symlink_to(real)
    changed = write_suite(
        suite_text(LINEAR.replace("out_features = 4", "out_features = 3")), "changed.toml"
    )
    code, err = resume(capsys, changed, run_dir)
    assert code == 2 and "changed since the run" in err
    assert real.read_bytes() == torn and (run_dir / "results.csv").is_symlink()
    # accepted, the torn line is cut (in the file the link names) and the run goes on
    code, _ = resume(capsys, tmp_path / "suite.toml", run_dir)
    assert code == 0 and real.read_bytes().endswith(b"\n")
    assert [r["model"] for r in read_rows(run_dir)] == ["linear"]


def test_datetime_kwargs_do_not_break_resume(write_suite, tmp_path: Path, capsys) -> None:
    text = suite_text(
        model_entry("lin", "torch.nn:Identity", kwargs="{ stamp = 2024-01-02T03:04:05 }")
    )
    run_dir = finished_run(write_suite, tmp_path, capsys, text)
    code, err = resume(capsys, tmp_path / "suite.toml", run_dir)
    assert code == 0, err


def test_ctrl_c_before_the_run_directory_claims_no_files(
    write_suite, tmp_path: Path, capsys, monkeypatch
) -> None:
    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(bench.pipeline, "capture_environment", interrupted)
    code = main(["run", str(write_suite(suite_text(LINEAR))), "--out", str(tmp_path / "r")])
    assert code == 130
    err = capsys.readouterr().err
    assert err == "interrupted: stopped before a run directory was made; nothing was written\n"
    assert not (tmp_path / "r").exists()


def test_resume_refuses_other_run_options_and_gives_the_flags_to_use(
    write_suite, tmp_path: Path, capsys
) -> None:
    """A run started with `--metrics params` finished with `--metrics params,flops --quick`
    mixed rows counted and timed differently in one table, and said nothing."""
    run_dir = finished_run(write_suite, tmp_path, capsys, suite_text(LINEAR))
    before = (run_dir / "results.csv").read_bytes()
    argv = ["run", "--resume", str(run_dir), "--metrics", "params,flops", "--quick"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "started with other options" in err
    assert "metrics: ['params'] then, ['flops', 'params'] now" in err and "quick" in err
    assert err.rstrip().endswith(f"bench run --resume {run_dir} --metrics params")
    assert (run_dir / "results.csv").read_bytes() == before
    assert main(["run", "--resume", str(run_dir), "--metrics", "params"]) == 0  # the same: fine
    report = (run_dir / "report.md").read_text()
    assert "Run options: `--metrics params`." in report and "Smoke test" not in report


def test_a_quick_run_says_so_in_its_report(write_suite, tmp_path: Path, capsys) -> None:
    suite = write_suite(suite_text(LINEAR))
    assert main(["run", str(suite), "--out", str(tmp_path / "r"), "--quick", "--quiet"]) == 0
    run_dir = Path(capsys.readouterr().out.strip())
    report = (run_dir / "report.md").read_text()
    assert "**Smoke test (`--quick`)**" in report and "Run options: `--quick`." in report
