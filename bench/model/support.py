"""Whether a case's variants can run here at all, known before anything is built.

`bench run` makes such a case a `skipped` row, `bench ab` refuses it, and the run's valgrind
pass (bench.measure.instructions) leaves it out: one question, asked in one place.
"""

from __future__ import annotations

from bench.model.graphs import graph_problem
from bench.model.inputs import input_problem
from bench.model.variants import compile_problem
from bench.records import Case


def variant_unavailable_reason(case: Case) -> str | None:
    """Why the case's inputs, memory format, compile mode or CUDA graph cannot run here."""
    return (
        input_problem(case)
        or graph_problem(case.compile, case.device, case.mode)
        or compile_problem(case.compile, case.device)
    )
