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


def pytest_configure(config: pytest.Config) -> None:
    """Validate every --bench-suite at once (a bad suite is a usage error, one line) and add
    the suite files to what pytest collects."""
    suites = tuple(_checked_suite(text) for text in config.getoption("bench_suite") or ())
    _warmup_max_s(config)  # a bad duration is a usage error before anything runs
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
