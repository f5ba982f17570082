"""The valgrind worker of `bench ab --instructions`: bench.measure.instructions.worker, with the
cases loaded from the side's own suite file inside the worker (its interpreter, its directory
first on the import path), so neither side's code is ever imported by `bench ab` itself."""

from __future__ import annotations

import os
import sys

from bench.durations import DEFAULT_TIMEOUT_S
from bench.measure.instructions import worker
from bench.records import Case
from bench.suite.load import expand, load_suite

MODULE = "bench.ab.count_worker"


def suite_cases(spec: worker.WorkerSpec) -> list[tuple[Case, float]] | None:
    """Every CPU model case of the spec's suite, with its timeout (the suite's, else the
    default); None when the spec names no suite (its own cases are counted)."""
    if spec.suite is None:
        return None
    return [
        (case, case.timing.timeout_s or DEFAULT_TIMEOUT_S)
        for case in expand(load_suite(spec.suite))
        if case.device == "cpu"
    ]


if __name__ == "__main__":
    code = worker.main(sys.argv[1:], suite_cases)
    sys.stdout.flush()
    os._exit(code)
