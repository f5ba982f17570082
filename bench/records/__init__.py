"""The frozen records passed between stages: Suite -> Case -> Result, and what a Result holds.

`stages` has the suite, case and result records and the results.csv column contract;
`latency`, `memory` and `counts` the measured statistics a Result carries. Records depend on
nothing but `bench.stats`, so every stage can import them.
"""

from bench.records.counts import (
    COUNTED_ON,
    CROSSCHECK_TOLERANCE,
    CountDetails,
    LayerRow,
    crosscheck_disagreement,
)
from bench.records.latency import (
    CONTENDED_SHARE,
    LAUNCH_BOUND_RATIO,
    NOISY_CI_MULTIPLE,
    NOISY_IQR_FRACTION,
    Contention,
    LatencyStats,
    intervals_overlap,
    latency_cells,
    latency_from_entry,
    latency_ratio,
)
from bench.records.memory import MemoryStats
from bench.records.stages import (
    COLUMNS,
    INPLACE_VARIANTS,
    METRICS,
    STATUSES,
    Case,
    ModelSpec,
    Result,
    Suite,
    TimingSettings,
)

__all__ = [
    "COLUMNS",
    "CONTENDED_SHARE",
    "COUNTED_ON",
    "CROSSCHECK_TOLERANCE",
    "INPLACE_VARIANTS",
    "LAUNCH_BOUND_RATIO",
    "METRICS",
    "NOISY_CI_MULTIPLE",
    "NOISY_IQR_FRACTION",
    "STATUSES",
    "Case",
    "Contention",
    "CountDetails",
    "LatencyStats",
    "LayerRow",
    "MemoryStats",
    "ModelSpec",
    "Result",
    "Suite",
    "TimingSettings",
    "crosscheck_disagreement",
    "intervals_overlap",
    "latency_cells",
    "latency_from_entry",
    "latency_ratio",
]
