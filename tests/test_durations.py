"""One duration grammar: what `--budget` takes, `--timeout` and the suite's `budget` and
`timeout` take too, and a bad value is one line and exit 2 wherever it is given."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bench.cli import build_parser, main
from bench.durations import BUDGET, TIMEOUT, parse_duration
from bench.errors import SuiteError
from bench.suite.load import load_suite
from tests.conftest import TINY_SUITE

# every form any of the earlier parsers accepted, and the units they did not share
FORMS = [
    ("500ms", 0.5),
    ("30s", 30.0),
    ("1m", 60.0),
    ("10min", 600.0),
    ("1h", 3600.0),
    ("1.5", 1.5),
    (".5", 0.5),
    ("2.", 2.0),
    ("1e3", 1000.0),
    ("2.5e-1s", 0.25),
    (" 3 s", 3.0),
]
BAD = ["", "fast", "-1s", "2 minutes", "1m30s", "3S", "inf", "nan", "1e999", "\u0663"]


@pytest.mark.parametrize(("text", "seconds"), FORMS)
def test_every_form_is_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", BAD)
def test_other_text_is_refused_naming_the_forms(text: str) -> None:
    with pytest.raises(ValueError, match=r"^invalid duration .*; use a duration like '500ms'"):
        parse_duration(text)


def test_zero_is_a_duration_but_not_a_budget_or_timeout() -> None:
    assert parse_duration("0ms") == 0.0
    for limit in (BUDGET, TIMEOUT):
        with pytest.raises(ValueError, match=f"^{limit.name} '0' out of range; allowed: more"):
            limit.parse("0")
    assert BUDGET.parse("24h") == 86400.0
    with pytest.raises(ValueError, match="at most 24 hours"):
        BUDGET.parse("25h")
    assert TIMEOUT.parse("25h") == 90000.0
    with pytest.raises(ValueError, match="at most 1 week"):
        TIMEOUT.parse("9999h")


def suite_with(write_suite, header: str) -> Path:
    return write_suite(TINY_SUITE.replace('name = "tiny"', f'name = "tiny"\n{header}'))


@pytest.mark.parametrize(("text", "seconds"), FORMS)
def test_suite_file_and_command_line_read_the_same_forms(
    write_suite, text: str, seconds: float
) -> None:
    timing = load_suite(suite_with(write_suite, f'budget = "{text}"\ntimeout = "{text}"')).timing
    args = build_parser().parse_args(["run", "s.toml", "--budget", text, "--timeout", text])
    assert timing.budget_s == timing.timeout_s == args.budget == args.timeout == seconds


def test_a_toml_number_is_seconds_like_a_bare_number_on_the_command_line(write_suite) -> None:
    timing = load_suite(suite_with(write_suite, "budget = 1.5\ntimeout = 90")).timing
    args = build_parser().parse_args(["run", "s.toml", "--budget", "1.5", "--timeout", "90"])
    assert (timing.budget_s, timing.timeout_s) == (args.budget, args.timeout) == (1.5, 90.0)


def test_budget_in_minutes_runs_like_timeout_in_minutes(write_suite, tmp_path: Path, capsys):
    suite = write_suite(TINY_SUITE)
    argv = ["run", str(suite), "--metrics", "params", "--quiet", "--out", str(tmp_path / "r")]
    assert main([*argv, "--budget", "1m", "--timeout", "1m"]) == 0
    run_dir = Path(capsys.readouterr().out.strip())
    assert run_dir.parent == tmp_path / "r" and (run_dir / "results.csv").is_file()


def usage_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """The one stderr line of an argument error: parsing exits 2 before anything runs."""
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    assert exited.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1, captured.err
    assert "Traceback" not in captured.err
    return captured.err


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--budget", "soon", "argument --budget: invalid budget 'soon'; use a duration like"),
        ("--budget", "0", "argument --budget: budget '0' out of range; allowed: more than 0"),
        ("--budget", "25h", "at most 24 hours"),
        ("--timeout", "2 minutes", "argument --timeout: invalid timeout '2 minutes'; use a"),
        ("--timeout", "0s", "argument --timeout: timeout '0s' out of range"),
    ],
)
def test_a_bad_duration_is_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], option: str, value: str, says: str
) -> None:
    err = usage_error(capsys, "run", "x.toml", option, value)
    assert err.startswith("error: ") and says in err


def test_a_bad_duration_in_the_suite_is_one_line_exit_2(write_suite, tmp_path: Path, capsys):
    suite = suite_with(write_suite, 'budget = "2 minutes"')
    assert main(["run", str(suite), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {suite}: [suite] budget: invalid budget '2 minutes'; use a duration " + (
        "like '500ms', '30s', '10m' or '1h', or a number of seconds like 1.5\n"
    )
    with pytest.raises(SuiteError, match=r"\[suite\] timeout: must be a duration like"):
        load_suite(suite_with(write_suite, "timeout = [1]"))


PACKAGE = Path(__file__).resolve().parent.parent / "bench"


def bench_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found


def test_durations_sit_below_the_suite_and_the_measuring_code() -> None:
    """The suite loader reads durations without loading the measuring code, and the command
    line parses them before torch is imported."""
    assert {m.split(".")[0] for m in bench_imports(PACKAGE / "durations.py")} <= {
        "__future__",
        "math",
        "re",
        "dataclasses",
    }
    for path in (PACKAGE / "suite").rglob("*.py"):
        reaching = [m for m in bench_imports(path) if m.startswith("bench.measure")]
        assert reaching == [], path
