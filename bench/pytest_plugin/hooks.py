"""The plugin's pytest hooks and fixtures (registered through the `pytest11` entry point).

Loaded in every pytest run where bench is installed, so nothing here imports torch until a
benchmark, a suite or a machine_info needs it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

SUITES = pytest.StashKey[tuple[Path, ...]]()
GATE_OUTCOME = pytest.StashKey[Any]()  # the gate's GateOutcome, from sessionfinish to the summary


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("bench", "bench: PyTorch model benchmarks through pytest-benchmark")
    group.addoption(
        "--bench-suite",
        action="append",
        default=[],
        metavar="FILE",
        help="collect a bench suite file (TOML) as benchmark tests, one per case; repeatable. "
        "Without test paths, only the suites run. Turns on --benchmark-save-data.",
    )
    group.addoption(
        "--bench-warmup-max",
        default="1s",
        metavar="DURATION",
        help="longest steady-state warmup before a benchmark's first round, e.g. 1s, 200ms "
        "(warmup stops earlier once the last 5 calls are no faster than the 5 before). "
        "Default: %(default)s",
    )
    group.addoption(
        "--bench-gate",
        type=_gate_fraction,
        default=None,
        metavar="PCT",
        help="with --benchmark-compare: exit 1 when a benchmark is confidently more than PCT "
        "percent slower than the baseline (its median ratio's 95%% interval, over blocks of "
        "rounds, lies wholly above 1 + PCT), 3 when none could be judged. Turns on "
        "--benchmark-save-data.",
    )
    group.addoption(
        "--bench-instructions",
        action="store_true",
        help="also count each CPU benchmark's retired instructions per call (one thread), with "
        "the CPU's own counter; where the machine hides it the reason is saved instead (use "
        "`bench run --metrics instructions`, which starts valgrind once for a whole suite)",
    )
    group.addoption(
        "--bench-gate-instructions",
        type=_gate_fraction,
        default=None,
        metavar="PCT",
        help="with --benchmark-compare: exit 1 when a benchmark's instructions per call rose by "
        "more than PCT percent over the baseline's (both counted with --bench-instructions), "
        "3 when no benchmark has counts on both sides",
    )
    group.addoption(
        "--bench-gate-allow-inconclusive",
        action="store_true",
        help="let --bench-gate pass when every benchmark it judged was inconclusive",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Validate every --bench-suite at once (a bad suite is a usage error, one line) and add
    the suite files to what pytest collects."""
    suites = tuple(_checked_suite(text) for text in config.getoption("bench_suite") or ())
    _warmup_max_s(config)  # a bad duration is a usage error before anything runs
    _check_gate_options(config)
    config.stash[SUITES] = suites
    if not suites:
        return
    given = config.args if config.args_source == pytest.Config.ArgsSource.ARGS else []
    config.args = [*given, *(str(path) for path in suites)]
    use_bench_defaults(config)


# The median's distribution-free 95% interval needs 6 samples; pytest-benchmark's default is 5
# rounds, which is what a slow model gets.
MIN_ROUNDS_FOR_INTERVAL = 6


def use_bench_defaults(config: pytest.Config) -> None:
    """pytest-benchmark options for bench's benchmarks, where the user did not set them: raw
    samples saved (`--benchmark-save-data`, so `bench compare` and later statistics can read
    every round) and at least 6 rounds (so every median gets its 95% interval).

    Call from a `pytest_configure` hook: pytest-benchmark's session reads these options after
    it, since it configures last.
    """
    config.option.benchmark_save_data = True
    given = config.invocation_params.args
    if not any(str(arg).startswith("--benchmark-min-rounds") for arg in given):
        rounds = config.getoption("benchmark_min_rounds")
        config.option.benchmark_min_rounds = max(rounds, MIN_ROUNDS_FOR_INTERVAL)


def _checked_suite(text: str) -> Path:
    from bench.errors import BenchError
    from bench.suite import load_suite

    path = Path(text).resolve()
    if not path.is_file():
        raise pytest.UsageError(f"--bench-suite {text}: no such file")
    try:
        load_suite(path)
    except BenchError as exc:
        raise pytest.UsageError(f"--bench-suite: {exc}") from None
    return path


def _warmup_max_s(config: pytest.Config) -> float:
    from bench.durations import parse_duration

    text = config.getoption("bench_warmup_max")
    try:
        return parse_duration(str(text))
    except ValueError as exc:
        raise pytest.UsageError(f"--bench-warmup-max: {exc}") from None


def _gate_fraction(text: str) -> float:
    from bench.cli.arguments import percent

    return percent(text)


GATE_OPTIONS = (
    ("--bench-gate", "bench_gate"),
    ("--bench-gate-instructions", "bench_gate_instructions"),
)


def _gated(config: pytest.Config) -> bool:
    return any(config.getoption(option) is not None for _, option in GATE_OPTIONS)


def _check_gate_options(config: pytest.Config) -> None:
    """--bench-gate judges against pytest-benchmark's baseline, so without --benchmark-compare
    it has nothing to judge: a usage error now, not a silent pass after the benchmarks ran.
    Raw rounds are saved so that this run, autosaved, is a baseline the gate can use."""
    gates = [name for name, option in GATE_OPTIONS if config.getoption(option) is not None]
    if not gates:
        return
    if not config.getoption("benchmark_compare", None):
        raise pytest.UsageError(
            f"{gates[0]} needs a baseline: add --benchmark-compare (the newest saved run) "
            "or --benchmark-compare=NUM"
        )
    if config.getoption("benchmark_compare_fail", None):
        # pytest-benchmark raises its regression error as the session ends, before the gate's
        # table is printed: the run ended in a traceback and the gate's verdict was lost
        raise pytest.UsageError(
            f"{gates[0]} and --benchmark-compare-fail are two gates on one comparison; "
            "use one (the first judges intervals, the second two medians)"
        )
    config.option.benchmark_save_data = True


def pytest_sessionstart(session: pytest.Session) -> None:
    """A --benchmark-compare that found no saved run leaves the gate nothing to judge: a usage
    error before any benchmark runs. (pytest-benchmark loads the baseline in its own
    pytest_configure, which runs last, so this is the first hook that can see it.)"""
    config = session.config
    benchmarks = getattr(config, "_benchmarksession", None)
    if not _gated(config) or benchmarks is None:
        return
    if not benchmarks.compared_mapping:
        compare = config.getoption("benchmark_compare")
        which = "" if compare is True else f" matching {compare!r}"
        raise pytest.UsageError(
            f"--bench-gate: no saved run{which} in {_storage_text(benchmarks.storage)} to "
            "compare to; save a baseline first with --benchmark-autosave"
        )


def _storage_text(storage: object) -> str:
    """Where the saved runs are. pytest-benchmark's `location` is the path relative to the
    working directory and raises for a storage outside it (an INTERNALERROR instead of this
    message); the storage's own str() is its whole path or URL."""
    try:
        return str(storage.location)  # type: ignore[attr-defined]
    except (AttributeError, ValueError):
        return str(storage)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Judge this run against the baseline once every benchmark has run (pytest-benchmark's
    own sessionfinish, a wrapper, has finished its work before this runs); the exit status
    becomes the gate's unless the tests already failed."""
    config = session.config
    threshold = config.getoption("bench_gate")
    benchmarks = getattr(config, "_benchmarksession", None)
    if not _gated(config) or benchmarks is None:
        return
    from bench.pytest_plugin.gate import DEFAULT_THRESHOLD, judge_session

    outcome = judge_session(
        benchmarks,
        DEFAULT_THRESHOLD if threshold is None else threshold,
        time_gate=threshold is not None,
        instruction_threshold=config.getoption("bench_gate_instructions"),
    )
    config.stash[GATE_OUTCOME] = outcome
    if session.exitstatus == pytest.ExitCode.OK:
        allow = config.getoption("bench_gate_allow_inconclusive")
        session.exitstatus = outcome.exit_code(allow)


@pytest.hookimpl(trylast=True)  # after pytest-benchmark's own table
def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    for line in _doubt_lines(config):
        terminalreporter.write_line(line, yellow=True)
    outcome = config.stash.get(GATE_OUTCOME, None)
    if outcome is None:
        return
    from bench.pytest_plugin.gate import summary_lines

    allow = config.getoption("bench_gate_allow_inconclusive")
    *lines, verdict = summary_lines(outcome, allow)
    terminalreporter.write_sep("-", "bench gate")
    for line in lines:
        terminalreporter.write_line(line)
    code = outcome.exit_code(allow)
    terminalreporter.write_line(verdict, red=code == 1, yellow=code == 3, green=code == 0)


def _doubt_lines(config: pytest.Config) -> list[str]:
    """bench's benchmarks whose figures should not be trusted (or saved as a baseline): timed
    while other processes took their cores, or before the warmup settled."""
    session = getattr(config, "_benchmarksession", None)
    if session is None:
        return []
    contended, unsteady = [], []
    for bench in getattr(session, "benchmarks", ()):
        extra = getattr(bench, "extra_info", None) or {}
        name = str(getattr(bench, "name", "?"))
        if extra.get("contended") is True:
            share = extra.get("others_cpu_share")
            contended.append(f"{name} ({share:.0%})" if isinstance(share, float) else name)
        if extra.get("warmup_steady") is False:
            unsteady.append(name)
    lines = []
    if contended:
        lines.append(
            "bench: contended (other processes took this share of the benchmark's cores; its "
            "figures, and a baseline saved from them, are not to be trusted): "
            + ", ".join(contended)
        )
    if unsteady:
        lines.append(
            "bench: warmup never settled before the rounds (raise --bench-warmup-max): "
            + ", ".join(unsteady)
        )
    return lines


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.resolve() in parent.config.stash.get(SUITES, ()):
        from bench.pytest_plugin.collect import SuiteModule

        return SuiteModule.from_parent(parent, path=file_path)
    return None


def loop_settings(config: pytest.Config) -> Any:
    """bench's warmup bound, and pytest-benchmark's round options as the user set them."""
    from bench.pytest_plugin.timing import LoopSettings

    return LoopSettings(
        warmup_max_s=_warmup_max_s(config),
        max_time_s=float(config.getoption("benchmark_max_time")),
        min_rounds=int(config.getoption("benchmark_min_rounds")),
        instructions=bool(config.getoption("bench_instructions")),
    )


@pytest.fixture
def bench_case(benchmark: Any, request: pytest.FixtureRequest) -> Callable[[Any], dict[str, Any]]:
    """`bench_case(case)`: benchmark one suite case (from `suite_params`); returns extra_info.

    Tests of one model share a pytest-benchmark group, named after the model.
    """
    from bench.pytest_plugin.cases import subject_for_case
    from bench.pytest_plugin.measure import measure_subject

    def run(case: Any) -> dict[str, Any]:
        benchmark.group = case.model.name
        subject = subject_for_case(case)
        return measure_subject(benchmark, subject, loop_settings(request.config))

    return run


@pytest.fixture
def bench_model(benchmark: Any, request: pytest.FixtureRequest) -> Callable[..., dict[str, Any]]:
    """`bench_model(model, *inputs, mode="eval", fresh_inputs=False, group=None)`.

    Benchmarks a model and inputs built in the test as a suite case is benchmarked: checked
    forward, counts, bench's warmup, pytest-benchmark's rounds (synchronized on CUDA; gradients
    cleared and, with fresh_inputs, inputs copied before each call, untimed), memory pass.
    Returns the extra_info it saved. The group defaults to the model's class name.
    """
    from bench.pytest_plugin.measure import measure_subject
    from bench.pytest_plugin.user import user_subject

    def run(
        model: Any,
        *inputs: Any,
        mode: str = "eval",
        fresh_inputs: bool = False,
        group: str | None = None,
    ) -> dict[str, Any]:
        subject = user_subject(model, inputs, mode=mode, fresh_inputs=fresh_inputs)
        benchmark.group = group or subject.labels["model"]
        return measure_subject(benchmark, subject, loop_settings(request.config))

    return run


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    from bench.pytest_plugin.machine import torch_machine_info

    machine_info.update(torch_machine_info())


@pytest.hookimpl(optionalhook=True, wrapper=True, tryfirst=True)
def pytest_benchmark_compare_machine_info(
    config: pytest.Config, benchmarksession: Any, machine_info: dict, compared_benchmark: dict
) -> Any:
    """Warn loudly when the baseline's GPU or torch differs; let pytest-benchmark's own check
    (which runs inside this wrapper) ignore the CPU clock's momentary reading."""
    from bench.pytest_plugin.machine import drop_volatile, hardware_differences, mismatch_message

    saved = compared_benchmark.setdefault("machine_info", {})
    differences = hardware_differences(machine_info, saved)
    if differences:
        message = mismatch_message(differences, str(benchmarksession.storage.location))
        benchmarksession.logger.error(message)  # printed whatever the verbosity
        benchmarksession.logger.warning(message)  # and in pytest's warnings summary
    drop_volatile(machine_info)
    drop_volatile(saved)
    return (yield)
