"""`bench.measure(model, inputs, *, device, dtype, mode, metrics, budget, ...)`: measure one
model on its inputs (the arguments: `bench.measure.api.measure`); also the package that measures
one case: counting, timing and memory, in process or in an isolated worker.

`case` runs a case's stages (build, count, time, memory) into a Result; `execution` chooses
in-process or `isolation` (a worker process per case); `threads` reads and sets thread counts
and numerics flags; `ceilings` measures the machine's matmul and copy ceilings. The three
measurements live in `timing/`, `memory/` and `counting/`.

Its names are imported on first use, so that importing one light module (the watchdog, the
timing engine) does not import torch through `case`.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from bench import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "bench.measure.case": ("RunOptions", "device_unavailable_reason", "measure_case"),
        "bench.measure.execution": ("execute",),
    },
)


class _Callable(types.ModuleType):
    """This package is also the API function `bench.measure(model, inputs, ...)`: the call
    works though importing any `bench.measure.*` module binds `bench.measure` to the package."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from bench.measure.api import measure

        return measure(*args, **kwargs)

    @property
    def __signature__(self) -> Any:
        """The API function's own signature for `inspect.signature(bench.measure)`, so a
        notebook's `bench.measure?` and completion show its keyword arguments, not
        `(*args, **kwargs)`. Asked for, it imports torch (the call would anyway)."""
        import inspect

        from bench.measure.api import measure

        return inspect.signature(measure)


sys.modules[__name__].__class__ = _Callable
