"""The names a suite chooses among on each axis a case varies along, without torch.

A Case's `dtype`, `memory_format`, `compile`, `cache` and `mode` hold one of these names. They
live with the records, not with the torch code that acts on them (bench.model.variants and
bench.model.workload), so that a suite is validated before torch is imported: a typo then
costs a fraction of a second, not the seconds a torch import takes.
"""

from __future__ import annotations

CAST_DTYPES = ("float32", "float16", "bfloat16", "float64")  # weights and inputs cast
AMP_DTYPES = ("amp_float16", "amp_bfloat16")  # float32 weights, forward under torch.autocast
DTYPES = (*CAST_DTYPES, *AMP_DTYPES)
MEMORY_FORMATS = ("contiguous", "channels_last", "channels_last_3d")
# "cuda-graph": the eager forward captured once in a CUDA graph and replayed (no compiler)
CUDA_GRAPH = "cuda-graph"
COMPILE_MODES = ("eager", "default", "reduce-overhead", "max-autotune", CUDA_GRAPH)
# "cold": the device's last-level cache (a GPU's L2) is flushed before each timed call
CACHE_STATES = ("warm", "cold")
MODES = ("eval", "train")
