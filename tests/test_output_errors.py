"""Every failure to write the run directory or stdout is one `error:` line: exit 2 before any
case finished, 1 after; finished rows stay whole and nothing half-written is left behind."""

from __future__ import annotations

import errno
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cli import main
from bench.store import read_record, rundir
from tests.robust_helpers import LINEAR, model_entry, read_rows, suite_text

TWO = suite_text(
    LINEAR, model_entry("second", "torch.nn:Linear", kwargs="{ in_features = 4, out_features = 2 }")
)


def run(capsys, *args: str | Path) -> tuple[int, str, list[str]]:
    code = main(["run", *map(str, args), "--quick", "--metrics", "params"])
    captured = capsys.readouterr()
    return code, captured.out.strip(), captured.err.splitlines()


def leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob(".*.tmp"))


@pytest.mark.parametrize("where", ["file", "under-a-file", "dev-null"])
def test_out_that_is_not_a_directory_is_one_line_exit_2(
    write_suite, tmp_path: Path, capsys, where: str
) -> None:
    blocker = tmp_path / "taken"
    blocker.write_text("not a directory")
    out = {"file": blocker, "under-a-file": blocker / "sub", "dev-null": Path(os.devnull)}[where]
    code, stdout, err = run(capsys, write_suite(TWO), "--out", out)
    assert (code, stdout) == (2, "")
    assert err == [f"error: {out}: --out must be a directory (or a path to create)"]
    assert blocker.read_text() == "not a directory"


def test_a_name_too_long_leaves_no_directory_behind(write_suite, tmp_path: Path, capsys) -> None:
    out = tmp_path / "new" / ("x" * 300)
    code, _, err = run(capsys, write_suite(TWO), "--out", out)
    assert code == 2 and len(err) == 1
    assert err[0].startswith(f"error: {out}: cannot create the run directory (")
    assert list(tmp_path.iterdir()) == [tmp_path / "suite.toml"]  # not even "new"


def test_the_longest_suite_name_still_makes_a_short_directory_name(write_suite, tmp_path, capsys):
    """Names are at most 100 characters (a longer one is a suite error); the directory name,
    timestamp included, stays well under any file system's 255."""
    code, stdout, _ = run(
        capsys, write_suite(suite_text(LINEAR, name="n" * 100)), "--out", tmp_path
    )
    assert code == 0 and len(Path(stdout).name) < 130


def test_a_read_only_out_is_one_line(write_suite, tmp_path: Path, capsys, monkeypatch) -> None:
    def read_only(self: Path, *args: object, **kwargs: object) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))

    monkeypatch.setattr(Path, "mkdir", read_only)
    code, _, err = run(capsys, write_suite(TWO), "--out", tmp_path / "r")
    assert code == 2
    assert err == [
        f"error: {tmp_path / 'r'}: cannot create the run directory (Read-only file system)"
    ]


def test_a_full_disk_after_one_case_keeps_its_row_and_leaves_no_temp(
    write_suite, tmp_path: Path, capsys, monkeypatch
) -> None:
    real_write = os.write
    appended: list[int] = []

    def fills_up(fd: int, data: bytes) -> int:
        appended.append(fd)
        if len(appended) == 5:  # header, first entry and row, second entry, then the disk is full
            real_write(fd, data[:10])  # a torn start of the second row
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(rundir.os, "write", fills_up)
    real_replace = os.replace

    def replace_fails_late(src: object, dst: object) -> None:
        if len(appended) >= 5:  # run.json and report.md cannot be written either
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_replace(src, dst)

    monkeypatch.setattr(rundir.os, "replace", replace_fails_late)
    code, stdout, err = run(capsys, write_suite(TWO), "--out", tmp_path / "r")
    run_dir = Path(stdout)
    assert code == 1  # one case had finished
    assert err[-1] == f"error: {run_dir / 'results.csv'}: cannot write (No space left on device)"
    assert not any("Traceback" in line for line in err)
    assert [r["model"] for r in read_rows(run_dir)] == ["linear"]  # no torn second row
    assert (run_dir / "results.csv").read_bytes().endswith(b"\n")
    assert leftovers(tmp_path) == []
    # the entry is appended before each row (results.csv is the list of finished cases), and
    # the final run.json failed too: the record is whole, and holds the finished row
    record = read_record(run_dir)
    assert record["cases"][0]["model"] == "linear"


def test_ulimit_f_is_one_line_and_leaves_nothing(write_suite, tmp_path: Path, capsys) -> None:
    suite = write_suite(TWO)
    previous_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous_handler = signal.getsignal(signal.SIGXFSZ)
    resource.setrlimit(resource.RLIMIT_FSIZE, (2000, previous_limit[1]))
    try:
        code, stdout, err = run(capsys, suite, "--out", tmp_path / "r")
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, previous_limit)
        signal.signal(signal.SIGXFSZ, previous_handler)
    # where the limit bites depends on how large run.json's environment is on this machine
    assert err[-1].startswith("error: ") and err[-1].endswith("cannot write (File too large)")
    assert not any(line.startswith("error: ") for line in err[:-1])
    assert leftovers(tmp_path) == []
    if stdout:  # the run directory existed: its rows are whole, the exit says whether any were
        rows = read_rows(Path(stdout))
        assert code == (1 if rows else 2)
    else:  # it could not be set up: removed again
        assert code == 2 and list((tmp_path / "r").iterdir()) == []


def test_closed_stderr_does_not_break_the_cases(write_suite, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stderr", None)
    code = main(["run", str(write_suite(TWO)), "--out", str(tmp_path), "--quick"])
    assert code == 0
    run_dir = Path(capsys.readouterr().out.strip())
    assert [r["status"] for r in read_rows(run_dir)] == ["ok", "ok"]


def test_a_closed_stdout_pipe_is_one_line_and_the_run_can_be_resumed(
    write_suite, tmp_path: Path
) -> None:
    suite = write_suite(TWO)
    process = subprocess.Popen(
        [sys.executable, "-m", "bench", "run", suite, "--out", tmp_path / "r", "--quick"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    process.stdout.close()  # like `bench run ... | head -c0`
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 2
    (line,) = stderr.splitlines()
    assert line.startswith("error: stdout: the pipe was closed; the run is in ")
    run_dir = Path(line.rsplit(" ", 1)[1])
    assert read_record(run_dir)["cases"] == []
    assert (run_dir / "report.md").is_file() and leftovers(tmp_path) == []
