"""report.md's timing section: how precise each median is and what the timing engine did.

Kept apart from the main table so that table stays readable; a reader who doubts a number finds
here its confidence interval, whether the precision target was met, the cold first call, the
warmup, the block size, the threads and, on CUDA, the host wall time and launch-bound flag.
"""

from __future__ import annotations

from collections.abc import Sequence

from bench.records import Result
from bench.report.tables import compact_table

HEADERS = [
    "Case",
    "Median (ms)",
    "95% CI (ms)",
    "+-% (target)",
    "Met",
    "First call (ms)",
    "Warmup",
    "Calls/sample",
    "Samples",
    "Threads",
    "Wall (ms)",
    "Flags",
]


def _yes_no(value: bool | None) -> str:
    return "" if value is None else ("yes" if value else "no")


def _row(result: Result) -> list[str]:
    lat = result.latency
    if lat is None:
        raise ValueError("only rows with latency have a timing row")
    has_ci = lat.ci_low_ms is not None and lat.ci_high_ms is not None
    interval = f"{lat.ci_low_ms:.4g} - {lat.ci_high_ms:.4g}" if has_ci else "too few samples"
    spread = f"{100 * lat.relative_half_width:.1f}%" if has_ci else ""
    target = "" if lat.precision_target is None else f" ({100 * lat.precision_target:g}%)"
    flags = [name for name, on in (("noisy", lat.noisy), ("launch-bound", lat.launch_bound)) if on]
    return [
        result.case.label,
        f"{lat.median_ms:.4g}",
        interval,
        spread + target,
        _yes_no(lat.precision_met),
        "" if lat.first_call_ms is None else f"{lat.first_call_ms:.4g}",
        str(lat.warmup_iterations),
        str(lat.iterations_per_sample),
        str(len(lat.samples_ms)),
        f"{result.threads}/{result.interop_threads}" if result.threads is not None else "",
        "" if lat.wall_median_ms is None else f"{lat.wall_median_ms:.4g}",
        ", ".join(flags),
    ]


def timing_section(results: Sequence[Result]) -> list[str]:
    """Markdown lines: one row per case with latency; nothing when no case has any."""
    timed = [r for r in results if r.latency is not None]
    if not timed:
        return []
    met = sum(bool(r.latency and r.latency.precision_met) for r in timed)
    return [
        "**Timing precision:**",
        "",
        f"Precision target met in {met} of {len(timed)} timed cases. The interval is the "
        "median's distribution-free 95% CI; threads are intra-op/inter-op; Wall is CUDA's "
        "synchronized host time per iteration.",
        "",
        compact_table([_row(r) for r in timed], HEADERS, "l" + "r" * (len(HEADERS) - 1)),
        "",
    ]
