"""Markdown sections for experiments: a table, a plot and computed conclusions per experiment.

Also the model-level in-place comparison: the same model with every `inplace` flag on vs off.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.experiments.analysis import (
    Cache,
    inplace_conclusions,
    speed_comparison,
    view_conclusions,
)
from bench.experiments.catalog import INPLACE_VARIANTS
from bench.experiments.comparison import THRESHOLD
from bench.experiments.records import ExperimentResult
from bench.report.experiment_plots import plot_experiment
from bench.report.plot_style import PLOTS_DIR, plot_file_name
from bench.report.tables import markdown_table
from bench.units import human_bytes, significant

GroupKey = tuple[str, str, str]  # experiment, device, dtype


def group_rows(results: Sequence[ExperimentResult]) -> dict[GroupKey, list[ExperimentResult]]:
    groups: dict[GroupKey, list[ExperimentResult]] = {}
    for result in results:
        key = (result.case.experiment, result.case.device, result.case.dtype)
        groups.setdefault(key, []).append(result)
    return groups


def write_plots(results: Sequence[ExperimentResult], run_dir: Path) -> dict[GroupKey, str]:
    """One PNG per experiment x device x dtype; returns paths relative to the run directory."""
    paths = {}
    for key, rows in group_rows(results).items():
        if not any(r.status == "ok" for r in rows):
            continue
        relative = f"{PLOTS_DIR}/{plot_file_name('experiment', '-'.join(key))}"
        plot_experiment(rows, run_dir / relative, " / ".join(key))
        paths[key] = relative
    return paths


def _flag(value: bool | None) -> str:
    return "" if value is None else ("yes" if value else "no")


def _table(rows: Sequence[ExperimentResult]) -> str:
    body = []
    for r in sorted(rows, key=lambda r: (r.case.variant.family, r.case.variant.name, r.case.numel)):
        m = r.measurement
        body.append(
            [
                r.case.variant.family,
                r.case.variant.name,
                f"`{r.case.variant.code}`",
                f"{r.case.numel:,}",
                _status(r),
                "" if m is None else significant(1000 * m.latency.median_ms),
                "" if m is None else human_bytes(m.allocated_bytes),
                _flag(None if m is None else m.shares_storage),
                _flag(None if m is None else m.matches_reference),
                _flag(None if m is None else m.backward_ok),
                _versus_baseline(r),
            ]
        )
    headers = [
        "Family",
        "Variant",
        "Code",
        "Elements",
        "Status, flags",
        "Median (µs)",
        "Allocated",
        "Shares storage",
        "Same values",
        "Backward ok",
        "Time vs baseline (95% CI), verdict",
    ]
    return markdown_table(body, headers)


def _status(row: ExperimentResult) -> str:
    """Not ok: the status. Ok: what makes its median doubtful (noisy, contended, not steady),
    in the words the model rows use, so a sub-microsecond figure on a busy machine is not read
    as a fact."""
    if row.status != "ok" or row.measurement is None:
        return row.status
    return ", ".join(row.measurement.latency.doubts())


def _versus_baseline(row: ExperimentResult) -> str:
    """The row's paired ratio to its family's baseline: time over baseline time."""
    paired = row.paired
    if paired is None:
        return ""
    if paired.ratio is None or paired.ci_low is None or paired.ci_high is None:
        return paired.verdict
    why = f" ({paired.reason})" if paired.verdict == "inconclusive" and paired.reason else ""
    return (
        f"{paired.ratio:.3g}x ({paired.ci_low:.3g}-{paired.ci_high:.3g}) vs "
        f"{paired.baseline}, {paired.verdict}{why}"
    )


def _timing_note(rows: Sequence[ExperimentResult]) -> str:
    """How the rows were timed: interleaved (paired ratios), or, in older records, one after
    the other (ratios of two medians)."""
    if not any(r.measurement is not None and r.measurement.round_medians_ms for r in rows):
        return (
            "Timing: these rows were measured one variant after the other, so a ratio between "
            "two of them includes whatever the machine drifted in between; speeds compare the "
            "two medians' 95% intervals."
        )
    return (
        "Timing: the variants of each family were measured interleaved at each size: after "
        "each was warmed up, rounds alternated their blocks of calls (ABBA for two variants; "
        "for more, the order rotated each round and mirrored) for the budget, so the machine's "
        "drift fell on every variant alike. A speed is the paired ratio against the family's "
        "baseline (its first variant: the out-of-place op, or the view): the geometric mean of "
        "the per-round ratios of block medians, with a 95% bootstrap interval over rounds. "
        f"Verdict: `faster` or `slower` when the whole interval lies beyond "
        f"{100 * THRESHOLD:g}%, `same` when it lies within, `inconclusive` otherwise (and "
        "whenever a variant did not reach a steady state or other processes crowded the "
        "machine)."
    )


def device_cache(device: str, environment: Mapping[str, Any]) -> Cache:
    """The cache a copy on `device` must outgrow, as the run's environment recorded it: the
    CPU's last-level cache, or the GPU's L2 (a bare "cuda" is device 0, as torch reads it)."""
    if device.startswith("cuda"):
        index = int(device.partition(":")[2] or 0)
        gpus = [d for d in environment.get("cuda_devices") or [] if d.get("index") == index]
        return Cache("L2 cache", gpus[0].get("l2_cache_bytes") if gpus else None)
    size = environment.get("last_level_cache_bytes")
    return Cache("last-level cache", size if isinstance(size, int) and size > 0 else None)


def experiment_sections(
    results: Sequence[ExperimentResult],
    plots: dict[GroupKey, str],
    environment: Mapping[str, Any] | None = None,
) -> list[str]:
    """`environment` is the run's record of the machine: its cache sizes bound which sizes may
    claim a copy bandwidth (none recorded: no claim)."""
    lines: list[str] = []
    for key, rows in group_rows(results).items():
        experiment, device, dtype = key
        is_inplace = rows[0].case.variant in INPLACE_VARIANTS
        conclusions = (
            inplace_conclusions(rows)
            if is_inplace
            else view_conclusions(rows, device_cache(device, environment or {}))
        )
        lines += [f"## Experiment `{experiment}` ({device}, {dtype})", ""]
        lines += ["**Conclusions** (computed from the rows below):", ""]
        lines += [f"- {sentence}" for sentence in conclusions] or ["- no successful rows"]
        lines += ["", _timing_note(rows), ""]
        if key in plots:
            lines += [f"![{experiment}: latency and bytes vs size]({plots[key]})", ""]
        lines += [
            "Input policy: in-place families (and their out-of-place baselines) got a fresh copy "
            "of the input before every timed call, made outside the timed region "
            "(`fresh_copy_per_call`); views and copies, which do not write, reused one input, "
            "checked unmodified afterwards (`same_input_checked_unmodified`), so no refresh copy "
            "evicts the caches before a microsecond view. *Allocated* counts every byte the call "
            "allocated, temporaries included; *Shares storage* compares untyped-storage data "
            "pointers of output and input; *Backward ok* applies the variant to a tensor autograd "
            "saved (`exp`'s output) and calls `backward()`.",
            "",
            "<details><summary>All rows</summary>",
            "",
            _table(rows),
            "",
            "</details>",
            "",
        ]
    return lines


def model_inplace_section(results: Sequence[Any]) -> list[str]:
    """Pairs of model rows built with every `inplace` flag on vs off."""
    pairs: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in results:
        variant = getattr(r.case, "inplace_variant", "")
        if variant and r.status == "ok":
            c = r.case
            key = (c.model.name, c.mode, c.device, c.dtype, c.batch_size)
            pairs.setdefault(key, {})[variant] = r
    lines: list[str] = []
    for (name, mode, device, dtype, batch), pair in pairs.items():
        on, off = pair.get("in_place"), pair.get("out_of_place")
        if on is None or off is None:
            continue
        parts = [
            f"`{name}` {mode} ({device}, {dtype}, batch {batch}), in-place activations on vs off:"
        ]
        if on.peak_memory_bytes is not None and off.peak_memory_bytes is not None:
            saved = off.peak_memory_bytes - on.peak_memory_bytes
            share = 100 * saved / off.peak_memory_bytes if off.peak_memory_bytes else 0.0
            parts.append(
                f"peak memory {human_bytes(on.peak_memory_bytes)} vs "
                f"{human_bytes(off.peak_memory_bytes)} ({'saves' if saved >= 0 else 'costs'} "
                f"{human_bytes(abs(saved))}, {abs(share):.1f}%)"
            )
        if on.latency is not None and off.latency is not None:
            doubts = [
                f"{name} {', '.join(r.latency.doubts())}"
                for name, r in (("in-place", on), ("out-of-place", off))
                if r.latency.doubts()
            ]
            speed = speed_comparison(on.latency, off.latency)
            parts.append(
                f"in-place latency: {speed}" + (f" ({'; '.join(doubts)})" if doubts else "")
            )
        same = getattr(on, "matches_reference", None)
        if same is not None:
            parts.append(f"outputs equal the out-of-place build's: {'yes' if same else 'NO'}")
        lines.append("- " + "; ".join(parts[:1]) + " " + "; ".join(parts[1:]) + ".")
    if not lines:
        return []
    return ["## Model-level in-place comparison", "", *lines, ""]
