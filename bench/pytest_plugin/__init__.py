"""The pytest plugin: bench suites as pytest-benchmark tests that gate regressions.

Registered through the `pytest11` entry point, so wherever bench is installed
`pytest --bench-suite FILE` collects a suite's cases as benchmark tests, and the `bench_case` and
`bench_model` fixtures are available to any test. Timing goes through pytest-benchmark's own
loop (its statistics, storage and `--benchmark-compare` work unchanged), with bench's
steady-state warmup before the first round, a synchronize of the case's CUDA device ending every
timed call, and untimed setup (cleared gradients, fresh inputs) through `benchmark.pedantic`.
Every benchmark's `extra_info` holds params, MACs, FLOPs, peak memory, device, dtype, input
shapes, threads and bench's median with its 95% interval; `machine_info` gains the GPU and torch.

`hooks` holds the hooks and fixtures; `cases` the suite's cases as parameters; `collect` the
suite file as a test module; `user` a test's own model as a subject; `measure` one subject's
counts, timing and memory into extra_info; `timing` the warmup and pytest-benchmark loop;
`machine` machine_info and the baseline check; `gate` the `--bench-gate` regression gate.
"""

from bench.pytest_plugin.hooks import (
    bench_case,
    bench_model,
    pytest_addoption,
    pytest_benchmark_compare_machine_info,
    pytest_benchmark_update_machine_info,
    pytest_collect_file,
    pytest_configure,
    pytest_sessionfinish,
    pytest_sessionstart,
    pytest_terminal_summary,
    use_bench_defaults,
)


def suite_params(path: object) -> list[object]:
    """`pytest.param`s for `@pytest.mark.parametrize("case", suite_params(FILE))`, one per case.

    Imported on use: it loads torch, which the plugin otherwise leaves alone until needed.
    """
    from bench.pytest_plugin.cases import suite_params as params

    return params(path)  # type: ignore[arg-type]


__all__ = [
    "bench_case",
    "bench_model",
    "pytest_addoption",
    "pytest_benchmark_compare_machine_info",
    "pytest_benchmark_update_machine_info",
    "pytest_collect_file",
    "pytest_configure",
    "pytest_sessionfinish",
    "pytest_sessionstart",
    "pytest_terminal_summary",
    "suite_params",
    "use_bench_defaults",
]
