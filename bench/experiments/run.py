"""Expand experiment specs into cases and measure them, one row per variant x size."""

from __future__ import annotations

import traceback

import torch

from bench.experiments.catalog import CATALOG
from bench.experiments.measure import measure_variant
from bench.experiments.records import ExperimentCase, ExperimentResult, ExperimentSpec
from bench.measure.case import device_unavailable_reason
from bench.measure.timing.engine import EXPERIMENT_POLICY, TimingPolicy


def expand_experiments(
    suite: str, specs: tuple[ExperimentSpec, ...], devices: tuple[str, ...], dtypes: tuple[str, ...]
) -> list[ExperimentCase]:
    return [
        ExperimentCase(suite, spec.name, variant, numel, device, dtype)
        for spec in specs
        for device in devices
        for dtype in dtypes
        for variant in CATALOG[spec.kind]
        if variant.family in spec.families
        for numel in spec.sizes
    ]


def measure_experiment_case(
    case: ExperimentCase, policy: TimingPolicy = EXPERIMENT_POLICY
) -> ExperimentResult:
    """One variant at one size; a failure becomes an error or oom row, never a lost run."""
    reason = device_unavailable_reason(case.device)
    if reason is not None:
        return ExperimentResult(case=case, status="skipped", error=reason)
    try:
        measurement = measure_variant(case.variant, case.numel, case.device, case.dtype, policy)
    except torch.cuda.OutOfMemoryError as exc:
        return ExperimentResult(case=case, status="oom", error=" ".join(str(exc).split())[:300])
    except Exception as exc:  # one variant failing must not stop the sweep
        message = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
        return ExperimentResult(
            case=case, status="error", error=message, detail=traceback.format_exc()
        )
    notes = () if measurement.matches_reference else ("result differs from the reference",)
    return ExperimentResult(case=case, status="ok", measurement=measurement, notes=notes)
