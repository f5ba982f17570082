"""The frozen records passed between stages: Suite -> Case -> Result, and what a Result holds.

`stages` has the suite, case and result records and the results.csv column contract; `axes`
the names a case's dtype, memory format, compile mode and mode take; `inputs` what a model is
fed; `latency`, `memory` and `counts` the measured statistics a Result carries; `frames` turns
rows into typed pandas DataFrames. Records depend on nothing but `bench.stats` and
`bench.units`, so every stage can import them.
"""

from bench.records.counts import (
    COUNTED_ON,
    CROSSCHECK_TOLERANCE,
    CountDetails,
    LayerRow,
    crosscheck_disagreement,
)
from bench.records.inputs import (
    FLOAT_INPUT_DTYPES,
    INPUT_DTYPES,
    INTEGER_INPUT_DTYPES,
    InputSpec,
    dims_text,
    parse_dims_text,
    parse_shapes_text,
    shapes_text,
)
from bench.records.instructions import (
    DEFAULT_MARGIN,
    INSTRUCTION_VERDICTS,
    InstructionCount,
    instruction_verdict,
)
from bench.records.keys import CaseKey, is_experiment_entry, key_of, key_of_entry
from bench.records.latency import (
    ASYMMETRY_LIMIT,
    CONTENDED_SHARE,
    LAUNCH_BOUND_RATIO,
    NOISY_CI_MULTIPLE,
    NOISY_IQR_FRACTION,
    Contention,
    LatencyStats,
    SmClocks,
    intervals_overlap,
    latency_cells,
    latency_from_entry,
    latency_ratio,
)
from bench.records.memory import MemoryStats
from bench.records.stages import (
    COLUMNS,
    DEFAULT_METRICS,
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
    "ASYMMETRY_LIMIT",
    "COLUMNS",
    "CONTENDED_SHARE",
    "COUNTED_ON",
    "CROSSCHECK_TOLERANCE",
    "DEFAULT_MARGIN",
    "DEFAULT_METRICS",
    "FLOAT_INPUT_DTYPES",
    "INPLACE_VARIANTS",
    "INPUT_DTYPES",
    "INSTRUCTION_VERDICTS",
    "INTEGER_INPUT_DTYPES",
    "LAUNCH_BOUND_RATIO",
    "METRICS",
    "NOISY_CI_MULTIPLE",
    "NOISY_IQR_FRACTION",
    "STATUSES",
    "Case",
    "CaseKey",
    "Contention",
    "CountDetails",
    "InputSpec",
    "InstructionCount",
    "LatencyStats",
    "LayerRow",
    "MemoryStats",
    "ModelSpec",
    "Result",
    "SmClocks",
    "Suite",
    "TimingSettings",
    "crosscheck_disagreement",
    "dims_text",
    "instruction_verdict",
    "intervals_overlap",
    "is_experiment_entry",
    "key_of",
    "key_of_entry",
    "latency_cells",
    "latency_from_entry",
    "latency_ratio",
    "parse_dims_text",
    "parse_shapes_text",
    "shapes_text",
]
