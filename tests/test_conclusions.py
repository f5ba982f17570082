"""Conclusions come only from clean rows (steady, neither noisy nor contended) whose median
intervals do not overlap; every ratio carries its range. Rows are built from fixed samples."""

from __future__ import annotations

from pathlib import Path

from bench.environment import cache_size_bytes, last_level_cache_bytes
from bench.experiments.analysis import (
    Cache,
    inplace_conclusions,
    scaling_fits,
    speed_comparison,
    view_conclusions,
)
from bench.experiments.catalog import CATALOG_BY_KEY
from bench.experiments.records import ExperimentCase, ExperimentResult, VariantMeasurement
from bench.records import Contention, LatencyStats
from bench.report.document import render_report
from bench.report.experiments import device_cache

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


def copied(numel: int, median_ms: float) -> ExperimentResult:
    """A clean `x.clone()` row: allocates the tensor's 4 bytes per element."""
    variant = CATALOG_BY_KEY["view/clone"]
    latency = lat(median_ms, median_ms / 1000)
    measurement = VariantMeasurement(latency, 4 * numel, False, True, True, "")
    case = ExperimentCase("s", "views", variant, numel, "cpu", "float32")
    return ExperimentResult(case, "ok", measurement=measurement)


# 4 KB, 400 KB, 4 MB and 40 MB float32 tensors, each read and written at 8 GB/s
CLONES = [copied(n, 2 * 4 * n / 8e9 * 1e3) for n in (1_000, 100_000, 1_000_000, 10_000_000)]


def _clone_sentence(cache: Cache) -> str:
    (sentence,) = [s for s in view_conclusions(CLONES, cache) if s.startswith("`x.clone()`")]
    return sentence


def test_copy_bandwidth_is_claimed_only_from_sizes_beyond_the_last_level_cache() -> None:
    """With an 8 MiB cache only the 40 MB size speaks for memory; the 4 MB copy would have read
    as cache speed (146 GB/s beside an 8 GB/s memory ceiling, once)."""
    sentence = _clone_sentence(Cache("last-level cache", 8 * 2**20))
    assert (
        "effective copy bandwidth (read + write) 8.0 GB/s at 38.15 MiB per tensor, sizes beyond "
        "the 8.000 MiB last-level cache." in sentence
    )
    assert "3.815 MiB" not in sentence and sentence.count("GB/s") == 1
    assert "slope 1.00 over 4 sizes, 1,000-10,000,000 elements" in sentence
    # a cache of 256 KiB: the 400 KB, 4 MB and 40 MB sizes all lie beyond it, each quoted
    assert _clone_sentence(Cache("last-level cache", 2**18)).count("GB/s at") == 3


def test_no_bandwidth_claim_when_every_size_fits_or_the_cache_is_unknown() -> None:
    fits = _clone_sentence(Cache("last-level cache", 64 * 2**20))
    assert "GB/s" not in fits
    assert (
        "no copy bandwidth claimed: every clean size fits in the 64.00 MiB last-level cache "
        "(the largest is 38.15 MiB per tensor; on a VM the size is what the host" in fits
    )
    unknown = _clone_sentence(Cache("last-level cache", None))
    assert "GB/s" not in unknown
    assert "no copy bandwidth claimed: the last-level cache size was not recorded" in unknown
    view = [s for s in view_conclusions(CLONES, Cache("L2 cache", None)) if "view" in s]
    assert all("bandwidth" not in s for s in view)  # only a variant that copies gets a claim


def test_the_report_takes_the_cache_from_the_runs_environment(tmp_path: Path) -> None:
    cpu = device_cache("cpu", {"last_level_cache_bytes": 8 * 2**20})
    assert cpu == Cache("last-level cache", 8 * 2**20)
    assert device_cache("cpu", {}) == Cache("last-level cache", None)  # an older record
    gpus = {"cuda_devices": [{"index": 0, "l2_cache_bytes": 50 * 2**20}, {"index": 1}]}
    assert device_cache("cuda", gpus) == Cache("L2 cache", 50 * 2**20)
    assert device_cache("cuda:1", gpus) == Cache("L2 cache", None)
    env = {"date": "2026-01-01T00:00:00+00:00", "last_level_cache_bytes": 8 * 2**20}
    text = render_report(CLONES, env, "t")
    assert "8.0 GB/s at 38.15 MiB per tensor, sizes beyond the 8.000 MiB last-level cache" in text
    assert "no copy bandwidth claimed: the last-level cache size was not recorded" in (
        render_report(CLONES, {}, "t")
    )


def test_last_level_cache_sums_the_instances_of_the_top_level(tmp_path: Path) -> None:
    """A fake sysfs: two sockets with 32 MiB L3 each, shared by their cores; L1 and L2 per core;
    an instruction cache is not where a copy's data lives."""
    layout = {  # cpu: [(level, type, size, shared_cpu_list)]
        0: [(1, "Data", "48K", "0"), (1, "Instruction", "64K", "0"), (3, "Unified", "32M", "0-1")],
        1: [(1, "Data", "48K", "1"), (2, "Unified", "2048K", "1"), (3, "Unified", "32M", "0-1")],
        2: [(1, "Data", "48K", "2"), (3, "Unified", "32768K", "2-3")],
    }
    for cpu, caches in layout.items():
        for index, (level, kind, size, shared) in enumerate(caches):
            folder = tmp_path / f"cpu{cpu}" / "cache" / f"index{index}"
            folder.mkdir(parents=True)
            for name, value in (("level", level), ("type", kind), ("size", size),
                                ("shared_cpu_list", shared)):  # fmt: skip
                (folder / name).write_text(f"{value}\n")
    assert last_level_cache_bytes(tmp_path) == 64 * 2**20
    assert [cache_size_bytes(t) for t in ("491520K", "32M", "1G", "4096", "32 MiB", "?")] == [
        480 * 2**20,
        32 * 2**20,
        2**30,
        4096,
        32 * 2**20,
        None,
    ]
