"""`bench merge` and `bench submit`: shards of one suite joined back into one run."""

from __future__ import annotations

import csv
import os
import shutil
import stat
import sys
import textwrap
from pathlib import Path

import pytest

from bench import cli
from bench.errors import BenchError
from bench.measure.case import RunOptions
from bench.measure.timing.engine import QUICK_POLICY
from bench.pipeline import run_suite
from bench.records import COLUMNS
from bench.report.plot_style import plot_file_name
from bench.shard import Shard, merge_runs, plan_merge
from bench.store import read_record
from bench.store.entries import result_of
from bench.submit import (
    LocalExecutor,
    SlurmSettings,
    parse_slurm_time,
    run_shard,
    slurm_executor,
    submit_shards,
)
from tests.conftest import SHARD_SUITE, save_record

SUITE = SHARD_SUITE
OPTIONS = RunOptions(metrics=frozenset({"params", "flops"}), crosscheck=False)
RUN_FLAGS = ["--metrics", "params,flops", "--no-crosscheck", "--quiet"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The suite run whole, and as three shards (params and FLOPs only: seconds)."""
    root = tmp_path_factory.mktemp("shards")
    suite = root / "suite.toml"
    suite.write_text(SUITE, encoding="utf-8")
    found = {"suite": suite, "root": root}
    found["whole"] = run_suite(suite, root / "whole", OPTIONS).run_dir
    for k in (1, 2, 3):
        found[f"s{k}"] = run_suite(suite, root / "shards", OPTIONS, shard=Shard(k, 3)).run_dir
    return found


def rows(run_dir: Path) -> list[list[str]]:
    with (run_dir / "results.csv").open(newline="") as handle:
        lines = list(csv.reader(handle))
    assert lines[0] == list(COLUMNS)
    return lines[1:]


def exit_code(argv: list[str]) -> int:
    """cli.main's exit status, also where argparse itself exits (a bad option value)."""
    try:
        return cli.main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


def merge(capsys, *args: object) -> tuple[int, str, str]:
    code = cli.main(["merge", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def copy_with(run_dir: Path, where: Path, edit) -> Path:
    """A copy of a run directory whose run.json went through `edit`."""
    copy = where / run_dir.name
    shutil.copytree(run_dir, copy)
    record = read_record(copy)
    edit(record)
    save_record(copy, record)
    return copy


def test_each_shard_records_its_part_and_the_whole_case_list(runs) -> None:
    records = [read_record(runs[f"s{k}"]) for k in (1, 2, 3)]
    for k, record in enumerate(records, start=1):
        assert (record["shard"]["index"], record["shard"]["count"]) == (k, 3)
        assert len(record["suite_cases"]) == len(rows(runs["whole"])) == 7
        assert len(record["shard_cases"]) == len(rows(runs[f"s{k}"]))
    assert [len(r["shard_cases"]) for r in records] == [3, 2, 2]
    assert len({len(r["suite_sha256"]) for r in records}) == 1


def test_three_shards_merge_into_exactly_the_unsharded_run(runs, tmp_path: Path, capsys) -> None:
    out = tmp_path / "merged"
    code, stdout, err = merge(capsys, runs["s3"], runs["s1"], runs["s2"], "--out", out)
    assert (code, err) == (0, "")
    merged = Path(stdout.strip())
    assert merged.parent == out
    # every cell of every row, in the suite's order, whatever order the shards were given in
    assert rows(merged) == rows(runs["whole"])
    record = read_record(merged)
    assert record["complete"] is True
    assert record["missing_cases"] == [] and record["missing_shards"] == []
    assert [m["shard"]["index"] for m in record["merged_from"]] == [1, 2, 3]
    assert len(record["cases"]) == 7
    report = (merged / "report.md").read_text()
    environment = report[: report.index("## Warnings")]
    assert "## Shards and their machines" in environment
    for k in (1, 2, 3):
        assert f"| {k}/3 " in environment and str(runs[f"s{k}"]) in environment
    assert "7 cases: 7 ok" in report


def test_the_documented_glob_merges_though_it_takes_in_the_folders_index(
    runs, tmp_path: Path, capsys
) -> None:
    """`bench merge shards/*`: bench keeps an index.md beside the runs of an --out folder."""
    given = sorted((runs["root"] / "shards").glob("*"))
    assert any(path.name == "index.md" for path in given)
    code, stdout, err = merge(capsys, *given, "--out", tmp_path / "merged")
    assert (code, err) == (0, "")
    assert rows(Path(stdout.strip())) == rows(runs["whole"])


def test_shards_of_different_splits_are_refused_unless_forced(runs, tmp_path: Path, capsys) -> None:
    half = run_suite(runs["suite"], tmp_path / "halves", OPTIONS, shard=Shard(1, 2)).run_dir
    err = assert_refused(capsys, tmp_path / "m", half, runs["s3"])
    assert "different splits (1/2, 3/3)" in err
    code, stdout, _ = merge(capsys, half, runs["s3"], "--out", tmp_path / "m", "--force")
    assert code in (0, 1) and Path(stdout.strip()).is_dir()


def test_rebuilt_records_give_back_the_rows_the_shards_wrote(runs) -> None:
    for k in (1, 2, 3):
        for entry in read_record(runs[f"s{k}"])["cases"]:
            assert result_of(entry, Path(".")).row() == {c: entry[c] for c in COLUMNS}


def assert_refused(capsys, out: Path, *args: object) -> str:
    code, stdout, err = merge(capsys, *args, "--out", out)
    assert code == 2 and stdout == ""
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert not out.exists()  # nothing written
    return err


def test_a_shard_with_itself_is_refused(runs, tmp_path: Path, capsys) -> None:
    err = assert_refused(capsys, tmp_path / "m", runs["s1"], runs["s2"], runs["s1"])
    assert "given twice" in err
    # the same shard under another path (copied off its machine) overlaps itself
    copy = copy_with(runs["s1"], tmp_path, lambda record: None)
    err = assert_refused(capsys, tmp_path / "m", runs["s1"], copy)
    assert "overlap" in err and "1/3" in err


def test_a_shard_from_another_torch_version_is_refused_unless_forced(
    runs, tmp_path: Path, capsys
) -> None:
    def older_torch(record: dict) -> None:
        record["environment"]["torch"] = "2.14.1"

    other = copy_with(runs["s2"], tmp_path, older_torch)
    err = assert_refused(capsys, tmp_path / "m", runs["s1"], other, runs["s3"])
    assert "torch version" in err and "2.14.1" in err and "--force" in err

    forced_out = tmp_path / "forced"
    code, stdout, _ = merge(capsys, runs["s1"], other, runs["s3"], "--out", forced_out, "--force")
    assert code == 0
    merged = Path(stdout.strip())
    assert rows(merged) == rows(runs["whole"])
    forced = read_record(merged)["forced"]
    assert len(forced) == 1 and "torch version" in forced[0]
    assert "Merged with --force despite" in (merged / "report.md").read_text()


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (lambda r: r["environment"].update(cuda_devices=[{"name": "NVIDIA H100"}]), "GPU model"),
        (lambda r: r["environment"].update(cuda_version="12.8"), "CUDA version"),
        (lambda r: [c.update(threads=8) for c in r["cases"]], "threads"),
        (lambda r: r.update(suite_sha256="0" * 64), "different suite files"),
    ],
)
def test_incomparable_environments_are_refused(runs, tmp_path: Path, capsys, edit, says) -> None:
    other = copy_with(runs["s2"], tmp_path, edit)
    assert says in assert_refused(capsys, tmp_path / "m", runs["s1"], other)


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (lambda r: r.update(suite_name="another"), "is suite 'another'"),
        (lambda r: r["suite_cases"].pop(), "different cases"),
        (lambda r: r.pop("shard"), "not a shard"),
        (lambda r: r.update(shard={"index": 5, "count": 3}), "malformed shard record"),
    ],
)
def test_shards_of_other_suites_or_no_shard_are_refused(
    runs, tmp_path: Path, capsys, edit, says
) -> None:
    other = copy_with(runs["s2"], tmp_path, edit)
    assert says in assert_refused(capsys, tmp_path / "m", runs["s1"], other)


def test_an_unsharded_run_is_not_a_shard(runs, tmp_path: Path, capsys) -> None:
    assert "not a shard" in assert_refused(capsys, tmp_path / "m", runs["whole"], runs["s1"])


def test_missing_shards_and_cases_are_listed(runs, tmp_path: Path, capsys) -> None:
    code, stdout, err = merge(capsys, runs["s1"], runs["s3"], "--out", tmp_path)
    assert code == 1  # not every case of the suite is here
    lines = err.splitlines()
    assert lines[0] == "missing shards: 2/3"
    assert lines[1:] == ["missing case: lin_b cpu float32 b1", "missing case: lin_b cpu float32 b2"]
    merged = Path(stdout.strip())
    assert [r[1] for r in rows(merged)] == ["lin_a"] * 3 + ["mlp"] * 2
    record = read_record(merged)
    assert record["complete"] is False and record["missing_shards"] == [2]
    assert (
        "**Missing:** 2 of 7 cases; shards 2/3 were not given" in (merged / "report.md").read_text()
    )


def test_rows_of_an_unfinished_shard_count_and_its_other_cases_are_missing(
    runs, tmp_path: Path
) -> None:
    copy = tmp_path / "s1"
    shutil.copytree(runs["s1"], copy)
    lines = (copy / "results.csv").read_text().splitlines(keepends=True)
    (copy / "results.csv").write_text("".join(lines[:2]) + lines[2].rstrip("\n"))  # torn line
    plan = plan_merge([copy, runs["s2"], runs["s3"]])
    assert [key.batch for key in plan.missing_cases] == [2, 4]  # lin_a b2 (torn) and b4


def test_submit_local_runs_each_shard_then_merges(runs, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    argv = ["submit", str(runs["suite"]), "--shards", "2", "--executor", "local", "--out", str(out)]
    code = cli.main([*argv, *RUN_FLAGS])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.err == "2 shards submitted: done here, done here\n"
    merged = Path(captured.out.strip())
    assert rows(merged) == rows(runs["whole"])
    shard_dirs = sorted(d for d in (out / "shards").iterdir() if d.is_dir())  # and index.md
    assert len(shard_dirs) == 2
    assert sorted(p for p in out.iterdir() if p.name != "shards") == [merged]
    indices = [read_record(d)["shard"]["index"] for d in shard_dirs]
    assert sorted(indices) == [1, 2]


def test_submit_passes_on_run_options_and_refuses_bad_ones(runs, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    base = ["submit", str(runs["suite"]), "--shards", "2", "--executor", "local", "--out", str(out)]
    for extra, says in [
        (["--metrics", "nonsense"], "unknown metric"),
        (["--resume", "results/x"], "--resume and --shard are for bench run"),
        (["--shards", "0"], "expected a positive integer"),
        (["--slurm-partition", "gpu"], "--slurm-partition is for --executor slurm"),
    ]:
        assert exit_code([*base, *extra]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("error: ") and says in err, err
        assert not out.exists()


class FailingSecondShard(LocalExecutor):
    """The local executor, with the second task failing as a Slurm task can (node failure)."""

    def map_array(self, fn, *iterables):
        def flaky(suite, out, options, index, count, progress):
            if index == 2:
                raise RuntimeError("node lost")
            return fn(suite, out, options, index, count, progress)

        return super().map_array(flaky, *iterables)


def test_a_failed_shard_is_reported_and_the_rest_merged(runs, tmp_path: Path) -> None:
    outcome = submit_shards(FailingSecondShard(), runs["suite"], 3, tmp_path, OPTIONS)
    assert outcome.failures == ("shard 2/3 failed: RuntimeError: node lost",)
    assert not outcome.all_ok
    assert outcome.merge.plan.missing_shards == (2,)
    assert [r.case.model.name for r in outcome.merge.results] == ["lin_a"] * 3 + ["mlp"] * 2


def test_run_shard_is_one_shard_of_the_suite(runs, tmp_path: Path) -> None:
    run_dir = Path(run_shard(str(runs["suite"]), str(tmp_path), OPTIONS, 3, 3))
    assert rows(run_dir) == rows(runs["s3"])


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("90", 90), ("1:30", 2), ("2:00:00", 120), ("1-00", 1440), ("1-2:30", 1590), ("0:0:30", 1)],
)
def test_parse_slurm_time(text: str, minutes: int) -> None:
    assert parse_slurm_time(text) == minutes


@pytest.mark.parametrize("text", ["", "0", "1h", "1:2:3:4", "-5"])
def test_parse_slurm_time_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="--slurm-time"):
        parse_slurm_time(text)


def test_slurm_without_submitit_says_how_to_get_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "submitit", None)  # import submitit raises ImportError
    with pytest.raises(BenchError, match=r"bench\[slurm\]"):
        slurm_executor(tmp_path, SlurmSettings(), "bench-x", 2)


SBATCH = (
    'for arg; do script="$arg"; done\n'  # the script is sbatch's last argument
    'cp "$script" "$(dirname "$0")/sbatch-script"\n'
    "echo 'Submitted batch job 4242'"
)


def fake_slurm(bin_dir: Path) -> None:
    """`srun` and `sbatch` stand-ins: sbatch keeps a copy of the script it was given (as
    bin_dir/sbatch-script) and names a job id."""
    bin_dir.mkdir()
    for name, body in [("srun", "exit 0"), ("sbatch", SBATCH)]:
        path = bin_dir / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_slurm_executor_submits_one_array_with_one_task_per_shard(
    runs, tmp_path: Path, monkeypatch
) -> None:
    pytest.importorskip("submitit")
    fake_slurm(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    settings = SlurmSettings(partition="gpu", gpus_per_task=1, time_min=90, array_parallelism=2)
    executor = slurm_executor(tmp_path / "slurm", settings, "bench-sharded", 3)
    jobs = executor.map_array(
        run_shard, ["s.toml"] * 3, ["out"] * 3, [OPTIONS] * 3, [1, 2, 3], [3] * 3, [None] * 3
    )
    assert [job.job_id for job in jobs] == ["4242_0", "4242_1", "4242_2"]
    # the script sbatch received (where submitit keeps its copy, and under which name, is
    # submitit's business)
    script = (tmp_path / "bin" / "sbatch-script").read_text()
    for line in ["--array=0-2%2", "--partition=gpu", "--gpus-per-task=1", "--time=90",
                 "--exclusive", "--job-name=bench-sharded"]:  # fmt: skip
        assert f"#SBATCH {line}\n" in script, line


def test_slurm_without_srun_is_one_line(tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("submitit")
    monkeypatch.setenv("PATH", str(tmp_path))  # no srun anywhere
    with pytest.raises(BenchError, match="--executor slurm") as info:
        slurm_executor(tmp_path, SlurmSettings(), "bench-x", 2)
    assert "\n" not in str(info.value)


def test_an_empty_shard_runs_and_merges(tmp_path: Path, write_suite) -> None:
    suite = write_suite(textwrap.dedent(SUITE).split('[[models]]\nname = "lin_b"')[0])
    dirs = [run_suite(suite, tmp_path, OPTIONS, shard=Shard(k, 4)).run_dir for k in (1, 2, 3, 4)]
    assert [len(rows(d)) for d in dirs] == [1, 1, 1, 0]
    assert len(plan_merge(dirs).missing_cases) == 0


EXPERIMENT_SUITE = """\
[suite]
name = "with-experiment"

[[models]]
name = "lin"
factory = "torch.nn:Linear"
kwargs = { in_features = 16, out_features = 4 }
input_shape = [16]

[[experiments]]
name = "relu-only"
kind = "inplace"
families = ["relu"]
sizes = [1000]
"""


def test_experiment_rows_shard_and_merge_like_model_rows(tmp_path: Path, write_suite) -> None:
    suite = write_suite(EXPERIMENT_SUITE)
    options = RunOptions(
        metrics=frozenset({"params", "latency"}),
        timing=QUICK_POLICY,
        experiment_timing=QUICK_POLICY,
        crosscheck=False,
    )
    dirs = [run_suite(suite, tmp_path, options, shard=Shard(k, 2)).run_dir for k in (1, 2)]
    # an experiment is one group: both of its variants land on one shard, the model on the other
    assert sorted(len(rows(d)) for d in dirs) == [1, 2]
    for run_dir in dirs:
        for entry in read_record(run_dir)["cases"]:
            assert result_of(entry, Path(".")).row() == {c: entry[c] for c in COLUMNS}
    outcome = merge_runs(dirs, tmp_path / "merged")
    assert outcome.all_ok
    merged = rows(outcome.run_dir)
    assert [(r[1], r[COLUMNS.index("variant")]) for r in merged] == [
        ("lin", ""),
        ("relu", "out_of_place"),
        ("relu", "in_place"),
    ]
    plot = plot_file_name("experiment", "relu-only-cpu-float32")
    assert (outcome.run_dir / "plots" / plot).is_file()


def test_a_directory_that_is_no_run_is_refused(runs, tmp_path: Path, capsys) -> None:
    err = assert_refused(capsys, tmp_path / "m", runs["s1"], tmp_path / "nowhere")
    assert "is not a bench run directory" in err
