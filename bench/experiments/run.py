"""Expand experiment specs into cases and measure them, one row per variant x size.

The variants of one family at one size, device and dtype are a group: they are timed together
in interleaved rounds (bench.experiments.interleave), and every variant's row carries its
paired comparison with the family's baseline (bench.experiments.comparison). Cases are expanded
group by group, so a run measures a group and then writes its rows one after another.
"""

from __future__ import annotations

import traceback
from collections.abc import Sequence

import torch

from bench.experiments.catalog import CATALOG, baseline_of
from bench.experiments.comparison import PairedComparison, compare_rounds
from bench.experiments.measure import (
    HOST_TIMED_NOTE,
    PreparedVariant,
    finish_variant,
    is_cuda_device,
    prepare_variant,
    time_interleaved,
)
from bench.experiments.records import (
    ExperimentCase,
    ExperimentResult,
    ExperimentSpec,
    VariantMeasurement,
)
from bench.measure.case import device_unavailable_reason
from bench.measure.timing.engine import EXPERIMENT_POLICY, TimingPolicy

GroupKey = tuple[str, str, str, int, str, str]  # suite, experiment, family, numel, device, dtype


def expand_experiments(
    suite: str, specs: tuple[ExperimentSpec, ...], devices: tuple[str, ...], dtypes: tuple[str, ...]
) -> list[ExperimentCase]:
    """Every variant x size, a group's variants next to each other (catalog order)."""
    return [
        ExperimentCase(suite, spec.name, variant, numel, device, dtype)
        for spec in specs
        for device in devices
        for dtype in dtypes
        for family in dict.fromkeys(v.family for v in CATALOG[spec.kind])
        if family in spec.families
        for numel in spec.sizes
        for variant in CATALOG[spec.kind]
        if variant.family == family
    ]


def group_key(case: ExperimentCase) -> GroupKey:
    """What makes cases one interleaved group: the same family at one size, device and dtype."""
    return (
        case.suite,
        case.experiment,
        case.variant.family,
        case.numel,
        case.device,
        case.dtype,
    )


class ExperimentSession:
    """Hands out one experiment result per case, measuring each case's group on first ask.

    The run goes case by case (a row written and shown as each finishes); a group's variants
    must be timed together, so the first of them asked for measures the whole group present in
    `cases`, and the others are handed out from what it measured.
    """

    def __init__(
        self, cases: Sequence[ExperimentCase], policy: TimingPolicy = EXPERIMENT_POLICY
    ) -> None:
        self.policy = policy
        self._groups: dict[GroupKey, list[ExperimentCase]] = {}
        for case in cases:
            self._groups.setdefault(group_key(case), []).append(case)
        self._ready: dict[ExperimentCase, ExperimentResult] = {}

    def result(self, case: ExperimentCase) -> ExperimentResult:
        if case not in self._ready:
            group = self._groups.get(group_key(case), [])
            members = group if case in group else [case]
            results = measure_experiment_group(members, self.policy)
            self._ready.update(zip(members, results, strict=True))
        return self._ready.pop(case)


def measure_experiment_case(
    case: ExperimentCase, policy: TimingPolicy = EXPERIMENT_POLICY
) -> ExperimentResult:
    """One variant at one size on its own; a failure becomes an error or oom row."""
    (result,) = measure_experiment_group([case], policy)
    return result


def measure_experiment_group(
    cases: Sequence[ExperimentCase], policy: TimingPolicy = EXPERIMENT_POLICY
) -> list[ExperimentResult]:
    """One group's variants, interleaved; one result per case, in order.

    A variant that fails to prepare becomes an error or oom row and the others are timed
    without it; a failure while timing fails every variant of the group (they ran together).
    """
    reasons = {case.device: device_unavailable_reason(case.device) for case in cases}
    results: dict[int, ExperimentResult] = {}
    prepared: dict[int, PreparedVariant] = {}
    for index, case in enumerate(cases):
        if reasons[case.device] is not None:
            results[index] = ExperimentResult(case, "skipped", error=reasons[case.device] or "")
            continue
        try:
            prepared[index] = prepare_variant(case.variant, case.numel, case.device, case.dtype)
        except Exception as exc:  # one variant failing must not stop the sweep
            results[index] = _failure(case, exc)
    measured: dict[int, VariantMeasurement] = {}
    if prepared:
        order = list(prepared)
        first = cases[order[0]]
        try:
            timing = time_interleaved([prepared[i] for i in order], first.device, policy)
        except Exception as exc:
            results.update({i: _failure(cases[i], exc) for i in order})
        else:
            for arm, index in enumerate(order):
                try:
                    measured[index] = finish_variant(
                        prepared[index],
                        timing.latency(arm, policy),
                        timing.arms[arm].round_medians_ms,
                    )
                except Exception as exc:
                    results[index] = _failure(cases[index], exc)
    for index, measurement in measured.items():
        case = cases[index]
        notes = () if measurement.matches_reference else ("result differs from the reference",)
        if is_cuda_device(case.device) and not prepared[index].launches_kernel:
            notes += (HOST_TIMED_NOTE,)
        results[index] = ExperimentResult(
            case=case,
            status="ok",
            measurement=measurement,
            notes=notes,
            paired=_paired(case, measurement, cases, measured),
        )
    return [results[index] for index in range(len(cases))]


def _paired(
    case: ExperimentCase,
    measurement: VariantMeasurement,
    cases: Sequence[ExperimentCase],
    measured: dict[int, VariantMeasurement],
) -> PairedComparison | None:
    """The variant against its family's baseline from the same rounds; None for the baseline,
    or when the baseline was not measured with it."""
    baseline = baseline_of(case.variant)
    if case.variant.key == baseline.key:
        return None
    index = next((i for i in measured if cases[i].variant.key == baseline.key), None)
    if index is None:
        return None
    base = measured[index]
    doubts = [
        f"`{code}` {', '.join(doubt for doubt in lat.doubts() if doubt != 'noisy')}"
        for code, lat in ((case.variant.code, measurement.latency), (baseline.code, base.latency))
        if lat.steady is False or lat.contended
    ]
    return compare_rounds(
        baseline.name, measurement.round_medians_ms, base.round_medians_ms, doubts
    )


def _failure(case: ExperimentCase, exc: Exception) -> ExperimentResult:
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return ExperimentResult(case=case, status="oom", error=" ".join(str(exc).split())[:300])
    message = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
    detail = "".join(traceback.format_exception(exc))
    return ExperimentResult(case=case, status="error", error=message, detail=detail)
