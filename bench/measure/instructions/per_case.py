"""Which source counts a case's instructions, decided once per run, and the count for a case.

The hardware counter, where this machine lets a process open it, counts each case in the
measuring process itself (fast, no valgrind). Where it does not, every CPU case of the run is
counted up front in one valgrind process (bench.measure.instructions.callgrind), and each row
takes its count from there. A CUDA case is not counted: its work runs on the device, which no
host instruction count sees.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from bench.measure.instructions.callgrind import count_under_callgrind, counting_key
from bench.measure.instructions.calls import count_calls, warm_up
from bench.measure.instructions.counter import (
    NO_COUNTER,
    SOURCE,
    CounterBackend,
    CounterMeter,
    hardware_counter,
)
from bench.measure.threads import intra_op_threads
from bench.model.given import FACTORY as GIVEN_FACTORY
from bench.model.support import variant_unavailable_reason
from bench.model.workload import Workload
from bench.records import Case, CaseKey, InstructionCount

COUNTER_CALLS = 1
COUNTER_REPEATS = 10  # the minimum of 10, as PyTorch's instruction-count CI takes
NOT_CPU = "instructions are counted for CPU cases only: a CUDA case's work runs on the device"
GIVEN_MODEL = (
    NO_COUNTER + "; a model given in memory cannot be re-run under valgrind (name it in a suite)"
)


def count_before_run(
    cases: Sequence[Case],
    timeout_for: Callable[[Case], float],
    progress: Callable[[int, int], None] | None = None,
) -> dict[CaseKey, InstructionCount]:
    """Where the hardware counter is hidden, every CPU case's count, from one valgrind process
    (cases measured in process need none: {} when the counter works)."""
    if hardware_counter() is not None:
        return {}
    chosen = [
        c
        for c in cases
        if c.device == "cpu"
        and c.model.factory != GIVEN_FACTORY
        and variant_unavailable_reason(c) is None  # a skipped row: nothing to count
    ]
    return count_under_callgrind(chosen, [timeout_for(c) for c in chosen], progress)


def instructions_for(
    case: Case,
    workload: Workload,
    counted: Mapping[CaseKey, InstructionCount],
    counter: CounterBackend | None = None,
) -> InstructionCount:
    """The case's count: counted before the run, else by the hardware counter, else why not."""
    if case.device != "cpu":
        return InstructionCount(per_call=None, reason=NOT_CPU)
    known = counted.get(counting_key(case))
    if known is not None:
        return known
    counter = counter if counter is not None else hardware_counter()
    if counter is None:
        # only a case the run did not plan for (a given model, an --oom-backoff batch) gets here
        reason = GIVEN_MODEL if case.model.factory == GIVEN_FACTORY else NO_COUNTER
        return InstructionCount(per_call=None, reason=reason)
    return count_with_counter(workload, counter)


def count_with_counter(workload: Workload, counter: CounterBackend) -> InstructionCount:
    """The minimum over COUNTER_REPEATS of one call each, on one intra-op thread."""
    with intra_op_threads(1), workload.context():
        warm_up(workload)
        counted = count_calls(workload, CounterMeter(counter), COUNTER_CALLS, COUNTER_REPEATS)
    if counted is None:
        return InstructionCount(per_call=None, reason="the instruction counter read nothing")
    return InstructionCount(
        per_call=counted.per_call,
        source=SOURCE,
        calls=counted.calls,
        repeats=counted.per_repeat,
        threads=1,
    )
