"""Model plots: latency and throughput against batch size, one PNG per model, a line per
variant (device, dtype, memory format, compile mode, mode, in-place build, repetition: so CPU
and CUDA share the axes where both ran), and a CPU-vs-CUDA chart. A model that sweeps a named
input dimension (`dims`, e.g. sequence length) is drawn against that dimension instead, a line
per batch size as well.

A line joins only cases that differ in x alone: joining two variants (contiguous at b1 with
channels_last at b1) drew a vertical jump that read as a measurement. Points whose median should
not be compared (noisy, contended, drifting, not steady: `LatencyStats.trustworthy`) are drawn
hollow, so a reader sees which of the plot's points the warnings are about.

Drawn from the same Results as the tables, with fixed sizes, colours and order, so the same
run.json draws the same PNG bytes (matplotlib's Agg writes no timestamp into a PNG).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.records import Result
from bench.report.plot_style import (
    HOLLOW_LABEL,
    PLOTS_DIR,
    draw_marked_line,
    hollow_handle,
    measured_ticks,
    plain_log_axis,
    plot_file_name,
    pyplot,
)
from bench.report.summary import contended

PlotIndex = dict[str, str]  # caption -> path relative to the run directory
MARKERS = "os^Dvp<>"
LINE_STYLES = ("-", "--", ":", "-.")
TITLE_CHARS = 80  # a longer model name is cut in the figure; the report's caption has it whole


def model_plot_path(model: str) -> str:
    """The model's plot, relative to the run directory: distinct per name, short for any."""
    return f"{PLOTS_DIR}/{plot_file_name('model', model)}"


def _x(result: Result) -> tuple[str, int]:
    """The plot's x axis for a result: its first swept dimension if it has one, else batch."""
    dims = result.case.dims
    return dims[0] if dims else ("batch size", result.case.batch_size)


def variant_label(result: Result) -> str:
    """Everything that tells the case apart except its x value: one line per label."""
    c = result.case
    parts = [c.device, c.dtype]
    if c.memory_format != "contiguous":
        parts.append(c.memory_format)
    if c.compile != "eager":
        parts.append(f"compile={c.compile}")
    parts += [c.mode, c.inplace_variant]
    if c.dims:  # x is the first dimension: the batch and any other dimension name the line
        parts += [f"b{c.batch_size}", *(f"{n}={v}" for n, v in c.dims[1:])]
    if c.repeat is not None:
        parts.append(f"#{c.repeat}")
    return " ".join(p for p in parts if p)


def flagged(result: Result) -> bool:
    """A median the report tells the reader not to compare."""
    return result.latency is not None and (not result.latency.trustworthy or contended(result))


def _series(results: Sequence[Result]) -> dict[str, dict[str, list[Result]]]:
    """model -> line label -> ok results with a latency, sorted along the x axis."""
    by_model: dict[str, dict[str, list[Result]]] = {}
    for r in results:
        if r.status != "ok" or r.latency is None or r.case.backoff_from is not None:
            continue
        by_model.setdefault(r.case.model.name, {}).setdefault(variant_label(r), []).append(r)
    for lines in by_model.values():
        for points in lines.values():
            points.sort(key=lambda r: _x(r)[1])
    return by_model


def _axis(lines: dict[str, list[Result]]) -> str:
    return _x(next(iter(lines.values()))[0])[0]


def model_figure(plt: Any, model: str, lines: dict[str, list[Result]]) -> Any:
    """The figure of one model (not saved): tests inspect its legend and markers."""
    from matplotlib.lines import Line2D

    figure, (latency_axes, throughput_axes) = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = plt.get_cmap("tab10").colors
    axis = _axis(lines)
    handles, labels, xs_all = [], [], []
    for index, (label, points) in enumerate(sorted(lines.items())):
        look = {
            "color": colors[index % 10],
            "marker": MARKERS[index % len(MARKERS)],
            "linestyle": LINE_STYLES[(index // 10) % len(LINE_STYLES)],
        }
        xs = [_x(r)[1] for r in points]
        medians = [r.latency.median_ms for r in points]
        marked = [flagged(r) for r in points]
        low = [r.latency.median_ms - (r.latency.ci_low_ms or r.latency.median_ms) for r in points]
        high = [(r.latency.ci_high_ms or r.latency.median_ms) - r.latency.median_ms for r in points]
        latency_axes.errorbar(
            xs, medians, yerr=[low, high], capsize=3, color=look["color"], linestyle="none"
        )
        draw_marked_line(latency_axes, xs, medians, marked, look)
        draw_marked_line(throughput_axes, xs, [r.throughput_per_s for r in points], marked, look)
        handles.append(
            Line2D([], [], color=look["color"], marker=look["marker"], linestyle=look["linestyle"])
        )
        labels.append(label)
        xs_all += xs
    if any(flagged(r) for points in lines.values() for r in points):
        handles.append(hollow_handle())
        labels.append(HOLLOW_LABEL)
    latency_axes.set(xlabel=axis, ylabel="median latency (ms), 95% CI")
    throughput_axes.set(xlabel=axis, ylabel="throughput (samples/s)")
    for axes in (latency_axes, throughput_axes):
        axes.set_xscale("log", base=2)
        axes.set_yscale("log")
        measured_ticks(axes.xaxis, xs_all)
        plain_log_axis(axes.yaxis)
        axes.grid(True, which="both", alpha=0.3)
    figure.legend(handles, labels, loc="lower center", ncols=2, fontsize=8, frameon=False)
    shown = model if len(model) <= TITLE_CHARS else model[: TITLE_CHARS - 3] + "..."
    figure.suptitle(f"{shown}: latency and throughput against {axis}")
    rows = (len(labels) + 1) // 2
    figure.tight_layout(rect=(0, min(0.5, 0.06 * rows + 0.02), 1, 1))
    return figure


def _plot_devices(plt: Any, pairs: list[tuple[str, float, float]], path: Path) -> None:
    """Horizontal bars: CUDA's speedup over CPU per case (same model, dtype, mode, batch)."""
    figure, axes = plt.subplots(figsize=(8, 0.35 * len(pairs) + 1.2))
    labels = [label for label, _, _ in pairs]
    speedups = [cpu / cuda for _, cpu, cuda in pairs]
    axes.barh(range(len(pairs)), speedups, color="tab:green")
    axes.set_yticks(range(len(pairs)), labels, fontsize=8)
    axes.axvline(1.0, color="black", linewidth=0.8)
    axes.set(xscale="log", xlabel="CUDA speedup over CPU (CPU median / CUDA median)")
    plain_log_axis(axes.xaxis)
    axes.invert_yaxis()
    axes.grid(True, axis="x", which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)


def _device_pairs(results: Sequence[Result]) -> list[tuple[str, float, float]]:
    """CPU and CUDA rows of the same case (every axis but the device alike), labelled by it."""
    medians: dict[str, dict[str, float]] = {}
    for r in results:
        if r.status == "ok" and r.latency is not None:
            name, device = r.case.model.name, r.case.device
            label = f"{name} {r.case.label[len(name) + len(device) + 2 :]}"  # "{name} {device} "
            medians.setdefault(label, {})[device.split(":")[0]] = r.latency.median_ms
    return [
        (label, by_device["cpu"], by_device["cuda"])
        for label, by_device in medians.items()
        if "cpu" in by_device and "cuda" in by_device
    ]


def write_model_plots(results: Sequence[Result], run_dir: Path) -> PlotIndex:
    """PNG files under plots/; a model gets one when some line of it has two batch sizes."""
    by_model = _series(results)
    wanted = {m: lines for m, lines in by_model.items() if any(len(p) > 1 for p in lines.values())}
    pairs = _device_pairs(results)
    if not wanted and not pairs:
        return {}
    plt = pyplot()
    index: PlotIndex = {}
    (run_dir / PLOTS_DIR).mkdir(parents=True, exist_ok=True)
    for model, lines in wanted.items():
        relative = model_plot_path(model)
        figure = model_figure(plt, model, lines)
        figure.savefig(run_dir / relative, dpi=80)
        plt.close(figure)
        index[f"{model}: latency and throughput against {_axis(lines)}"] = relative
    if pairs:
        relative = f"{PLOTS_DIR}/cpu-vs-cuda.png"
        _plot_devices(plt, pairs, run_dir / relative)
        index["CPU against CUDA: speedup per case"] = relative
    return index
