"""The default suite as pytest-benchmark tests: one test per case, grouped by model.

Run with `pytest tests/benchmarks --benchmark-autosave` (baseline) and
`pytest tests/benchmarks --benchmark-compare --bench-gate 10` (gate).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.pytest_plugin import suite_params

SUITE = Path(__file__).with_name("default.toml")


@pytest.mark.parametrize("case", suite_params(SUITE))
def test_default_suite(bench_case: Any, benchmark: Any, case: Any) -> None:
    figures = bench_case(case)
    # a benchmark that measured nothing is a failure, not a row with holes
    assert figures["flops"] is not None and figures["flops"] > 0
    if benchmark.enabled:  # --benchmark-disable runs each step once, untimed and unmeasured
        assert figures["bench_samples"] > 0
        assert figures["peak_memory_bytes"] is not None and figures["peak_memory_bytes"] > 0
