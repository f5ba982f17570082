"""The Python API's suite and run parts: `bench.run_suite(path)` and `bench.load(run_dir)`.

`bench.measure(model, inputs)` and `bench.compare(base, new)` are the `bench.measure` and
`bench.compare` packages themselves, made callable (see their `__init__`), so the call works
whichever of `bench.measure` the package or the function a script reached first.
"""

from bench.api.frames import load
from bench.api.suites import run_suite

__all__ = ["load", "run_suite"]
