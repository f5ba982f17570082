"""report.md's timing section: how precise each median is and what the timing engine did.

Kept apart from the main table so that table stays readable; a reader who doubts a number finds
here its confidence interval, whether the precision target was met, the cold first call, the
warmup, the block size, the threads and, on CUDA, the host wall time and launch-bound flag.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.records import ASYMMETRY_LIMIT, CONTENDED_SHARE, Result
from bench.report.tables import compact_table


@dataclass(frozen=True)
class PrecisionTally:
    """Which timed cases met their precision target: counted once, so the warnings and the
    timing details (which once said "not met in 10 of 19" and "met in 6 of 19": the not-steady
    cases were left out of one count) quote the same numbers in the same words."""

    timed: tuple[Result, ...]
    met: tuple[Result, ...]
    not_met: tuple[Result, ...]  # not steady ones included: their interval is no precision
    no_target: tuple[Result, ...]

    @classmethod
    def of(cls, results: Sequence[Result]) -> PrecisionTally:
        timed = tuple(r for r in results if r.latency is not None)
        return cls(
            timed=timed,
            met=tuple(r for r in timed if r.latency.precision_met is True),
            not_met=tuple(r for r in timed if r.latency.precision_met is False),
            no_target=tuple(r for r in timed if r.latency.precision_met is None),
        )

    def sentence(self) -> str:
        """`precision target met in 6 of 19 timed cases, not met in 13`."""
        text = f"precision target met in {len(self.met)} of {len(self.timed)} timed cases"
        text += f", not met in {len(self.not_met)}" if self.not_met else ""
        return text + (f", none set in {len(self.no_target)}" if self.no_target else "")


HEADERS = [
    "Case",
    "Median (ms)",
    "95% CI (ms)",
    "CI half-width % (target)",
    "Met",
    "First call (ms)",
    "Warmup",
    "Calls/sample",
    "Samples",
    "Blocks",
    "Block CV",
    "Lag-1",
    "Threads",
    "Wall (ms)",
    "Others' CPU",
    "Load",
    "Flags",
]


def _yes_no(value: bool | None) -> str:
    return "" if value is None else ("yes" if value else "no")


def _row(result: Result) -> list[str]:
    lat = result.latency
    if lat is None:
        raise ValueError("only rows with latency have a timing row")
    has_ci = lat.ci_low_ms is not None and lat.ci_high_ms is not None
    if lat.steady is False:  # an interval over a slow start is not a precision; say what to do
        interval, spread = "not steady: raise --budget", ""
    else:
        interval = f"{lat.ci_low_ms:.4g} - {lat.ci_high_ms:.4g}" if has_ci else "too few samples"
        spread = f"{100 * lat.relative_half_width:.1f}%" if has_ci else ""
    target = "" if lat.precision_target is None else f" ({100 * lat.precision_target:g}%)"
    flags = [d for d in lat.doubts() if not d.startswith("not steady")]
    if lat.launch_bound:
        flags.append("launch-bound")
    share = None if lat.contention is None else lat.contention.others_cpu_share
    load = None if lat.contention is None else lat.contention.load_avg
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
        _blocks_cell(lat.blocks, lat.samples_per_block, lat.processes),
        "" if lat.block_cv is None else f"{100 * lat.block_cv:.1f}%",
        "" if lat.block_lag1 is None else f"{lat.block_lag1:+.2f}",
        f"{result.threads}/{result.interop_threads}" if result.threads is not None else "",
        "" if lat.wall_median_ms is None else f"{lat.wall_median_ms:.4g}",
        "" if share is None else f"{100 * share:.0f}%",
        "" if load is None else f"{load:.2f}",
        ", ".join(flags),
    ]


def _blocks_cell(blocks: int, per_block: int, processes: int) -> str:
    """`20 x 4` (blocks x samples each), `40 x 4 in 2 processes`."""
    cell = f"{blocks} x {per_block}"
    return cell if processes == 1 else f"{cell} in {processes} processes"


def timing_section(results: Sequence[Result]) -> list[str]:
    """Markdown lines: one row per case with latency; nothing when no case has any."""
    timed = [r for r in results if r.latency is not None]
    if not timed:
        return []
    sentence = PrecisionTally.of(timed).sentence()
    return [
        "**Timing precision:**",
        "",
        f"{sentence[0].upper()}{sentence[1:]}. The interval is the "
        "median's distribution-free 95% CI over the *Blocks* (runs of consecutive samples "
        "spread over the budget; with worker processes, resampled by process, then block); "
        "the target is on its *half-width* (half its width over the median), which reads it "
        f"closely only while neither side is over {ASYMMETRY_LIMIT:g}x the other: the main "
        "table and the warnings then quote the interval's ends instead. "
        "*Block CV* is their spread (standard deviation over mean), *Lag-1* their lag-1 "
        "autocorrelation (near 0: independent blocks; high: the machine drifted on a longer "
        "time scale); threads are intra-op/inter-op; Wall is CUDA's "
        "synchronized host time per iteration. *Others' CPU* is the CPU time other processes "
        f"took while the samples ran, beyond the cores the case leaves free, as a share of the "
        f"cores it needs (*contended* above {100 * CONTENDED_SHARE:g}%); *Load* the 1-minute "
        "load average after sampling.",
        "",
        compact_table([_row(r) for r in timed], HEADERS, "l" + "r" * (len(HEADERS) - 1)),
        "",
    ]
