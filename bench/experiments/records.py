"""Records for tensor experiments: the declared experiment, one case, its result."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from bench.experiments.catalog import Variant, shape_for
from bench.experiments.comparison import PairedComparison
from bench.records import LatencyStats

DEFAULT_SIZES = (1_000, 10_000, 100_000, 1_000_000, 10_000_000)
# how a variant's input was treated between timed calls (bench.experiments.measure)
FRESH_COPY = "fresh_copy_per_call"
SAME_INPUT = "same_input_checked_unmodified"


@dataclass(frozen=True)
class ExperimentSpec:
    """One `[[experiments]]` entry of a suite, validated."""

    name: str
    kind: str  # a key of catalog.CATALOG: "inplace" or "view"
    families: tuple[str, ...]
    sizes: tuple[int, ...] = DEFAULT_SIZES


@dataclass(frozen=True)
class VariantMeasurement:
    latency: LatencyStats
    allocated_bytes: int
    shares_storage: bool
    matches_reference: bool
    backward_ok: bool
    backward_error: str
    input_policy: str = FRESH_COPY
    # per interleaved round, the median of this variant's blocks (ms per call): what its
    # comparison with the family's baseline pairs; empty in records made before interleaving
    round_medians_ms: tuple[float, ...] = ()


@dataclass(frozen=True)
class ExperimentCase:
    suite: str
    experiment: str
    variant: Variant
    numel: int
    device: str
    dtype: str

    @property
    def label(self) -> str:
        return f"{self.experiment} {self.variant.key} n={self.numel} {self.device} {self.dtype}"


@dataclass(frozen=True)
class ExperimentResult:
    case: ExperimentCase
    status: str
    error: str = ""
    measurement: VariantMeasurement | None = None
    notes: tuple[str, ...] = ()
    detail: str = ""  # the traceback of an error row, for run.log (never a CSV cell)
    # this variant against its family's baseline, from the rounds they shared; None for the
    # baseline itself, and in records made before variants were interleaved
    paired: PairedComparison | None = None

    @property
    def latency(self) -> Any:
        return None if self.measurement is None else self.measurement.latency

    def row(self) -> dict[str, Any]:
        """A results.csv row: model-only columns stay empty; `model` holds the op family."""
        from bench.records import COLUMNS, latency_cells

        case, m = self.case, self.measurement
        lat = self.latency
        values: dict[str, Any] = {
            "suite": case.suite,
            "model": case.variant.family,
            "device": case.device,
            "dtype": case.dtype,
            "input_shape": "x".join(str(d) for d in shape_for(case.numel)),
            "status": self.status,
            "error": self.error,
            **latency_cells(lat),
            "experiment": case.experiment,
            "variant": case.variant.name,
            "numel": case.numel,
            "allocated_bytes": m.allocated_bytes if m else None,
            "shares_storage": m.shares_storage if m else None,
            "matches_reference": m.matches_reference if m else None,
            "input_policy": m.input_policy if m else None,
            "backward_ok": m.backward_ok if m else None,
            "backward_error": m.backward_error if m else None,
        }
        return {column: values.get(column) for column in COLUMNS}

    def record(self) -> dict[str, Any]:
        """The run.json entry: the row plus the expression and raw samples."""
        lat = self.latency
        return {
            **self.row(),
            "code": self.case.variant.code,
            "latency_samples_ms": list(lat.samples_ms) if lat else [],
            "notes": list(self.notes),
            "latency_wall_samples_ms": list(lat.wall_samples_ms) if lat else [],
            "latency_ci_confidence": lat.confidence if lat else None,
            # the contention probe's raw reading (the row has its share and verdict)
            "contention": dataclasses.asdict(lat.contention) if lat and lat.contention else None,
            **self._interleaved_record(),
        }

    def _interleaved_record(self) -> dict[str, Any]:
        """Keys only interleaved measurements have; absent otherwise, so an older record
        rewritten after reading back stays as it was."""
        extra: dict[str, Any] = {}
        if self.measurement is not None and self.measurement.round_medians_ms:
            extra["round_medians_ms"] = list(self.measurement.round_medians_ms)
        if self.paired is not None:
            extra["paired"] = self.paired.record()
        return extra
