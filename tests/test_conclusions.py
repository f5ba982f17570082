"""Conclusions come only from clean rows (steady, neither noisy nor contended) whose median
intervals do not overlap; every ratio carries its range. Rows are built from fixed samples."""

from __future__ import annotations

from bench.experiments.analysis import inplace_conclusions, scaling_fits, speed_comparison
from bench.experiments.catalog import CATALOG_BY_KEY
from bench.experiments.records import ExperimentCase, ExperimentResult, VariantMeasurement
from bench.records import Contention, LatencyStats

BUSY = Contention(wall_s=1.0, others_cpu_s=1.0, cores=2, cores_needed=2, load_avg=3.0)


def lat(center: float, spread: float = 0.0, **kwargs) -> LatencyStats:
    """20 samples evenly spread over center +- spread, in a shuffled order (sorted, they would be
    a trend, and drifting): median center, CI inside that range."""
    values = [center - spread + 2 * spread * (7 * i % 20) / 19 for i in range(20)]
    return LatencyStats.from_samples(values, precision_target=0.01, **kwargs)


def result(key: str, latency: LatencyStats, numel: int = 1_000_000) -> ExperimentResult:
    variant = CATALOG_BY_KEY[key]
    measurement = VariantMeasurement(latency, 0, True, True, True, "")
    case = ExperimentCase("s", "ops", variant, numel, "cpu", "float32")
    return ExperimentResult(case, "ok", measurement=measurement)


def test_clean_separated_rows_give_a_ratio_with_its_range() -> None:
    sentence = speed_comparison(lat(1.0, 0.005), lat(2.0, 0.01))
    assert sentence.startswith("2.00x faster (")
    low, high = sentence.split("(")[1].split("x from")[0].split("-")
    assert float(low) < 2.0 < float(high)
    assert "from the two 95% CIs" in sentence
    assert speed_comparison(lat(2.0, 0.01), lat(1.0, 0.005)).startswith("2.00x slower (")


def test_noisy_contended_unsteady_or_overlapping_rows_conclude_nothing() -> None:
    clean = lat(2.0, 0.01)
    noisy = lat(1.0, 0.5)  # IQR/median 50%
    assert noisy.noisy
    contended = lat(1.0, 0.005, contention=BUSY)
    unsteady = lat(1.0, 0.005, steady=False)
    overlapping = lat(1.999, 0.01)
    for row in (noisy, contended, unsteady, overlapping):
        assert speed_comparison(row, clean) == "no clear difference (noisy)"


def test_a_wide_interval_is_noisy_even_with_a_tight_iqr() -> None:
    # Ten samples: the 95% CI is [x_2, x_9]; the quartiles (numpy, linear) fall inside the six
    # equal middle values, so IQR/median is 0 while the interval spans 0.3-1.5.
    values = [0.3, 0.3, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.5, 1.5]
    stats = LatencyStats.from_samples(values, precision_target=0.01)
    assert stats.iqr_ms == 0.0
    assert (stats.ci_low_ms, stats.ci_high_ms) == (0.3, 1.5)
    assert stats.noisy  # half-width 60% > 3 x the 1% target
    # The same interval against a target it is within 3x of is not noisy.
    assert not LatencyStats.from_samples(values, precision_target=0.25).noisy


def test_inplace_conclusions_quote_no_noisy_row() -> None:
    rows = [
        result("mul/out_of_place", lat(0.4, 0.2)),  # noisy baseline
        result("mul/augmented", lat(0.01, 0.0001)),
        result("relu/out_of_place", lat(2.0, 0.01)),
        result("relu/in_place", lat(1.0, 0.005)),
    ]
    sentences = inplace_conclusions(rows)
    mul = next(s for s in sentences if s.startswith("`y *= x`"))
    relu = next(s for s in sentences if s.startswith("`x.relu_()`"))
    assert "no clear difference (noisy)" in mul and "`y = x * y` noisy" in mul
    assert "0.4" not in mul and "slower" not in mul and "faster" not in mul
    assert "2.00x faster (" in relu


def test_scaling_fits_use_clean_sizes_only() -> None:
    rows = [
        result("view/clone", lat(0.01 * n / 1000, 0.00001 * n / 1000), numel=n)
        for n in (1_000, 10_000, 100_000)
    ] + [result("view/clone", lat(500.0, 400.0), numel=1_000_000)]  # one wild, noisy size
    (fit,) = scaling_fits(rows)
    assert fit.unclean_sizes == 1
    assert abs(fit.latency_slope - 1.0) < 1e-6  # the noisy size would have bent the fit
    noisy_only = [result("view/view", lat(1.0, 0.9), numel=n) for n in (1_000, 10_000)]
    (fit,) = scaling_fits(noisy_only)
    assert fit.latency_slope is None
    assert fit.verdict.startswith("no clear scaling (noisy)")
