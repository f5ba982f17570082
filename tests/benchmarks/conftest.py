"""Our benchmarks save their raw samples with every run, so `bench compare` and later statistics
can read the per-round times, not only pytest-benchmark's summary."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # read by pytest-benchmark's session, which is created after this hook (it configures last)
    config.option.benchmark_save_data = True
