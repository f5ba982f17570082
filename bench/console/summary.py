"""The compact table `bench run` prints at the end: one line per case, the figures people ask for
first (median latency with its interval, throughput, peak memory), and where the report is."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tabulate import tabulate

from bench.units import significant


def _row(result: Any) -> list[str]:
    case, lat = result.case, result.latency
    spread = "" if lat is None else lat.interval_text()
    peak = getattr(result, "peak_memory_bytes", None)
    throughput = getattr(result, "throughput_per_s", None)
    return [
        case.label,
        result.status,
        "" if lat is None else significant(lat.median_ms),
        spread,
        significant(throughput),
        "" if peak is None else significant(peak / 2**20),
    ]


def summary_lines(results: Sequence[Any]) -> list[str]:
    """Plain text lines (no colour), so the table reads the same in a terminal and a log."""
    if not results:
        return []
    headers = ["case", "status", "median ms", "95% CI", "samples/s", "peak MiB"]
    table = tabulate([_row(r) for r in results], headers, tablefmt="simple", disable_numparse=True)
    ok = sum(r.status == "ok" for r in results)
    return [*table.splitlines(), f"{len(results)} cases: {ok} ok, {len(results) - ok} not ok"]
