"""What every PNG of a report shares: a file name that cannot collide or overflow, Agg, and
axis labels a reader reads as numbers.

A plot's file name comes from a user's name (a model, an experiment), which may hold any
character and any length: `net/a` and `net_a` both slugged to `net_a` and overwrote one
another's plot, and a 300-character name passed the file system's 255-byte limit, so writing
the plot raised and the run lost its report.md. A short slug keeps the name readable, a hash of
the whole name keeps it distinct.

Log axes: matplotlib labels ticks `6x10^-1` by default, which a reader must decode. Reports
label them with plain numbers instead (0.6, 20, 1,000), thinned the way matplotlib's
LogFormatter thins them (minor ticks labelled only when the axis spans too little for the
decades alone).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any

PLOTS_DIR = "plots"
SLUG_CHARS = 40
HASH_CHARS = 8


def slug(name: str) -> str:
    """Lower case, [a-z0-9_-] only, at most SLUG_CHARS characters (`_` when nothing is left)."""
    text = re.sub(r"[^a-z0-9_-]+", "_", name.lower()).strip("_")
    return text[:SLUG_CHARS].rstrip("_") or "_"


def plot_file_name(kind: str, name: str) -> str:
    """`model-net_a-1a2b3c4d.png`: the slug reads, the hash of the full name tells apart."""
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:HASH_CHARS]
    return f"{kind}-{slug(name)}-{digest}.png"


def pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "bench"  # irrelevant for PNG; keeps any SVG stable too
    return plt


def plain_number(value: float) -> str:
    """Up to 3 significant figures, never an exponent: 0.0006, 0.6, 20, 1,500, 130,000."""
    if value == 0:
        return "0"
    text = f"{value:.3g}"
    if "e" not in text:
        return text
    return f"{float(text):,.10f}".rstrip("0").rstrip(".")


def plain_log_axis(axis: Any) -> None:
    """Label a log axis's ticks with plain numbers, major and minor, thinned as LogFormatter
    thins them."""
    from matplotlib.ticker import LogFormatter

    class PlainLogFormatter(LogFormatter):
        def __call__(self, x: float, pos: int | None = None) -> str:
            return plain_number(x) if super().__call__(x, pos) else ""

    # minor labels: all of them within a decade, a spaced subset up to two decades, then none
    axis.set_major_formatter(PlainLogFormatter(labelOnlyBase=False, minor_thresholds=(2, 1)))
    axis.set_minor_formatter(PlainLogFormatter(labelOnlyBase=False, minor_thresholds=(2, 1)))


def compact_count(value: float) -> str:
    """A count with a decimal suffix, for crowded axes: 1k, 1.5k, 10M, 160M (no exponent)."""
    for suffix, factor in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= factor:
            return plain_number(value / factor) + suffix
    return plain_number(value)


def measured_ticks(axis: Any, values: Sequence[float], compact: bool = False) -> None:
    """Ticks at the measured values only (batch 1, 2, 8, 64), labelled plainly; `compact` for
    wide values (tensor sizes 1k ... 160M) that would run into each other."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    label = compact_count if compact else plain_number
    axis.set_major_locator(FixedLocator(sorted(set(values))))
    axis.set_minor_locator(NullLocator())
    axis.set_major_formatter(FuncFormatter(lambda x, _pos: label(x)))


HOLLOW_LABEL = "hollow: flagged (noisy, contended, drifting or not steady; see Warnings)"


def draw_marked_line(
    axes: Any, xs: Sequence[float], ys: Sequence[float], marked: Sequence[bool], look: dict
) -> Any:
    """The line, then its points: filled where clean, hollow where flagged, so a reader sees
    which points the warnings are about. Returns the line (the legend shows line and marker)."""
    (line,) = axes.plot(xs, ys, linestyle=look["linestyle"], color=look["color"], marker="none")
    for hollow in (False, True):
        chosen = [(x, y) for x, y, m in zip(xs, ys, marked, strict=True) if m is hollow]
        if chosen:
            axes.plot(
                [x for x, _ in chosen],
                [y for _, y in chosen],
                linestyle="none",
                marker=look["marker"],
                color=look["color"],
                markerfacecolor="none" if hollow else look["color"],
                markersize=7,
                gid="flagged" if hollow else "clean",
            )
    return line


def hollow_handle() -> Any:
    """The legend entry that explains hollow points."""
    from matplotlib.lines import Line2D

    return Line2D([], [], color="grey", marker="o", markerfacecolor="none", linestyle="none")
