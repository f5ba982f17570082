"""`--processes N`: one case timed in N fresh worker processes, one after another (pyperf-style).

Some of what makes two runs differ is fixed for the life of a process: where the allocator put
the weights, which cores the threads landed on, how the hash seeds laid out dicts. One process's
blocks, however many, share that luck. N spawned workers (bench/measure/isolation.py) each build
the case, warm up, calibrate and take their own blocks; the samples are pooled in run order with
each process's size, and the median's interval resamples processes, then blocks within each
(bench/stats.py, `hierarchical_median_ci`), so it covers the between-process variance too.

Counting and the memory pass run in the first worker only: they are exact and do not vary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from bench.measure.case import RunOptions
from bench.measure.isolation import measure_isolated
from bench.records import Case, Contention, LatencyStats, Result


def measure_in_processes(case: Case, options: RunOptions) -> Result:
    """The first worker's full result, its latency pooled with N - 1 more workers' latencies.

    A later worker that fails leaves the row with the processes that succeeded and a note
    saying which one failed and why (the pooled interval is then over fewer processes)."""
    first = measure_isolated(case, options)
    if first.status != "ok" or first.latency is None:
        return first
    latencies, notes = [first.latency], list(first.notes)
    latency_only = replace(options, metrics=frozenset({"latency"}), processes=1)
    for number in range(2, options.processes + 1):
        more = measure_isolated(case, latency_only)
        if more.status != "ok" or more.latency is None:
            notes.append(
                f"worker process {number} of {options.processes}: {more.status}: {more.error}"
            )
            continue
        latencies.append(more.latency)
    return replace(first, latency=pooled(latencies), notes=tuple(notes))


def pooled(latencies: Sequence[LatencyStats]) -> LatencyStats:
    """The processes' samples as one record that knows where each process's samples are."""
    if len(latencies) == 1:
        return latencies[0]
    first = latencies[0]
    return LatencyStats.from_samples(
        [s for lat in latencies for s in lat.samples_ms],
        sum(lat.warmup_iterations for lat in latencies),
        iterations_per_sample=first.iterations_per_sample,
        samples_per_block=first.samples_per_block,
        process_sizes=[(len(lat.samples_ms), lat.samples_per_block) for lat in latencies],
        first_call_ms=first.first_call_ms,
        precision_target=first.precision_target,
        wall_samples_ms=[w for lat in latencies for w in lat.wall_samples_ms],
        confidence=first.confidence,
        measure_s=sum(lat.measure_s or 0.0 for lat in latencies),
        steady=_all_steady(latencies),
        contention=_summed([lat.contention for lat in latencies]),
    )


def _all_steady(latencies: Sequence[LatencyStats]) -> bool | None:
    if any(lat.steady is False for lat in latencies):
        return False
    return True if all(lat.steady for lat in latencies) else None


def _summed(readings: Sequence[Contention | None]) -> Contention | None:
    """The processes' readings as one phase: wall and others' CPU add up."""
    present = [r for r in readings if r is not None]
    if not present:
        return None
    return replace(
        present[-1],
        wall_s=sum(r.wall_s for r in present),
        others_cpu_s=sum(r.others_cpu_s for r in present),
    )
