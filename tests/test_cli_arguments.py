"""The command line's shape: one count type for every count option, each verb's options
declared with it and grouped in its --help, and usage errors as one line and exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cli import build_parser, main
from bench.records import DEFAULT_METRICS
from tests.test_durations import usage_error


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "x.toml", "--repeat"],
        ["run", "x.toml", "--threads"],
        ["profile", "x.toml", "--steps"],
        ["doctor", "--threads"],
        ["submit", "x.toml", "--executor", "local", "--shards"],
        ["submit", "x.toml", "--executor", "slurm", "--shards", "2", "--slurm-gpus-per-task"],
    ],
)
@pytest.mark.parametrize("value", ["0", "-1", "1.5", "two", "\u00b2"])
def test_every_count_option_refuses_what_is_not_a_positive_integer(
    capsys: pytest.CaptureFixture[str], argv: list[str], value: str
) -> None:
    err = usage_error(capsys, *argv, value)
    assert f"argument {argv[-1]}: expected a positive integer" in err and repr(value) in err


def test_threads_have_the_suites_upper_bound(capsys: pytest.CaptureFixture[str]) -> None:
    assert build_parser().parse_args(["run", "x.toml", "--threads", "1024"]).threads == 1024
    assert "at most 1024" in usage_error(capsys, "run", "x.toml", "--threads", "1025")


def test_only_submit_passes_unknown_options_on(capsys: pytest.CaptureFixture[str]) -> None:
    err = usage_error(capsys, "compare", "a", "b", "--quick")
    assert "unrecognized arguments: --quick" in err
    args, unknown = build_parser().parse_known_args(
        ["submit", "s.toml", "--shards", "2", "--quick", "--executor", "local"]
    )
    assert (args.shards, args.executor, unknown) == (2, "local", ["--quick"])


def test_run_defaults_stay_as_documented() -> None:
    args = vars(build_parser().parse_args(["run", "s.toml"]))
    args.pop("handler")
    assert args == {
        "verb": "run",
        "suite": Path("s.toml"),
        "out": Path("results"),
        "metrics": frozenset(DEFAULT_METRICS),
        "quick": False,
        "budget": None,
        "precision": None,
        "threads": None,
        "repeat": 1,
        "processes": 1,
        "timeout": None,
        "quiet": False,
        "crosscheck": None,
        "allow_partial_counts": False,
        "peak_gflops": None,
        "ceilings": None,
        "profile": False,
        "shard": None,
        "resume": None,
        "retry_timeouts": False,
        "isolate": False,
        "oom_backoff": False,
        "cache": None,
        "cuda_graphs": False,
    }


def help_of(capsys: pytest.CaptureFixture[str], verb: str) -> str:
    with pytest.raises(SystemExit) as exited:
        main([verb, "--help"])
    assert exited.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize(
    ("verb", "groups"),
    [
        ("run", {
            "what to measure:": ["--metrics", "--crosscheck", "--peak-gflops", "--shard"],
            "timing:": ["--quick", "--budget", "--precision", "--threads", "--repeat", "--timeout"],
            "failures, isolation and resuming:": ["--resume", "--isolate", "--oom-backoff"],
            "output:": ["--out", "--quiet"],
        }),
        ("profile", {
            "what to profile:": ["--model", "--mode", "--steps"],
            "timing:": ["--quick", "--threads"],
            "output:": ["--out"],
        }),
        ("submit", {
            "shards:": ["--shards", "--executor", "--out", "--force"],
            "slurm:": ["--slurm-partition", "--slurm-time", "--slurm-shared-node"],
        }),
        ("compare", {
            "verdicts:": ["--threshold", "--fail-on-regression", "--force"],
            "output:": ["--out"],
        }),
    ],
)  # fmt: skip
def test_help_groups_each_verbs_options(
    capsys: pytest.CaptureFixture[str], verb: str, groups: dict[str, list[str]]
) -> None:
    text = help_of(capsys, verb)
    starts = [text.index(f"\n{heading}\n") for heading in groups]
    assert starts == sorted(starts)
    for (heading, options), end in zip(groups.items(), [*starts[1:], len(text)], strict=True):
        section = text[text.index(f"\n{heading}\n") : end]
        for option in options:
            assert f"  {option}" in section, (heading, option)


def test_a_negative_duration_reaches_its_own_check(capsys: pytest.CaptureFixture[str]) -> None:
    """argparse took `-1s` for an option: "expected one argument" said nothing of durations."""
    assert "invalid budget '-1s'" in usage_error(capsys, "run", "x.toml", "--budget", "-1s")
    assert "got '-5'" in usage_error(capsys, "compare", "a", "b", "--threshold", "-5")


def test_retry_timeouts_without_resume_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "x.toml", "--retry-timeouts"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--retry-timeouts" in err and "--resume RUN_DIR" in err
