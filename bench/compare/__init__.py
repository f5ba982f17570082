"""`bench compare BASE NEW`: which cases got faster or slower, without mistaking noise for change.

`sources` reads a run directory (run.json, raw samples) or a pytest-benchmark JSON file saved
with `--benchmark-save-data` into comparable cases; `verdicts` matches the cases of two runs and
decides, per case, `faster`, `slower`, `same` or `inconclusive` from the raw samples' block
medians (bootstrap interval of the ratio of medians, a machine noise floor) with the one rule in
bench/stats.py; `markdown` renders the comparison.
"""

import sys
import types
from typing import Any

from bench.compare.markdown import render_comparison
from bench.compare.sources import CompareError, RunSamples, SideCase, load_side
from bench.compare.verdicts import (
    VERDICTS,
    CaseComparison,
    Comparison,
    compare_runs,
    compare_samples,
    device_mismatch,
    instruction_regressions,
    instructions_unjudged,
    regressions_beyond,
    unjudged_reason,
)

__all__ = [
    "VERDICTS",
    "CaseComparison",
    "CompareError",
    "Comparison",
    "RunSamples",
    "SideCase",
    "compare_runs",
    "compare_samples",
    "device_mismatch",
    "instruction_regressions",
    "instructions_unjudged",
    "load_side",
    "regressions_beyond",
    "render_comparison",
    "unjudged_reason",
]


class _Callable(types.ModuleType):
    """This package is also the API function `bench.compare(base, new)`: the call works though
    importing any `bench.compare.*` module binds the name `bench.compare` to the package."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from bench.compare.frames import compare

        return compare(*args, **kwargs)


sys.modules[__name__].__class__ = _Callable
