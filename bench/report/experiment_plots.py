"""Log-log plots of an experiment: latency and allocated bytes against tensor size."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.experiments.records import ExperimentResult
from bench.report.plot_style import (
    HOLLOW_LABEL,
    draw_marked_line,
    hollow_handle,
    measured_ticks,
    plain_log_axis,
    pyplot,
)

ELEMENTS = "elements (k: thousand, M: million, G: billion)"


def plot_experiment(rows: Sequence[ExperimentResult], path: Path, title: str) -> Path:
    """Two panels, one line per variant, saved to `path` (see experiment_figure)."""
    plt = pyplot()
    figure = experiment_figure(plt, rows, title)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90, bbox_inches="tight")  # the legend sits outside the panels
    plt.close(figure)
    return path


def experiment_figure(plt: Any, rows: Sequence[ExperimentResult], title: str) -> Any:
    """The figure (not saved): latency and bytes allocated against size, one line per variant;
    zero-byte allocations sit on the panel's floor; a flagged latency (noisy, contended,
    drifting, not steady) is a hollow point."""
    from matplotlib.lines import Line2D

    series: dict[str, list[ExperimentResult]] = {}
    for row in rows:
        if row.status == "ok" and row.measurement is not None:
            series.setdefault(row.case.variant.key, []).append(row)
    figure, (latency_axes, bytes_axes) = plt.subplots(1, 2, figsize=(13, 4.8))
    colors = plt.get_cmap("tab20").colors  # 20 distinct colours: a sweep has up to 14 variants
    # colour, line style and marker all change from line to line, so lines that share an axis
    # (and colours that print alike) stay apart; the legend sits outside the panels.
    styles = ("-", "--", ":", "-.")
    markers = "os^Dvx*P"
    handles, labels, any_flagged = [], [], False
    for index, (key, points) in enumerate(sorted(series.items())):
        look = {
            "color": colors[index % len(colors)],
            "linestyle": styles[index % 4],
            "marker": markers[index % len(markers)],
        }
        points.sort(key=lambda r: r.case.numel)
        sizes = [r.case.numel for r in points]
        medians = [1000 * r.latency.median_ms for r in points]  # µs: tensor ops are small
        marked = [not r.latency.trustworthy for r in points]  # hollow: see the row's flags
        any_flagged = any_flagged or any(marked)
        draw_marked_line(latency_axes, sizes, medians, marked, look)
        allocated = [max(r.measurement.allocated_bytes, 1) for r in points if r.measurement]
        bytes_axes.plot(sizes, allocated, label=key, **look)  # exact counts: never flagged
        handles.append(Line2D([], [], **look))
        labels.append(key)
    if any_flagged:
        handles.append(hollow_handle())
        labels.append(HOLLOW_LABEL)
    latency_axes.set(xscale="log", yscale="log", xlabel=ELEMENTS, ylabel="median latency (µs)")
    bytes_axes.set(
        xscale="log", yscale="log", xlabel=ELEMENTS, ylabel="bytes allocated (0 B drawn at 1)"
    )
    for axes in (latency_axes, bytes_axes):
        axes.grid(True, which="both", alpha=0.3)
        measured_ticks(axes.xaxis, [r.case.numel for p in series.values() for r in p], True)
        plain_log_axis(axes.yaxis)
    bytes_axes.legend(
        handles,
        labels,
        fontsize=7,
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        borderaxespad=0,
    )
    figure.suptitle(title)
    figure.tight_layout()
    return figure
