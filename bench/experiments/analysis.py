"""Conclusions computed from an experiment's rows: ratios at a reference size, and scaling fits.

Everything here reads measured rows; nothing is asserted from the op's name. A view's latency
should not grow with size and it should allocate nothing; a copy should grow linearly, at the
machine's copy bandwidth. The fit says which each variant actually did.

A bandwidth is quoted only from sizes whose tensor is larger than the device's last-level cache
(the CPU's L3, a GPU's L2), with those sizes: a 4 MB copy that stayed in cache once read 146
GB/s beside an 8 GB/s memory ceiling. Where the cache size was not recorded, no bandwidth is
claimed and the sentence says why.

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
class Cache:
    """The cache a copy must outgrow before its speed says anything about memory."""

    name: str  # "last-level cache", "L2 cache"
    size_bytes: int | None  # None: not recorded, so no bandwidth can be claimed


UNKNOWN_CACHE = Cache("last-level cache", None)


@dataclass(frozen=True)
class ScalingFit:
    variant: str
    code: str
    latency_slope: float | None  # d log(latency) / d log(numel), over clean rows only
    bytes_per_element: float | None  # allocated bytes / numel, at the largest size
    # (bytes of one tensor, (read + write) GB/s) at each clean size beyond the cache
    bandwidths: tuple[tuple[int, float], ...] = ()
    unclean_sizes: int = 0  # sizes left out of the fit: noisy, contended or not steady
    clean_numels: tuple[int, ...] = ()  # the sizes the slope was fitted over
    cache: Cache = UNKNOWN_CACHE
    largest_clean_bytes: int | None = None  # one tensor's bytes at the largest clean size

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


def scaling_fits(
    rows: Sequence[ExperimentResult], cache: Cache = UNKNOWN_CACHE
) -> list[ScalingFit]:
    by_variant: dict[str, list[ExperimentResult]] = {}
    for row in _ok(rows):
        by_variant.setdefault(row.case.variant.key, []).append(row)
    fits = []
    for key, series in by_variant.items():
        series.sort(key=lambda r: r.case.numel)
        largest = series[-1]
        m = largest.measurement
        assert m is not None
        clean = [r for r in series if _clean(r) and r.measurement]
        element_size = _element_size(largest.case.dtype)
        fits.append(
            ScalingFit(
                variant=key,
                code=largest.case.variant.code,
                latency_slope=log_log_slope(
                    [r.case.numel for r in clean],
                    [r.measurement.latency.median_ms for r in clean if r.measurement],
                ),
                bytes_per_element=m.allocated_bytes / largest.case.numel,
                bandwidths=_bandwidths(clean, element_size, cache) if m.allocated_bytes else (),
                unclean_sizes=len(series) - len(clean),
                clean_numels=tuple(r.case.numel for r in clean),
                cache=cache,
                largest_clean_bytes=clean[-1].case.numel * element_size if clean else None,
            )
        )
    return fits


def _bandwidths(
    clean: Sequence[ExperimentResult], element_size: int, cache: Cache
) -> tuple[tuple[int, float], ...]:
    """(read + write) bytes over the median time, at each clean size whose tensor is larger
    than the cache (a noisy median would give a noisy GB/s; a cached one, the cache's)."""
    if cache.size_bytes is None:
        return ()
    found = []
    for row in clean:
        tensor_bytes = row.case.numel * element_size
        seconds = row.measurement.latency.median_ms / 1e3 if row.measurement else 0.0
        if tensor_bytes > cache.size_bytes and seconds > 0:
            found.append((tensor_bytes, 2 * tensor_bytes / seconds / 1e9))
    return tuple(found)


def _bandwidth_words(fit: ScalingFit) -> str:
    """The bandwidth claim of a variant that copies, with its sizes, or why there is none."""
    cache = fit.cache
    if cache.size_bytes is None:
        return (
            f"; no copy bandwidth claimed: the {cache.name} size was not recorded, and a copy "
            "that fits in it measures the cache, not memory"
        )
    named = f"the {human_bytes(cache.size_bytes)} {cache.name}"
    if not fit.largest_clean_bytes:
        return "; no copy bandwidth claimed: no size was clean"
    if not fit.bandwidths:
        return (
            f"; no copy bandwidth claimed: every clean size fits in {named} (the largest is "
            f"{human_bytes(fit.largest_clean_bytes)} per tensor; on a VM the size is what the "
            "host's cache reports, of which the VM's cores may see only a share)"
        )
    at = ", ".join(f"{gb:.1f} GB/s at {human_bytes(size)}" for size, gb in fit.bandwidths)
    return f"; effective copy bandwidth (read + write) {at} per tensor, sizes beyond {named}"


def _slope_words(fit: ScalingFit) -> str:
    if fit.latency_slope is None:
        words = "n/a"
    else:
        sizes = fit.clean_numels
        words = (
            f"{fit.latency_slope:.2f} over {len(sizes)} sizes, "
            f"{min(sizes):,}-{max(sizes):,} elements"
        )
    if fit.unclean_sizes:
        words += f"; {fit.unclean_sizes} noisy size(s) left out"
    return words


def view_conclusions(rows: Sequence[ExperimentResult], cache: Cache = UNKNOWN_CACHE) -> list[str]:
    sentences = []
    for fit in scaling_fits(rows, cache):
        allocation = (
            "allocates nothing"
            if not fit.bytes_per_element
            else f"allocates {fit.bytes_per_element:.2f} B per element"
        )
        bandwidth = _bandwidth_words(fit) if fit.bytes_per_element else ""
        sentences.append(
            f"`{fit.code}`: {fit.verdict} (log-log slope {_slope_words(fit)}), "
            f"{allocation}{bandwidth}."
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
