"""The callable a suite's `factory` string names, found without importing torch ourselves.

A factory is `pkg.module:callable` or `path/to/file.py:callable` (relative to the suite file).
`check_factory` looks at the string and the file system only, so a suite's every entry is
checked before any module is imported; `resolve_factory` then imports the module (which may
well import torch: that is the model's own import, paid once the suite is known to be valid).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from bench.errors import FactoryError

FACTORY_FORM = "'pkg.module:callable' or 'path/to/file.py:callable'"


def check_factory(text: str, base_dir: Path) -> tuple[str, str]:
    """The string's module and attribute parts, its form and (for a file) the file's presence
    checked without importing anything; FactoryError says what is wrong."""
    module_part, sep, attr = text.rpartition(":")
    if not sep or not module_part or not attr:
        raise FactoryError(f"{text!r} is not of the form {FACTORY_FORM}")
    if module_part.endswith(".py"):
        file = (base_dir / module_part).resolve()
        if not file.is_file():
            raise FactoryError(f"{text!r}: file {str(file)!r} not found")
    return module_part, attr


def resolve_factory(text: str, base_dir: Path) -> Callable[..., Any]:
    """Import the callable a factory string names; FactoryError says what went wrong."""
    module_part, attr = check_factory(text, base_dir)
    module = _load_module(module_part, base_dir, text)
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise FactoryError(f"{text!r}: {module_part!r} has no attribute {attr!r}")
        target = getattr(target, part)
    if not callable(target):
        raise FactoryError(f"{text!r} names {type(target).__name__}, not a callable")
    return target


def _load_module(module_part: str, base_dir: Path, text: str) -> ModuleType:
    if module_part.endswith(".py"):
        return _load_file_module((base_dir / module_part).resolve(), text)
    try:
        return importlib.import_module(module_part)
    except (Exception, SystemExit) as exc:  # any import-time failure is the user's module's problem
        raise FactoryError(
            f"{text!r}: cannot import {module_part!r} ({type(exc).__name__}: {exc})"
        ) from None


def _load_file_module(file: Path, text: str) -> ModuleType:
    """Import a file once per process under a name derived from its path (no sys.path edits)."""
    name = "bench_user_" + hashlib.sha1(str(file).encode()).hexdigest()[:12]
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise FactoryError(f"{text!r}: cannot load {str(file)!r} as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # sys.exit() at import must not end the run
        del sys.modules[name]
        raise FactoryError(
            f"{text!r}: importing {file.name} failed ({type(exc).__name__}: {exc})"
        ) from None
    return module


def check_factory_kwargs(factory: Callable[..., Any], kwargs: dict[str, Any], text: str) -> None:
    """The suite's `kwargs` checked against the factory before any case runs, so a typo is one
    line (exit 2) and not an error row after the cases before it: they must bind to its
    signature, and a factory may check their values itself with a `check_kwargs(kwargs)`
    attribute that raises ValueError (bench.zoo:torchvision_model checks the builder's name).
    A callable whose signature cannot be read (some builtins) is not checked."""
    import inspect

    checker = getattr(factory, "check_kwargs", None)
    if callable(checker):
        try:
            checker(kwargs)
        except ValueError as exc:
            raise FactoryError(f"{text!r}: {exc}") from None
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return
    try:
        signature.bind_partial(**kwargs)
    except TypeError as exc:
        raise FactoryError(f"{text!r}: kwargs do not fit {signature} ({exc})") from None
