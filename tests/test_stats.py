"""Statistics against hand-computed values: the median's binomial CI, std, p99, flags."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.records import LatencyStats
from bench.stats import median_ci, median_ci_rank, relative_half_width, sample_std


@pytest.mark.parametrize(
    ("n", "rank"),
    # Largest l with 2 * P(Bin(n, 1/2) <= l - 1) <= 0.05, e.g. n = 10: P(B <= 1) = 11/1024 gives
    # 2.1% <= 5% but P(B <= 2) = 56/1024 gives 10.9%, so l = 2. n = 20: P(B <= 5) = 21700/2^20.
    [(5, None), (6, 1), (8, 1), (9, 2), (10, 2), (12, 3), (15, 4), (17, 5), (20, 6)],
)
def test_median_ci_rank_matches_the_binomial_table(n: int, rank: int | None) -> None:
    assert median_ci_rank(n) == rank


def test_large_n_rank_is_the_exact_binomial_rank() -> None:
    for n in (1001, 2000, 4999):
        # exact, in integers: 2 * cum / 2^n <= 1/20  <=>  40 * cum <= 2^n
        cumulative, exact = 0, 0
        for k in range(n // 2 + 1):
            cumulative += math.comb(n, k)
            if 40 * cumulative > 2**n:
                break
            exact = k + 1
        assert median_ci_rank(n) == exact


def test_median_ci_picks_order_statistics() -> None:
    values = [float(v) for v in range(1, 11)]  # n = 10 -> [x_(2), x_(9)]
    assert median_ci(values) == (2.0, 9.0)
    assert median_ci(values[:5]) is None  # 5 samples cannot reach 95%
    # 80%: 2 * P(B <= 2) = 112/1024 = 10.9% <= 20%, 2 * P(B <= 3) = 352/1024 = 34% > 20%: l = 3
    assert median_ci(values, confidence=0.80) == (3.0, 8.0)


def test_median_ci_rank_at_90_percent() -> None:
    # n = 10, alpha = 0.10: 2 * P(B <= 1) = 0.0215 ok, 2 * P(B <= 2) = 0.109 > 0.10 -> l = 2
    assert median_ci_rank(10, 0.90) == 2


def test_relative_half_width() -> None:
    assert relative_half_width((9.0, 11.0), 10.0) == 0.1
    assert relative_half_width(None, 10.0) == math.inf


def test_sample_std_uses_n_minus_one() -> None:
    assert sample_std([2, 4, 4, 4, 5, 5, 7, 9]) == pytest.approx(math.sqrt(32 / 7))
    assert sample_std([3.0]) == 0.0


def test_latency_stats_from_hand_computed_samples() -> None:
    samples = [10.0, 1.0, 9.0, 2.0, 8.0, 3.0, 7.0, 4.0, 6.0, 5.0]
    stats = LatencyStats.from_samples(samples, precision_target=0.5)
    assert stats.median_ms == 5.5
    assert stats.p99_ms == pytest.approx(9.91)  # 1 + 9 * 0.99 = 9.91 -> between x9=9 and x10=10
    assert stats.std_ms == pytest.approx(math.sqrt(82.5 / 9))
    assert (stats.ci_low_ms, stats.ci_high_ms) == (2.0, 9.0)
    assert stats.relative_half_width == pytest.approx(3.5 / 5.5)
    assert stats.precision_met is False  # 64% > 50%
    assert stats.noisy is True  # IQR 4.5 / 5.5 > 10%


def test_precision_met_and_quiet_rows() -> None:
    stats = LatencyStats.from_samples([100.0, 101.0] * 5, precision_target=0.01)
    assert (stats.ci_low_ms, stats.ci_high_ms) == (100.0, 101.0)
    assert stats.precision_met is True  # half-width 0.5 / 100.5 < 1%
    assert stats.noisy is False
    assert LatencyStats.from_samples([1.0]).precision_met is None  # nothing was asked


def test_launch_bound_needs_wall_well_above_device_time() -> None:
    assert LatencyStats.from_samples([2.0], wall_samples_ms=[5.0]).launch_bound is True
    assert LatencyStats.from_samples([2.0], wall_samples_ms=[2.5]).launch_bound is False
    assert LatencyStats.from_samples([2.0]).launch_bound is None


def test_median_ci_covers_the_true_median_as_often_as_promised() -> None:
    """Skewed (lognormal) samples, true median 1.0: the interval's coverage is exact, whatever
    the distribution. For n = 20 (rank 6) it is 1 - 2 * P(B <= 5) = 95.86%."""
    import random

    rng = random.Random(0)
    trials, n, covered = 4000, 20, 0
    for _ in range(trials):
        values = sorted(rng.lognormvariate(0.0, 1.0) for _ in range(n))
        low, high = median_ci(values)
        covered += low <= 1.0 <= high
    assert abs(covered / trials - 0.9586) < 0.01


@given(st.lists(st.floats(0.001, 1e4), min_size=6, max_size=300))
def test_median_ci_brackets_the_sample_median(values: list[float]) -> None:
    stats = LatencyStats.from_samples(values)
    assert stats.ci_low_ms <= stats.median_ms <= stats.ci_high_ms
    assert stats.min_ms <= stats.ci_low_ms and stats.ci_high_ms <= max(values)
