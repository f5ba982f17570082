"""`pytest --bench-suite FILE`: a suite file collected as a test module of benchmark tests.

The module is made in code, not imported from disk: it holds one test function parametrized over
the suite's cases (`cases.suite_params`), the same function a test file in `tests/benchmarks/`
writes by hand, so both give the same ids, groups and extra_info. Its node id is the suite's path
relative to pytest's rootdir, so compare a branch against a baseline from the same folder.
"""

from __future__ import annotations

import hashlib
import types
from pathlib import Path
from typing import Any

import pytest

from bench.pytest_plugin.cases import suite_params

TEST_NAME = "test_suite"


def suite_module(path: Path) -> types.ModuleType:
    """A module object with `test_suite(bench_case, case)` parametrized over the suite's cases."""
    name = "bench_suite_" + hashlib.sha1(str(path).encode()).hexdigest()[:12]
    module = types.ModuleType(name, f"benchmark tests of the cases of {path}")
    module.__file__ = str(path)

    @pytest.mark.parametrize("case", suite_params(path))
    def test_suite(bench_case: Any, case: Any) -> None:
        bench_case(case)

    test_suite.__module__ = name
    setattr(module, TEST_NAME, test_suite)
    return module


class SuiteModule(pytest.Module):
    """A suite file as a test module (see the module doc); pytest's Module does the rest."""

    def _getobj(self) -> types.ModuleType:
        return suite_module(self.path)
