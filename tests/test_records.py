from pathlib import Path

import pytest

from bench.records import COLUMNS, Case, LatencyStats, ModelSpec, Result, percentile

SPEC = ModelSpec(name="m", factory="torch.nn:Identity", input_shape=(3, 4), batch_sizes=(2,))
CASE = Case(suite="s", model=SPEC, device="cpu", dtype="float32", batch_size=2, base_dir=Path())


def test_columns_are_the_contract_in_order() -> None:
    # issue 7 appends columns after these; the contract's order must never move
    assert COLUMNS[:21] == (
        "suite", "model", "device", "dtype", "batch_size", "input_shape", "status", "error",
        "params", "trainable_params", "flops", "macs", "latency_median_ms", "latency_iqr_ms",
        "latency_p90_ms", "latency_min_ms", "latency_mean_ms", "samples", "throughput_per_s",
        "peak_memory_bytes", "mode",
    )  # fmt: skip


def test_percentile_interpolates_linearly_like_numpy() -> None:
    values = [1.0, 2.0, 3.0, 4.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 50) == 2.5
    assert percentile(values, 25) == 1.75
    assert percentile(values, 90) == pytest.approx(3.7)
    assert percentile(values, 100) == 4.0
    assert percentile([7.0], 90) == 7.0


def test_stats_from_hand_computed_samples() -> None:
    stats = LatencyStats.from_samples([5.0, 1.0, 4.0, 2.0, 3.0], warmup_iterations=3)
    assert stats.median_ms == 3.0
    assert stats.iqr_ms == 2.0  # p75 = 4, p25 = 2
    assert stats.p90_ms == pytest.approx(4.6)
    assert stats.min_ms == 1.0
    assert stats.mean_ms == 3.0
    assert stats.samples_ms == (5.0, 1.0, 4.0, 2.0, 3.0)  # raw order kept for run.json
    assert stats.warmup_iterations == 3


def test_stats_refuse_no_samples() -> None:
    with pytest.raises(ValueError):
        LatencyStats.from_samples([])


def test_row_has_full_shape_flops_twice_macs_and_throughput() -> None:
    latency = LatencyStats.from_samples([4.0, 4.0, 4.0])
    row = Result(case=CASE, status="ok", macs=10, latency=latency).row()
    assert set(row) == set(COLUMNS)
    assert row["input_shape"] == "2x3x4"
    assert row["flops"] == 20
    assert row["macs"] == 10
    assert row["throughput_per_s"] == 500.0  # 2 samples per 4 ms
    assert row["samples"] == 3


def test_missing_values_stay_none_not_zero() -> None:
    row = Result(case=CASE, status="error", error="boom").row()
    for column in ("params", "flops", "macs", "latency_median_ms", "peak_memory_bytes"):
        assert row[column] is None


def test_unknown_status_is_refused() -> None:
    with pytest.raises(ValueError):
        Result(case=CASE, status="fine")
