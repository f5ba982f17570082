"""report.md's profile section: per case, where the time goes (top operators, modules with
their FLOPs, the operators that allocate most), from the profiles a run's record keeps.

The section says first what a profile is for: where the time goes, as shares of a step. The
profiler slows every operator down (more so small ones), so its milliseconds are not latency;
each case states that overhead against bench's own unprofiled steps, mean against mean (the
tables' statistic), or says the profiled steps were too uneven to state it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from bench.records.profiles import DEFAULT_TOP, CaseProfile, ModuleRow, OpRow
from bench.report.tables import free_text, markdown_table
from bench.units import human_bytes

OPS_CSV = "profile_ops.csv"
MODULES_CSV = "profile_modules.csv"
MEMORY_CSV = "profile_memory.csv"
REPORT_DEPTH = 2  # module rows deeper than this are in the CSV only

HOW_TO_OPEN = (
    "Open a trace at https://ui.perfetto.dev (Open trace file) or in Chrome at chrome://tracing "
    "(Load); a CUDA memory snapshot at https://pytorch.org/memory_viz (drag the file onto it)."
)


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _calls(value: float) -> str:
    return f"{value:g}"


def _gflop(value: int | None) -> str:
    return "" if value is None else f"{value / 1e9:.4g}"


def _rate(value: float | None) -> str:
    return "" if value is None else f"{value:#.3g}"


def _link(path: Path | None, run_dir: Path) -> str:
    if path is None:
        return ""
    relative = Path(os.path.relpath(path, run_dir)).as_posix()
    return f"[{relative}]({relative})"


def _overhead_line(profile: CaseProfile) -> str:
    """The profiled step against bench's unprofiled ones, mean against mean, as the tables."""
    if profile.profiled_step_ms is None or not (profile.bench_mean_ms or profile.bench_median_ms):
        return "Profiler overhead: unknown (no unprofiled timing or no profiled step)."
    times = profile.step_times_ms
    spread = f"; {min(times):.3f}-{max(times):.3f} ms" if times else ""
    reference = profile.bench_mean_ms or profile.bench_median_ms or 0.0
    statistic = "mean" if profile.bench_mean_ms else "median"
    line = (
        f"A profiled step took {profile.profiled_step_ms:.3f} ms (mean of {profile.steps}"
        f"{spread}) against bench's {statistic} of {reference:.3f} ms for unprofiled steps: "
    )
    if profile.overhead is None:
        return line + (
            "the profiled steps were too uneven to state the profiler's overhead (something "
            "else slowed some of them); the shares below still add up within each step."
        )
    return (
        line
        + f"profiler overhead {100 * profile.overhead:+.1f}% on this case"
        + (
            " (negative: this machine's run-to-run noise is larger than the profiler's cost)."
            if profile.overhead < 0
            else "."
        )
    )


def _op_table(rows: Sequence[OpRow], on_device: bool) -> str:
    headers = ["operator", "input shapes", "calls/step", "self CPU ms", "total CPU ms"]
    if on_device:
        headers += ["self CUDA ms", "total CUDA ms"]
    headers.append("% of step")
    cells = []
    for r in rows:
        row = [f"`{r.name}`", r.input_shapes, _calls(r.calls_per_step)]
        row += [_ms(r.self_cpu_ms), _ms(r.total_cpu_ms)]
        if on_device:
            row += [_ms(r.self_device_ms), _ms(r.total_device_ms)]
        cells.append([*row, f"{r.percent_of_step:.1f}"])
    return markdown_table(cells, headers, "ll" + "r" * (len(headers) - 2))


def module_table(rows: Sequence[ModuleRow], on_device: bool, max_depth: int = REPORT_DEPTH) -> str:
    """The per-module table as report.md shows it (rows up to `max_depth`)."""
    headers = ["module", "calls/step", "CPU ms"]
    if on_device:
        headers.append("CUDA ms")
    headers += ["% of step", "GFLOP", "GFLOP/s"]
    cells = []
    for r in rows:
        if r.depth > max_depth:
            continue
        kind = f" {r.kind}" if r.kind and r.kind != r.name else ""
        row = [f"`{r.name}`{kind}", _calls(r.calls_per_step), _ms(r.cpu_ms)]
        if on_device:
            row.append(_ms(r.device_ms))
        cells.append([*row, f"{r.percent_of_step:.1f}", _gflop(r.flops), _rate(r.gflops_per_s)])
    return markdown_table(cells, headers, "l" + "r" * (len(headers) - 1))


def profile_section(
    profiles: Sequence[CaseProfile], run_dir: Path, top: int = DEFAULT_TOP
) -> list[str]:
    """report.md lines for every profiled case: its `top` operators, its modules."""
    if not profiles:
        return []
    lines = [
        "## Profiles",
        "",
        "A profile shows where the time goes (each operator's and module's share of a step), "
        "not how long a step takes: the profiler slows every operator down, small ones most. "
        "Absolute time is bench's, measured with the profiler off (stated per case "
        "below, and in the latency table of `bench run`). "
        "Every time below is a mean per step over the profiler's active steps, and each "
        "share is of the mean step.",
        "",
        HOW_TO_OPEN,
        "",
        f"CSV: [{OPS_CSV}]({OPS_CSV}), [{MODULES_CSV}]({MODULES_CSV}) (every module), "
        f"[{MEMORY_CSV}]({MEMORY_CSV}).",
        "",
    ]
    for profile in profiles:
        lines += [f"### `{profile.label}`", ""]
        if profile.status != "ok":
            lines += [f"Not profiled: {profile.status}: {free_text(profile.error)}", ""]
            continue
        on_device = profile.device.startswith("cuda")
        lines += [_overhead_line(profile), "", f"Trace: {_link(profile.trace, run_dir)}", ""]
        if profile.memory_snapshot is not None:
            lines += [f"CUDA memory snapshot: {_link(profile.memory_snapshot, run_dir)}", ""]
        ranked_by = "self CUDA time" if on_device else "self CPU time"
        lines += [f"Operators, top {min(top, len(profile.ops))} by {ranked_by} (all in {OPS_CSV}):"]
        lines += ["", _op_table(profile.ops[:top], on_device), ""]
        scope = "forward pass" if profile.mode == "eval" else "forward pass only (backward and "
        scope += "" if profile.mode == "eval" else "optimizer run outside module ranges)"
        lines += [
            f"Modules (time of each module's {scope}; a parent's time includes its children; "
            f"FLOPs from FlopCounterMode, GFLOP/s over the profiled time; depth <= "
            f"{REPORT_DEPTH} here, all in {MODULES_CSV}):",
            "",
            module_table(profile.modules, on_device),
            "",
        ]
        if profile.memory:
            where = "CUDA" if on_device else "CPU"
            lines += [f"Operators allocating the most {where} memory per step (each operator the "
                      "model called, with what it calls; frees inside it netted):", ""]  # fmt: skip
            cells = [
                [f"`{m.name}`", human_bytes(round(m.allocated_bytes)),
                 _calls(m.calls_per_step)]
                for m in profile.memory[:top]
            ]  # fmt: skip
            lines += [markdown_table(cells, ["operator", "allocated/step", "calls/step"], "lrr")]
            lines.append("")
        lines += [f"- {free_text(note)}" for note in profile.notes]
        if profile.notes:
            lines.append("")
    return lines
