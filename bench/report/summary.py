"""The report's first screen: one row per case (how big, how much work, how fast, how much
memory) and the warnings a reader must see before trusting any of it.

Units are chosen per column (the scale that suits the column's median value) and written in the
header, every number has 4 significant figures, memory is binary (MiB = 2^20 bytes), and a
column empty in every row is left out.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from bench.records import (
    ASYMMETRY_LIMIT,
    CROSSCHECK_TOLERANCE,
    NOISY_IQR_FRACTION,
    Result,
    crosscheck_disagreement,
)
from bench.report.tables import compact_table, free_text
from bench.report.timing import PrecisionTally
from bench.units import significant

_SCALES = (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3), ("", 1.0))


def scale_of(values: Sequence[float | None]) -> tuple[str, float]:
    """The decimal prefix that puts the column's median value between 1 and 1000."""
    present = [abs(v) for v in values if v]
    if not present:
        return "", 1.0
    middle = statistics.median(present)
    return next(((p, f) for p, f in _SCALES if middle >= f), ("", 1.0))


def mode_label(result: Result) -> str:
    """eval/train, plus which build of a compare_inplace model (in_place / out_of_place)."""
    variant = result.case.inplace_variant
    return f"{result.case.mode} ({variant})" if variant else result.case.mode


def contended(result: Result) -> bool:
    """A case measured while other work competed for the device, when the run recorded it."""
    return any(getattr(holder, "contended", None) is True for holder in (result, result.latency))


def _contended_words(result: Result) -> str:
    """The case, and the threads of bench's own process that competed with it, if any did."""
    contention = result.latency.contention if result.latency is not None else None
    if contention is None or not contention.threads_contended:
        return f"`{result.case.label}`"
    return (
        f"`{result.case.label}` (threads of this process: {', '.join(contention.foreign_threads)})"
    )


def flags(result: Result) -> list[str]:
    lat = result.latency
    found = []
    if lat is not None:
        if lat.steady is False:
            found.append("not steady: raise --budget")
        found += [name for name, on in (("noisy", lat.noisy), ("drifting", lat.drifting),
                                        ("launch-bound", lat.launch_bound)) if on]  # fmt: skip
        if lat.precision_met is False:
            found.append("imprecise")
    if contended(result):
        found.append("contended")
    if result.counting is not None and result.counting.counted_on == "real":
        found.append("counted on real data")
    if result.counting is not None and result.counting.data_dependent:
        found.append("count may depend on data")
    if result.counting is not None and result.counting.partial:
        found.append("partial count")
    return found


def _interval(result: Result) -> str:
    """The main table's cell: `+-0.56%`, or `0.0567-0.142 ms` when the interval is lopsided."""
    return "" if result.latency is None else result.latency.interval_text()


def _noise_words(result: Result) -> str:
    """`IQR 38%`, plus the interval when that, not the spread, made the case noisy."""
    lat = result.latency
    assert lat is not None
    iqr = lat.iqr_ms / lat.median_ms
    words = f"IQR {significant(100 * iqr, 3)}%"
    return words if iqr > NOISY_IQR_FRACTION else f"{words}, interval {_interval_words(result)}"


def _interval_words(result: Result) -> str:
    if result.latency is not None and result.latency.steady is False:
        return "not steady"
    return _interval(result) or "too few samples for an interval"


def precision_label(result: Result) -> str:
    """The dtype as written in the suite, plus the memory format and compile mode when set."""
    parts = [result.case.dtype]
    if result.case.memory_format != "contiguous":
        parts.append(result.case.memory_format)
    if result.case.compile != "eager":
        parts.append(f"compile={result.case.compile}")
    return " ".join(parts)


def summary_table(results: Sequence[Result]) -> str:
    """The main table of a suite: identity, counts, latency, memory, flags."""
    params_prefix, params_factor = scale_of([r.params for r in results])
    macs_prefix, macs_factor = scale_of([r.macs for r in results])
    counts = [r.instructions.per_call if r.instructions else None for r in results]
    instructions_prefix, instructions_factor = scale_of(counts)
    rows = []
    for r, count in zip(results, counts, strict=True):
        lat = r.latency
        rows.append(
            [
                r.case.model.name.replace("|", "\\|"),  # a bare | would split the markdown cell
                mode_label(r),
                r.case.device,
                precision_label(r),
                r.row()["input_shape"],
                "" if r.status == "ok" else r.status,
                "" if r.params is None else significant(r.params / params_factor),
                "" if r.macs is None else significant(r.macs / macs_factor),
                "" if lat is None else significant(lat.median_ms),
                _interval(r),
                significant(r.throughput_per_s),
                "" if r.peak_memory_bytes is None else significant(r.peak_memory_bytes / 2**20),
                "" if count is None else significant(count / instructions_factor),
                ", ".join(flags(r)),
            ]
        )
    headers = [
        "Model",
        "Mode",
        "Device",
        "Dtype",
        "Input",
        "Status",
        f"Params ({params_prefix or '1'})",
        f"{macs_prefix}MACs",
        "Median (ms)",
        "95% CI",
        "Throughput (samples/s)",
        "Peak memory (MiB)",
        f"Instructions/call ({instructions_prefix or '1'})",
        "Flags",
    ]
    return compact_table(rows, headers, "llllllrrrrrrrl")


SUMMARY_GUIDE = (
    "One row per case. *Input* is the whole input, batch first. *MACs* are multiply-accumulates "
    "of the timed work over the whole batch: one forward pass for `eval` rows, one whole "
    "training step (forward, backward, optimizer) for `train` rows; FLOPs = 2 x MACs. *Median* "
    "is the latency of that work after warmup (the median of block medians: each block is a run "
    "of samples, and the blocks fill the case's budget), *95% CI* the median's "
    "distribution-free confidence interval over the blocks: +-% of the median while its two "
    f"sides are within {ASYMMETRY_LIMIT:g}x of each other, else its ends in ms (a +-% of a "
    "lopsided interval would understate its long side and overstate its short one). "
    "*Peak memory* is the most memory allocated during one steady-state step, weights and "
    "input included, in MiB "
    "(2^20 bytes; all memory in this report is binary). Flags: *noisy* (IQR over 10% of the "
    "median, or the median's interval wider than 3x the precision target: compare with "
    "care), *imprecise* (the precision target was not met within the budget), *not steady: "
    "raise --budget* (warmup did not settle within the budget, so a slow start may be in the "
    "samples), *drifting* (the median intervals of the first and second halves of the blocks do "
    "not overlap: the speed moved during the run), *contended* (other processes, or threads of "
    "this process besides the measured work, took over 10% of the cores the case needs), "
    "*launch-bound* (CUDA host slower than the device), *counted on real "
    "data* (FLOPs counted on the real model: the count may depend on the input)."
)


def _flagged(flag: str, rows: list[Result]) -> list[str]:
    """One Warnings line naming every row with the flag; none when no row has it."""
    if not rows:
        return []
    return [f"{flag}: " + ", ".join(f"`{r.case.label}`" for r in rows)]


SKIPS_LISTED = 3  # cases named per skip reason; a GPU suite on a CPU machine skips hundreds


def _skipped_lines(skipped: Sequence[Result]) -> list[str]:
    """One bullet per reason: `suites/gpu.toml` on a machine without CUDA gave 303 bullets of
    "no CUDA device on this machine"."""
    by_reason: dict[str, list[str]] = {}
    for result in skipped:
        by_reason.setdefault(free_text(result.error), []).append(f"`{result.case.label}`")
    lines = []
    for reason, labels in by_reason.items():
        if len(labels) == 1:
            lines.append(f"skipped {labels[0]}: {reason}")
            continue
        shown = ", ".join(labels[:SKIPS_LISTED])
        more = f" and {len(labels) - SKIPS_LISTED} more" if len(labels) > SKIPS_LISTED else ""
        lines.append(f"skipped {len(labels)} cases: {reason}: {shown}{more}")
    return lines


def warnings(results: Sequence[Result]) -> list[str]:
    """One bullet per kind of problem, naming the cases; empty when there is none."""
    lines = []
    failed = [r for r in results if r.status not in ("ok", "skipped")]
    lines += [f"**{r.status}** `{r.case.label}`: {free_text(r.error)}" for r in failed]
    lines += _skipped_lines([r for r in results if r.status == "skipped"])
    timed = [r for r in results if r.latency is not None]
    unsteady = [r for r in timed if r.latency.steady is False]
    if unsteady:
        lines.append(
            "not steady: raise --budget (the budget ran out before warmup settled, so a slow "
            "start may be in the samples): " + ", ".join(f"`{r.case.label}`" for r in unsteady)
        )
    noisy = [r for r in timed if r.latency.noisy]
    if noisy:
        cases = ", ".join(f"`{r.case.label}` ({_noise_words(r)})" for r in noisy)
        lines.append(
            "noisy (IQR over 10% of the median, or the median's interval wider than 3x the "
            f"precision target; compare with care): {cases}"
        )
    lines += _flagged(
        "drifting (the first and second halves of the blocks disagree beyond their "
        "intervals: the machine's speed moved during the case; compare with care)",
        [r for r in timed if r.latency.drifting],
    )
    lines += _flagged(
        "throttled (the GPU's SM clock fell below 75% of its default during the samples; "
        "lock the clocks, `bench doctor` says how)",
        [r for r in timed if r.latency.throttled],
    )
    busy = [r for r in results if contended(r)]
    if busy:
        lines.append(
            "contended (other work competed): " + ", ".join(_contended_words(r) for r in busy)
        )
    tally = PrecisionTally.of(results)
    if tally.not_met:
        cases = ", ".join(f"`{r.case.label}` ({_interval_words(r)})" for r in tally.not_met)
        lines.append(f"{tally.sentence()}: {cases}")
    real = [r for r in results if r.counting is not None and r.counting.counted_on == "real"]
    if real:
        lines.append(
            "FLOPs counted on real data (the model cannot run on meta; a data-dependent path "
            "may count differently for other inputs): "
            + ", ".join(f"`{r.case.label}`" for r in real)
        )
    dependent = [r for r in results if r.counting is not None and r.counting.data_dependent]
    if dependent:
        lines.append(
            "MACs may depend on the data (ops such as nonzero or NMS ran while counting; the "
            "weights and inputs are seeded, so the count repeats; see *Notes*): "
            + ", ".join(f"`{r.case.label}`" for r in dependent)
        )
    uncounted = sorted(
        {r.case.model.name for r in results if r.counting and r.counting.uncounted_ops}
    )
    if uncounted:
        lines.append(
            f"ops without a FLOP formula ran in {len(uncounted)} model(s) (norms, activations, "
            "pooling, elementwise; not in MACs): see *Counting coverage* below"
        )
    disagree = [r for r in results if crosscheck_disagreement(r.macs, r.counting)]
    if disagree:
        lines.append(
            f"fvcore's count differs by more than {CROSSCHECK_TOLERANCE:.0%}: "
            + ", ".join(f"`{r.case.label}`" for r in disagree)
        )
    noted = [r for r in results if r.notes]
    if noted:
        # notes are how a case was measured as well as what it raised: not all are warnings
        lines.append(
            f"{len(noted)} case(s) have notes (how they were measured, what they raised): "
            "see *Notes* below"
        )
    return lines
