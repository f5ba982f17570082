"""Results rebuilt from run.json entries, so a merge can render one report over many machines.

run.json keeps, per case, its row and everything the statistics were computed from (raw
samples, warmup, the memory pass's breakdown, what the FLOP count covered), so the rebuilt
records compute the same statistics: `Result.row()` of a rebuilt model case equals the row the
shard wrote. Lost on the way: torchinfo's per-layer tables (run.json does not keep them) and
the full tracebacks of failing cases (they stay in each shard's run.log).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.experiments.catalog import CATALOG_BY_KEY
from bench.experiments.measure import VariantMeasurement
from bench.experiments.records import ExperimentCase, ExperimentResult
from bench.records import Case, CountDetails, LatencyStats, MemoryStats, ModelSpec, Result
from bench.shard.partition import CaseKey

MODEL_INPLACE = "model_inplace"  # the `experiment` cell of a compare_inplace model row


def is_experiment_entry(entry: dict[str, Any]) -> bool:
    return bool(entry.get("experiment")) and entry.get("experiment") != MODEL_INPLACE


def entry_key(entry: dict[str, Any]) -> tuple[CaseKey, int | None]:
    """The requested case a run.json entry answers, and the batch it backed off from, if any.

    A row that `--oom-backoff` added ran a smaller batch than requested; it belongs to the case
    that asked for `backoff_from`.
    """
    if is_experiment_entry(entry):
        key = (
            "experiment",
            entry.get("experiment"),
            entry.get("model"),
            entry.get("variant"),
            entry.get("device"),
            entry.get("dtype"),
            entry.get("numel"),
        )
        return key, None
    backoff_from = entry.get("backoff_from")
    requested = backoff_from if backoff_from is not None else entry.get("batch_size")
    variant = entry.get("variant") if entry.get("experiment") == MODEL_INPLACE else ""
    key = (
        "model",
        entry.get("model"),
        entry.get("mode"),
        entry.get("device"),
        entry.get("dtype"),
        requested,
        variant or "",
    )
    return key, backoff_from


def _latency(entry: dict[str, Any], samples_key: str = "latency_samples_ms") -> LatencyStats | None:
    samples = entry.get(samples_key) or []
    if not samples:
        return None
    kwargs: dict[str, Any] = {}
    if entry.get("latency_ci_confidence") is not None:
        kwargs["confidence"] = entry["latency_ci_confidence"]
    return LatencyStats.from_samples(
        samples,
        entry.get("warmup_iterations") or 0,
        iterations_per_sample=entry.get("iterations_per_sample") or 1,
        first_call_ms=entry.get("first_call_ms"),
        precision_target=entry.get("precision_target"),
        wall_samples_ms=entry.get("latency_wall_samples_ms") or (),
        measure_s=entry.get("latency_measure_s"),
        **kwargs,
    )


def _memory(detail: dict[str, Any] | None) -> MemoryStats | None:
    if not detail:
        return None
    return MemoryStats(
        peak_allocated_bytes=detail["peak_allocated_bytes"],
        resident_bytes=detail["resident_bytes"],
        source=detail["source"],
        peak_reserved_bytes=detail.get("peak_reserved_bytes"),
        param_bytes_by_dtype=dict(detail.get("param_bytes_by_dtype") or {}),
        buffer_bytes_by_dtype=dict(detail.get("buffer_bytes_by_dtype") or {}),
        resident_by_kind=dict(detail.get("resident_by_kind") or {}),
        rss_peak_bytes=detail.get("rss_peak_bytes"),
        pass_s=detail.get("pass_s"),
    )


def _counting(entry: dict[str, Any]) -> CountDetails | None:
    detail = entry.get("counting")
    if not detail:
        return None
    return CountDetails(
        counted_on=detail.get("flops_counted_on"),
        uncounted_ops=dict(detail.get("uncounted_ops") or {}),
        macs_by_op=dict(detail.get("macs_by_op") or {}),
        buffers=entry.get("buffers"),
        model_size_bytes=entry.get("model_size_bytes"),
        fvcore_macs=entry.get("fvcore_macs"),
        fvcore_note=detail.get("fvcore_note") or "",
        fvcore_skipped_ops=dict(detail.get("fvcore_skipped_ops") or {}),
    )


def _model_result(entry: dict[str, Any]) -> Result:
    shape = tuple(int(d) for d in str(entry["input_shape"]).split("x"))
    key, backoff_from = entry_key(entry)
    spec = ModelSpec(
        name=entry["model"],
        factory=entry.get("factory") or "",
        input_shape=shape[1:],
        batch_sizes=(int(key[5]),),
        kwargs=dict(entry.get("kwargs") or {}),
        modes=(entry["mode"],),
    )
    case = Case(
        suite=entry["suite"],
        model=spec,
        device=entry["device"],
        dtype=entry["dtype"],
        batch_size=int(entry["batch_size"]),
        base_dir=Path("."),
        mode=entry["mode"],
        inplace_variant=key[6],
        backoff_from=backoff_from,
    )
    achieved, fraction = entry.get("achieved_gflops_per_s"), entry.get("peak_fraction")
    return Result(
        case=case,
        status=entry["status"],
        error=entry.get("error") or "",
        params=entry.get("params"),
        trainable_params=entry.get("trainable_params"),
        macs=entry.get("macs"),
        latency=_latency(entry),
        peak_memory_bytes=entry.get("peak_memory_bytes"),
        notes=tuple(entry.get("notes") or ()),
        memory=_memory(entry.get("memory")),
        counting=_counting(entry),
        matmul_peak_gflops=achieved / fraction if achieved and fraction else None,
        threads=entry.get("threads"),
        interop_threads=entry.get("interop_threads"),
        numerics_flags=dict(entry.get("numerics_flags") or {}),
    )


def _experiment_result(entry: dict[str, Any]) -> ExperimentResult:
    variant = CATALOG_BY_KEY[f"{entry['model']}/{entry['variant']}"]
    case = ExperimentCase(
        entry["suite"],
        entry["experiment"],
        variant,
        int(entry["numel"]),
        entry["device"],
        entry["dtype"],
    )
    latency = _latency(entry)
    measurement = None
    if latency is not None and entry.get("allocated_bytes") is not None:
        measurement = VariantMeasurement(
            latency=latency,
            allocated_bytes=entry["allocated_bytes"],
            shares_storage=entry["shares_storage"],
            matches_reference=entry["matches_reference"],
            backward_ok=entry["backward_ok"],
            backward_error=entry.get("backward_error") or "",
            input_policy=entry["input_policy"],
        )
    return ExperimentResult(
        case=case,
        status=entry["status"],
        error=entry.get("error") or "",
        measurement=measurement,
        notes=tuple(entry.get("notes") or ()),
    )


def result_from_entry(entry: dict[str, Any]) -> Result | ExperimentResult:
    """A Result (model case) or ExperimentResult from its run.json entry.

    Raises KeyError, ValueError or TypeError on an entry that is not what bench writes.
    """
    if is_experiment_entry(entry):
        return _experiment_result(entry)
    return _model_result(entry)
