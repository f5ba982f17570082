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
        ", ".join(flags_of(result)),
    ]


ADVICE = {
    "not steady": "not steady: warmup never settled within the budget; raise --budget "
    "(e.g. twice the case's time)",
    "contended": "contended: other work took the cores; rerun on a quiet machine, or with "
    "--threads 1 to leave a core free",
    "throttled": "throttled: the GPU's clock fell below 75% of its default (power, heat, or "
    "idle between launches: the row's notes give NVML's reasons); lock the clocks (`bench "
    "doctor` says how) and rerun",
    "noisy": "noisy: the samples disagree; raise --budget, or ask `bench ab` about a change",
    "drifting": "drifting: the machine's speed moved during the case; compare changes with "
    "`bench ab` (interleaved), not two stored runs",
}
"""One line of advice per kind of flag, printed under the table when some row has it."""


def flags_of(result: Any) -> list[str]:
    """The row's trust flags, in ADVICE's words (empty for a clean or untimed row)."""
    lat = result.latency
    if lat is None:
        return []
    found = [
        name
        for name, on in (
            ("not steady", lat.steady is False),
            ("contended", lat.contended is True),
            ("throttled", lat.throttled is True),
            ("noisy", lat.noisy),
            ("drifting", lat.drifting),
        )
        if on
    ]
    return found


def summary_lines(results: Sequence[Any]) -> list[str]:
    """Plain text lines (no colour), so the table reads the same in a terminal and a log."""
    if not results:
        return []
    headers = ["case", "status", "median ms", "95% CI", "samples/s", "peak MiB", "flags"]
    table = tabulate([_row(r) for r in results], headers, tablefmt="simple", disable_numparse=True)
    ok = sum(r.status == "ok" for r in results)
    flagged = {flag: sum(flag in flags_of(r) for r in results) for flag in ADVICE}
    counts = ", ".join(f"{n} {flag}" for flag, n in flagged.items() if n)
    lines = [
        *table.splitlines(),
        f"{len(results)} cases: {ok} ok, {len(results) - ok} not ok"
        + (f"; flagged: {counts}" if counts else ""),
    ]
    return lines + [f"- {ADVICE[flag]}" for flag, n in flagged.items() if n]
