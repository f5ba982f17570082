"""bench: numbers you can trust about a PyTorch model (size, FLOPs, latency, memory).

In Python: `bench.measure(model, inputs)`, `bench.run_suite(path)`, `bench.load(run_dir)` and
`bench.compare(base, new)` (bench/api). They load on first use, so `import bench` (and every
CLI verb that does not measure) stays free of torch.
"""

from collections.abc import Callable, Mapping
from typing import Any

__version__ = "0.1.0"
API = ("measure", "run_suite", "load", "compare")


def __getattr__(name: str) -> Any:
    """The API on first use: `measure` and `compare` are callable packages, `run_suite` and
    `load` live in bench/api."""
    import importlib

    if name in ("measure", "compare"):
        return importlib.import_module(f"bench.{name}")
    if name in ("run_suite", "load"):
        return getattr(importlib.import_module("bench.api"), name)
    raise AttributeError(f"module 'bench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return [*globals(), *API]


def lazy_exports(
    package: str, exports: Mapping[str, tuple[str, ...]]
) -> tuple[list[str], Callable[[str], Any]]:
    """`__all__` and a module `__getattr__` for a package whose names load on first use (each
    from the module `exports` lists it under), so importing one light module of the package
    does not import torch through the package's other modules."""
    import importlib

    home = {name: module for module, names in exports.items() for name in names}

    def getattr_(name: str) -> Any:
        if name not in home:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(home[name]), name)

    return sorted(home), getattr_
