"""Our benchmarks use bench's defaults for pytest-benchmark: raw samples saved with every run
(so `bench compare` and later statistics can read each round, not only the summary) and at
least 6 rounds (so every median gets its 95% interval), unless the command line sets them."""

from __future__ import annotations

import pytest

from bench.pytest_plugin import use_bench_defaults


def pytest_configure(config: pytest.Config) -> None:
    use_bench_defaults(config)
