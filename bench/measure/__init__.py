"""Measuring one case: counting, timing and memory, in process or in an isolated worker.

`case` runs a case's stages (build, count, time, memory) into a Result; `execution` chooses
in-process or `isolation` (a worker process per case); `threads` reads and sets thread counts
and numerics flags; `ceilings` measures the machine's matmul and copy ceilings. The three
measurements live in `timing/`, `memory/` and `counting/`.
"""

from bench.measure.case import RunOptions, device_unavailable_reason, measure_case
from bench.measure.execution import execute

__all__ = ["RunOptions", "device_unavailable_reason", "execute", "measure_case"]
