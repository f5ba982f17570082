"""Parameters, FLOPs and MACs: counted once per case, on the meta device where the model allows.

`probe` counts a case; `ops` wraps FlopCounterMode; `formulas` adds the ops it misses; `meta`
builds a shape-only copy; `fvcore_check` is the second opinion; `layers` the torchinfo table.
"""

from bench.measure.counting.ops import (
    OpCount,
    count_buffers,
    count_macs,
    count_ops,
    count_params,
    model_size_bytes,
)
from bench.measure.counting.probe import CountOutcome, count_case

__all__ = [
    "CountOutcome",
    "OpCount",
    "count_buffers",
    "count_case",
    "count_macs",
    "count_ops",
    "count_params",
    "model_size_bytes",
]
