"""Conclusions computed from an experiment's rows: ratios at a reference size, and scaling fits.

Everything here reads measured rows; nothing is asserted from the op's name. A view's latency
should not grow with size and it should allocate nothing; a copy should grow linearly, at the
machine's copy bandwidth. The fit says which each variant actually did.

A variant is compared with its family's baseline (the out-of-place op, or the view) by the
paired ratio of the rounds they were measured in, interleaved (bench.experiments.comparison):
its interval and verdict, never a ratio of two medians taken at different times. Records made
before interleaving fall back to the two medians' intervals, from clean rows only (steady,
neither noisy nor contended, intervals apart; else "no clear difference (noisy)"), and say so.
Scaling fits use clean rows only. Every ratio quoted carries its interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from bench.experiments.catalog import baseline_of
from bench.experiments.records import ExperimentResult
from bench.records import LatencyStats, intervals_overlap, latency_ratio
from bench.units import human_bytes

REFERENCE_NUMEL = 1_000_000
CONSTANT_SLOPE = 0.2  # latency ~ numel**slope: below this, size does not matter
LINEAR_SLOPE = 0.7  # above this, cost grows (close to) linearly with size


@dataclass(frozen=True)
class ScalingFit:
    variant: str
    code: str
    latency_slope: float | None  # d log(latency) / d log(numel), over clean rows only
    bytes_per_element: float | None  # allocated bytes / numel, at the largest size
    copy_bandwidth_gb_s: float | None  # (read + write) bytes / median time at the largest size

    unclean_sizes: int = 0  # sizes left out of the fit: noisy, contended or not steady

    @property
    def verdict(self) -> str:
        if self.latency_slope is None:
            if self.unclean_sizes:
                return "no clear scaling (noisy): too few clean sizes to fit"
            return "not enough sizes to fit"
        if self.latency_slope < CONSTANT_SLOPE:
            return "constant in size"
        if self.latency_slope > LINEAR_SLOPE:
            return "grows linearly with size"
        return "grows sub-linearly with size"


def log_log_slope(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Least-squares slope of log(y) on log(x); None with fewer than two distinct points."""
    points = [(math.log(x), math.log(y)) for x, y in zip(xs, ys, strict=True) if x > 0 and y > 0]
    if len({p[0] for p in points}) < 2:
        return None
    mean_x = sum(p[0] for p in points) / len(points)
    mean_y = sum(p[1] for p in points) / len(points)
    var_x = sum((p[0] - mean_x) ** 2 for p in points)
    return sum((p[0] - mean_x) * (p[1] - mean_y) for p in points) / var_x


def _ok(rows: Sequence[ExperimentResult]) -> list[ExperimentResult]:
    return [r for r in rows if r.status == "ok" and r.measurement is not None]


def _clean(row: ExperimentResult) -> bool:
    return row.measurement is not None and row.measurement.latency.trustworthy


def speed_comparison(row: LatencyStats, baseline: LatencyStats) -> str:
    """'2.10x faster (1.95-2.30x from the two 95% CIs; median a vs b ms)', or 'no clear
    difference (noisy)' when either row is noisy, contended or not steady, or the two medians'
    intervals overlap. The ratio's range pairs the intervals' extremes."""
    if not (row.trustworthy and baseline.trustworthy) or intervals_overlap(row, baseline):
        return "no clear difference (noisy)"
    speedup, low, high = latency_ratio(baseline, row)
    assert low is not None and high is not None  # non-overlapping intervals exist
    medians = f"median {row.median_ms:.4g} vs {baseline.median_ms:.4g} ms"
    if speedup >= 1:
        return f"{speedup:.2f}x faster ({low:.2f}-{high:.2f}x from the two 95% CIs; {medians})"
    return (
        f"{1 / speedup:.2f}x slower ({1 / high:.2f}-{1 / low:.2f}x from the two 95% CIs; {medians})"
    )


def _why_unclear(rows: Sequence[tuple[str, LatencyStats]]) -> str:
    """Which of the compared rows were noisy, contended or not steady (empty if none)."""
    named = [f"`{code}` {', '.join(lat.doubts())}" for code, lat in rows if lat.doubts()]
    return f" ({'; '.join(named)})" if named else ""


def reference_numel(rows: Sequence[ExperimentResult]) -> int | None:
    """The measured size closest to one million elements (on a log scale)."""
    sizes = sorted({r.case.numel for r in _ok(rows)})
    if not sizes:
        return None
    return min(sizes, key=lambda n: abs(math.log(n / REFERENCE_NUMEL)))


def speed_against_baseline(row: ExperimentResult, baseline: ExperimentResult) -> str:
    """The paired comparison of rows measured interleaved; a record from before interleaving
    falls back to the two medians' intervals, and says it was measured one after the other."""
    if row.paired is not None:
        return row.paired.sentence()
    m, b = row.measurement, baseline.measurement
    assert m is not None and b is not None  # callers pass ok rows
    speed = speed_comparison(m.latency, b.latency)
    if speed.startswith("no clear"):
        speed += _why_unclear(
            [(row.case.variant.code, m.latency), (baseline.case.variant.code, b.latency)]
        )
    return speed + "; measured one after the other, not interleaved"


def _against_baselines(
    rows: Sequence[ExperimentResult],
) -> tuple[int | None, list[tuple[ExperimentResult, ExperimentResult]]]:
    """At the reference size: every non-baseline variant's row with its family's baseline row."""
    numel = reference_numel(rows)
    at_size = {r.case.variant.key: r for r in _ok(rows) if r.case.numel == numel}
    pairs = []
    for key, row in at_size.items():
        baseline = at_size.get(baseline_of(row.case.variant).key)
        if baseline is not None and key != baseline.case.variant.key:
            pairs.append((row, baseline))
    return numel, pairs


def inplace_conclusions(rows: Sequence[ExperimentResult]) -> list[str]:
    """One sentence per non-baseline variant vs its family's out-of-place baseline."""
    numel, pairs = _against_baselines(rows)
    sentences = []
    for row, baseline in pairs:
        m, b = row.measurement, baseline.measurement
        assert m is not None and b is not None  # _ok filtered
        speed = speed_against_baseline(row, baseline)
        sentences.append(
            f"`{row.case.variant.code}` allocates {human_bytes(m.allocated_bytes)} vs "
            f"{human_bytes(b.allocated_bytes)} for `{baseline.case.variant.code}` at {numel:,} "
            f"{row.case.dtype} elements; speed: {speed}; shares storage: "
            f"{_yes(m.shares_storage)}; same values: {_yes(m.matches_reference)}; backward: "
            + ("works." if m.backward_ok else f"raises ({_short(m.backward_error)}).")
        )
    return sentences


def scaling_fits(rows: Sequence[ExperimentResult]) -> list[ScalingFit]:
    by_variant: dict[str, list[ExperimentResult]] = {}
    for row in _ok(rows):
        by_variant.setdefault(row.case.variant.key, []).append(row)
    fits = []
    for key, series in by_variant.items():
        series.sort(key=lambda r: r.case.numel)
        largest = series[-1]
        m = largest.measurement
        assert m is not None
        clean = [r for r in series if _clean(r)]
        element_size = _element_size(largest.case.dtype)
        # bandwidth from the largest clean row: a noisy median would give a noisy GB/s
        timed = clean[-1] if clean else None
        seconds = timed.measurement.latency.median_ms / 1e3 if timed and timed.measurement else 0
        copied = m.allocated_bytes > 0
        fits.append(
            ScalingFit(
                variant=key,
                code=largest.case.variant.code,
                latency_slope=log_log_slope(
                    [r.case.numel for r in clean],
                    [r.measurement.latency.median_ms for r in clean if r.measurement],
                ),
                bytes_per_element=m.allocated_bytes / largest.case.numel,
                copy_bandwidth_gb_s=(
                    2 * timed.case.numel * element_size / seconds / 1e9
                    if timed is not None and copied and seconds > 0
                    else None
                ),
                unclean_sizes=len(series) - len(clean),
            )
        )
    return fits


def view_conclusions(rows: Sequence[ExperimentResult]) -> list[str]:
    sentences = []
    for fit in scaling_fits(rows):
        slope = "n/a" if fit.latency_slope is None else f"{fit.latency_slope:.2f}"
        if fit.unclean_sizes:
            slope += f"; {fit.unclean_sizes} noisy size(s) left out"
        allocation = (
            "allocates nothing"
            if not fit.bytes_per_element
            else f"allocates {fit.bytes_per_element:.2f} B per element"
        )
        bandwidth = (
            f", {fit.copy_bandwidth_gb_s:.1f} GB/s effective copy bandwidth (read + write)"
            if fit.copy_bandwidth_gb_s
            else ""
        )
        sentences.append(
            f"`{fit.code}`: {fit.verdict} (log-log slope {slope}), {allocation}{bandwidth}."
        )
    numel, pairs = _against_baselines(rows)
    for row, baseline in pairs:
        sentences.append(
            f"`{row.case.variant.code}` vs `{baseline.case.variant.code}` at {numel:,} "
            f"{row.case.dtype} elements: {speed_against_baseline(row, baseline)}."
        )
    return sentences


def _element_size(dtype: str) -> int:
    import torch

    return torch.empty((), dtype=getattr(torch, dtype)).element_size()


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _short(message: str) -> str:
    return message if len(message) <= 90 else message[:87] + "..."
