"""An experiment row of run.json back into an ExperimentResult, for `bench report`."""

from __future__ import annotations

from typing import Any

from bench.experiments.catalog import CATALOG_BY_KEY
from bench.experiments.comparison import PairedComparison
from bench.experiments.records import (
    FRESH_COPY,
    ExperimentCase,
    ExperimentResult,
    VariantMeasurement,
)
from bench.records import latency_from_entry


def experiment_result(entry: dict[str, Any]) -> ExperimentResult:
    """The row's variant is looked up in the catalog (its code and family come from there).

    Records made before variants were interleaved have no `round_medians_ms` or `paired`:
    they read back without a paired comparison, and the report says how they were measured."""
    variant = CATALOG_BY_KEY[f"{entry['model']}/{entry['variant']}"]
    case = ExperimentCase(
        suite=entry["suite"],
        experiment=entry["experiment"],
        variant=variant,
        numel=int(entry["numel"]),
        device=entry["device"],
        dtype=entry["dtype"],
    )
    samples = entry.get("latency_samples_ms") or []
    measurement = None
    if samples and entry.get("allocated_bytes") is not None:
        latency = latency_from_entry(entry)
        measurement = VariantMeasurement(
            latency=latency,
            allocated_bytes=int(entry["allocated_bytes"]),
            shares_storage=bool(entry.get("shares_storage")),
            matches_reference=bool(entry.get("matches_reference")),
            backward_ok=bool(entry.get("backward_ok")),
            backward_error=entry.get("backward_error") or "",
            input_policy=entry.get("input_policy") or FRESH_COPY,
            round_medians_ms=tuple(entry.get("round_medians_ms") or ()),
        )
    paired = entry.get("paired")
    return ExperimentResult(
        case=case,
        status=entry["status"],
        error=entry.get("error") or "",
        measurement=measurement,
        notes=tuple(entry.get("notes") or ()),
        paired=PairedComparison.from_record(paired) if isinstance(paired, dict) else None,
    )
