from pathlib import Path

import pytest

from bench.records import COLUMNS, Case, LatencyStats, MemoryStats, ModelSpec, Result
from bench.stats import percentile

SPEC = ModelSpec(name="m", factory="torch.nn:Identity", input_shape=(3, 4), batch_sizes=(2,))
CASE = Case(suite="s", model=SPEC, device="cpu", dtype="float32", batch_size=2, base_dir=Path())


CONTRACT = (
    "suite", "model", "device", "dtype", "batch_size", "input_shape", "status", "error",
    "params", "trainable_params", "flops", "macs", "latency_median_ms", "latency_iqr_ms",
    "latency_p90_ms", "latency_min_ms", "latency_mean_ms", "samples", "throughput_per_s",
    "peak_memory_bytes",
)  # fmt: skip

EXTENSIONS = {
    "mode": ("mode",),
    "memory": (
        "peak_reserved_bytes", "resident_bytes", "activation_peak_bytes", "param_bytes",
        "buffer_bytes", "rss_peak_bytes",
    ),
    "counting": (
        "fvcore_macs", "flops_counted_on", "buffers", "model_size_bytes",
        "achieved_gflops_per_s", "peak_fraction",
    ),
    "timing": (
        "latency_p99_ms", "latency_std_ms", "latency_ci_low_ms", "latency_ci_high_ms",
        "precision_target", "precision_met", "first_call_ms", "warmup_iterations",
        "iterations_per_sample", "wall_median_ms", "launch_bound", "threads", "interop_threads",
        "noisy",
    ),
    "experiments": (
        "experiment", "variant", "numel", "allocated_bytes", "shares_storage",
        "matches_reference", "input_policy", "backward_ok", "backward_error",
    ),
    "oom backoff": ("backoff_from",),
}  # fmt: skip


def test_columns_start_with_the_contract_in_order() -> None:
    """The contract's columns come first, in order; extensions are only ever appended."""
    assert COLUMNS[: len(CONTRACT)] == CONTRACT
    assert COLUMNS[len(CONTRACT)] == "mode"
    assert len(set(COLUMNS)) == len(COLUMNS)


@pytest.mark.parametrize("group", sorted(EXTENSIONS))
def test_extension_columns_are_appended_together(group: str) -> None:
    columns = EXTENSIONS[group]
    start = COLUMNS.index(columns[0])
    assert start >= len(CONTRACT)
    assert COLUMNS[start : start + len(columns)] == columns


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
    declared = {"memory_format": "contiguous", "compile": "eager", "cache": "warm"}  # like mode
    for column in COLUMNS[COLUMNS.index("mode") + 1 :]:
        assert row[column] == declared.get(column)


def test_memory_breakdown_columns() -> None:
    memory = MemoryStats(
        peak_allocated_bytes=1000,
        resident_bytes=600,
        source="cuda-allocator",
        peak_reserved_bytes=2048,
        param_bytes_by_dtype={"float16": 100, "float32": 400},
        buffer_bytes_by_dtype={"int64": 8},
        rss_peak_bytes=None,
    )
    row = Result(case=CASE, status="ok", peak_memory_bytes=1000, memory=memory).row()
    assert row["peak_memory_bytes"] == 1000
    assert row["peak_reserved_bytes"] == 2048
    assert row["resident_bytes"] == 600
    assert row["activation_peak_bytes"] == 400
    assert row["param_bytes"] == 500
    assert row["buffer_bytes"] == 8
    assert row["rss_peak_bytes"] is None
    assert memory.detail()["param_bytes_by_dtype"] == {"float16": 100, "float32": 400}


def test_unknown_status_is_refused() -> None:
    with pytest.raises(ValueError):
        Result(case=CASE, status="fine")
