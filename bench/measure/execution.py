"""How one requested case is executed: in this process or a spawned worker, with OOM backoff.

`--oom-backoff` never changes a case's batch size silently (timm's benchmark script did, and its
users compared numbers measured at different batches without knowing). The requested case keeps
its `oom` row; each retry at a halved batch is an extra row whose `batch_size` is the batch it
really ran and whose `backoff_from` column names the batch that ran out of memory. Halving stops
at the first batch that does not run out of memory, or after batch 1.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from bench.measure.case import RunOptions, measure_case
from bench.records import Case, Result


def execute(case: Case, options: RunOptions) -> Iterator[Result]:
    """The requested case's result, then any backoff rows; each yielded as soon as it exists."""
    result = _measure(case, options)
    yield result
    if not options.oom_backoff or result.status != "oom":
        return
    batch = case.batch_size
    while result.status == "oom" and batch > 1:
        batch //= 2
        smaller = replace(case, batch_size=batch, backoff_from=case.batch_size)
        result = _measure(smaller, options)
        note = (
            f"oom backoff: batch {case.batch_size} ran out of memory; this row measures batch "
            f"{batch}, not the batch the suite asked for"
        )
        result = replace(result, notes=(note, *result.notes))
        yield result


def _measure(case: Case, options: RunOptions) -> Result:
    if options.processes > 1:
        from bench.measure.processes import measure_in_processes

        return measure_in_processes(case, options)
    if options.isolate:
        from bench.measure.isolation import measure_isolated  # multiprocessing only when asked for

        return measure_isolated(case, options)
    return measure_case(case, options)
