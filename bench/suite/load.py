"""Load a suite file, validate it strictly, and expand it into cases.

Validation happens before anything runs, so a typo costs the user one line on stderr, not a
half-finished run. Every message names the file, the entry and what is allowed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import math
import re
import signal
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.durations import BUDGET, DEFAULT_TIMEOUT_S, DURATION_FORMS, TIMEOUT, DurationLimit
from bench.errors import FactoryError, SuiteError
from bench.model.resolve import check_factory, check_factory_kwargs, resolve_factory
from bench.records import INPLACE_VARIANTS, Case, ModelSpec, Suite, TimingSettings
from bench.records.axes import (
    AMP_DTYPES,
    CACHE_STATES,
    COMPILE_MODES,
    CUDA_GRAPH,
    DTYPES,
    MEMORY_FORMATS,
    MODES,
)
from bench.suite.experiments import load_experiments
from bench.suite.fields import check_keys, entries_of, entry_name, string_field
from bench.suite.inputs import MODEL_INPUT_KEYS, model_inputs

DEVICE_PATTERN = re.compile(r"^(cpu|cuda(:\d+)?)$")
DEVICES_ALLOWED = "'cpu', 'cuda' or 'cuda:N' (N < 10000)"

SUITE_KEYS = {"name", "devices", "dtypes", "batch_sizes", "modes"}
SUITE_KEYS |= {"budget", "precision", "threads", "timeout"}  # timing knobs
# set per suite, overridable per model
VARIANT_KEYS = {"dtypes", "memory_formats", "compile", "cache", "graphs"}
SUITE_KEYS |= VARIANT_KEYS
MODEL_KEYS = {"name", "factory", "kwargs", "input_shape", "batch_sizes", "modes", "compare_inplace"}
MODEL_KEYS |= {"checkpoint", "trust_checkpoint"}  # load weights into the factory's model
MODEL_KEYS |= MODEL_INPUT_KEYS  # several, integer, keyword or list inputs; swept dimensions
MODEL_KEYS |= VARIANT_KEYS
TOP_KEYS = {"suite", "models", "experiments"}

# Sanity bounds: beyond them a number is a typo, and torch would fail in ways that say less.
MAX_BATCH = 2**24

MAX_THREADS = 1024


def load_suite(path: str | Path) -> Suite:
    """Read and validate a suite; raise SuiteError naming the file and entry on any problem."""
    path = Path(path)
    data = _read_toml(path)
    check_keys(path, "top level", data, TOP_KEYS)
    header = data.get("suite")
    if not isinstance(header, dict):
        raise SuiteError(path, "[suite]", "missing table; a suite needs [suite] with a name")
    check_keys(path, "[suite]", header, SUITE_KEYS)
    name = entry_name(path, "[suite]", header)
    devices = _string_list(path, "[suite]", header, "devices", ["cpu"])
    for device in devices:
        if not DEVICE_PATTERN.match(device) or len(device) > len("cuda:") + 4:
            raise SuiteError(
                path, "[suite] devices", f"unknown device {device!r}; allowed: {DEVICES_ALLOWED}"
            )
    _no_duplicates(path, "[suite] devices", devices)
    variants = _variants(path, "[suite]", header, DEFAULT_VARIANTS)
    dtypes = variants["dtypes"]
    batch_sizes = _positive_ints(path, "[suite]", header, "batch_sizes", [1], MAX_BATCH)
    modes = _modes(path, "[suite]", header, ["eval"])
    experiments = load_experiments(path, data.get("experiments"))
    amp = [dtype for dtype in dtypes if dtype in AMP_DTYPES]
    if experiments and amp:
        raise SuiteError(
            path,
            "[suite] dtypes",
            f"{amp[0]!r} applies to models, not to [[experiments]]; experiments take "
            f"{', '.join(d for d in DTYPES if d not in AMP_DTYPES)}",
        )
    graphs = _bool(path, "[suite]", header, "graphs", False)
    models = _models(
        path, data.get("models"), batch_sizes, modes, variants, graphs, not experiments
    )
    timing = _timing_settings(path, header)
    _import_factories(path, models, timing.timeout_s)
    return Suite(
        name=name,
        path=path,
        devices=tuple(devices),
        dtypes=tuple(dtypes),
        models=models,
        timing=timing,
        experiments=experiments,
    )


def _import_factories(path: Path, models: tuple[ModelSpec, ...], timeout_s: float | None) -> None:
    """Import every model's factory, last: the rest of the file is valid by now, and importing
    a factory's module usually imports torch (seconds), which a typo must not cost.

    Each import runs under the suite's per-case time limit (else the default): a module that
    hangs at import time hung `bench run` before any case, where `--timeout` never reached.
    """
    limit = DEFAULT_TIMEOUT_S if timeout_s is None else timeout_s
    for index, model in enumerate(models):
        where = f"models[{index}] ({model.name})"
        try:
            with _time_limit(limit):
                factory = resolve_factory(model.factory, path.parent)
        except FactoryError as exc:
            raise SuiteError(path, f"{where} factory", str(exc)) from None
        except _ImportTimeout:
            raise SuiteError(
                path,
                f"{where} factory",
                f"importing {model.factory.split(':')[0]!r} did not finish within "
                f"{limit:g} s (the suite's timeout, else {DEFAULT_TIMEOUT_S:g} s); does the "
                "module hang at import?",
            ) from None
        try:
            check_factory_kwargs(factory, dict(model.kwargs), model.factory)
        except FactoryError as exc:
            raise SuiteError(path, f"{where} kwargs", str(exc)) from None


class _ImportTimeout(BaseException):
    """A factory's module did not finish importing in time (a BaseException: a module's own
    `except Exception` must not swallow it)."""


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """A SIGALRM limit on the block, in the main thread (elsewhere none can be set). The
    measuring code's watchdog does more (Ctrl-C bookkeeping, a backup thread); an import needs
    only this, and the loader must not load the measuring code."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expired(signum: int, frame: object) -> None:
        raise _ImportTimeout

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def expand(suite: Suite) -> list[Case]:
    """Every model x mode x device x dtype x memory format x compile mode x cache state x batch
    size x swept dimension value, in the suite's declared order."""
    return [
        Case(
            suite=suite.name,
            model=model,
            device=device,
            dtype=dtype,
            batch_size=batch_size,
            base_dir=suite.base_dir,
            mode=mode,
            timing=suite.timing,
            inplace_variant=variant,
            memory_format=memory_format,
            compile=compile_mode,
            cache=cache,
            dims=dims,
        )
        for model in suite.models
        for mode in model.modes
        for variant in (INPLACE_VARIANTS if model.compare_inplace else ("",))
        for device in suite.devices
        for dtype in (model.dtypes or suite.dtypes)
        for memory_format in model.memory_formats
        for compile_mode in compile_modes(model, device)
        for cache in model.cache
        for batch_size in model.batch_sizes
        for dims in _dim_values(model)
    ]


def with_variant_overrides(suite: Suite, cache: str | None, graphs: bool) -> Suite:
    """The suite with `bench run --cache STATE` (every model's `cache`) and `--cuda-graphs`
    (every model's `graphs = true`) applied; unchanged without them."""
    if cache is None and not graphs:
        return suite
    models = tuple(
        dataclasses.replace(
            model,
            cache=model.cache if cache is None else (cache,),
            graphs=model.graphs or graphs,
        )
        for model in suite.models
    )
    return dataclasses.replace(suite, models=models)


def compile_modes(model: ModelSpec, device: str) -> tuple[str, ...]:
    """The model's compile modes on `device`: with `graphs = true`, a CUDA device also gets a
    `cuda-graph` case right after the eager one (CPU devices do not: there is nothing to
    capture, and a skipped row per CPU case would only be noise)."""
    modes = model.compile
    if not model.graphs or not device.startswith("cuda") or CUDA_GRAPH in modes:
        return modes
    if "eager" not in modes:
        return (*modes, CUDA_GRAPH)
    at = modes.index("eager") + 1
    return (*modes[:at], CUDA_GRAPH, *modes[at:])


def _dim_values(model: ModelSpec) -> list[tuple[tuple[str, int], ...]]:
    """Every combination of the model's swept dimensions (one empty one when it has none)."""
    names = [name for name, _ in model.dims]
    return [
        tuple(zip(names, values, strict=True))
        for values in itertools.product(*(values for _, values in model.dims))
    ]


def _timing_settings(path: Path, header: dict[str, Any]) -> TimingSettings:
    """`budget` and `timeout` (durations, as on the command line), `precision` (0 < p < 1),
    `threads` (>= 1)."""
    precision = threads = None
    if "precision" in header:
        value = header["precision"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
            raise SuiteError(
                path,
                "[suite] precision",
                f"must be a number between 0 and 1 (0.01 is +-1%), got {value!r}",
            )
        precision = float(value)
    if "threads" in header:
        value = header["threads"]
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_THREADS:
            allowed = f"must be a positive integer, at most {MAX_THREADS}, got {value!r}"
            raise SuiteError(path, "[suite] threads", allowed)
        threads = value
    return TimingSettings(
        budget_s=_duration(path, header, BUDGET),
        precision=precision,
        threads=threads,
        timeout_s=_duration(path, header, TIMEOUT),
    )


def _duration(path: Path, header: dict[str, Any], limit: DurationLimit) -> float | None:
    """A duration key: a string in the command line's forms ("90s", "1m"), or a TOML number of
    seconds; absent is None (the run's default applies)."""
    if limit.name not in header:
        return None
    value = header[limit.name]
    where = f"[suite] {limit.name}"
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise SuiteError(path, where, f"must be {DURATION_FORMS}, got {value!r}")
    try:
        return limit.parse(str(value))
    except ValueError as exc:
        raise SuiteError(path, where, str(exc)) from None


def _read_toml(path: Path) -> dict[str, Any]:
    if path.is_dir():
        raise SuiteError(path, "file", "is a directory; give the path of a .toml suite file")
    if not path.is_file():
        raise SuiteError(path, "file", "not found; give the path of a .toml suite file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SuiteError(path, "file", "not UTF-8 text; a suite is a TOML file") from None
    except OSError as exc:
        raise SuiteError(path, "file", f"cannot be read ({exc.strerror or exc})") from None
    if text.startswith("\ufeff"):
        raise SuiteError(
            path,
            "file",
            "starts with a UTF-8 byte-order mark (BOM), which TOML does not allow; "
            "save it as UTF-8 without BOM",
        )
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SuiteError(path, "file", f"invalid TOML ({exc})") from None


def _models(
    path: Path,
    entries: Any,
    default_batches: list[int],
    default_modes: list[str],
    default_variants: dict[str, list[str]],
    default_graphs: bool,
    required: bool,
) -> tuple[ModelSpec, ...]:
    if entries is None and not required:
        return ()
    if not isinstance(entries, list) or not entries:
        raise SuiteError(
            path,
            "[[models]]",
            "missing or empty; declare at least one [[models]] or [[experiments]]",
        )
    specs: list[ModelSpec] = []
    seen: set[str] = set()
    for where, entry in entries_of(path, entries, "models"):
        check_keys(path, where, entry, MODEL_KEYS)
        name = entry_name(path, where, entry)
        if name in seen:
            raise SuiteError(path, where, f"duplicate model name {name!r}; names must be unique")
        seen.add(name)
        factory = string_field(path, where, entry, "factory")
        try:
            check_factory(factory, path.parent)  # imported once all is checked: _import_factories
        except FactoryError as exc:
            raise SuiteError(path, f"{where} factory", str(exc)) from None
        kwargs = entry.get("kwargs", {})
        if not isinstance(kwargs, dict):
            raise SuiteError(path, f"{where} kwargs", "must be a table, e.g. { num_classes = 10 }")
        bad = _non_finite(kwargs)
        if bad is not None:
            raise SuiteError(
                path,
                f"{where} kwargs",
                f"{bad} is nan or inf, which run.json (JSON) cannot store; give a finite number",
            )
        input_shape, inputs, dims, batch_as_list = model_inputs(path, where, entry)
        batch_sizes = _positive_ints(path, where, entry, "batch_sizes", default_batches, MAX_BATCH)
        _no_duplicates(path, f"{where} batch_sizes", batch_sizes)
        modes = _modes(path, where, entry, default_modes)
        compare_inplace = _bool(path, where, entry, "compare_inplace", False)
        checkpoint, trust = _checkpoint(path, where, entry)
        variants = _variants(path, where, entry, default_variants)
        specs.append(
            ModelSpec(
                name=name,
                factory=factory,
                input_shape=input_shape,
                inputs=inputs,
                dims=dims,
                batch_as_list=batch_as_list,
                batch_sizes=tuple(batch_sizes),
                kwargs=kwargs,
                modes=tuple(modes),
                compare_inplace=compare_inplace,
                checkpoint=checkpoint,
                trust_checkpoint=trust,
                dtypes=tuple(variants["dtypes"]),
                memory_formats=tuple(variants["memory_formats"]),
                compile=tuple(variants["compile"]),
                cache=tuple(variants["cache"]),
                graphs=_bool(path, where, entry, "graphs", default_graphs),
            )
        )
    return tuple(specs)


def _non_finite(value: Any, where: str = "") -> str | None:
    """The key path of the first nan/inf float in kwargs (tables and arrays searched), if any."""
    if isinstance(value, float) and not math.isfinite(value):
        return where or "a value"
    items: Any = ()
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    for key, item in items:
        found = _non_finite(item, f"{where}.{key}" if where else str(key))
        if found is not None:
            return found
    return None


DEFAULT_VARIANTS = {
    "dtypes": ["float32"],
    "memory_formats": ["contiguous"],
    "compile": ["eager"],
    "cache": ["warm"],
}
VARIANT_VALUES: dict[str, tuple[str, ...]] = {
    "dtypes": DTYPES,
    "memory_formats": MEMORY_FORMATS,
    "compile": COMPILE_MODES,
    "cache": CACHE_STATES,
}
ONE_NAME_KEYS = {"cache"}  # `cache = "cold"` reads as `cache = ["cold"]`


def _variants(
    path: Path, where: str, table: dict[str, Any], defaults: dict[str, list[str]]
) -> dict[str, list[str]]:
    """`dtypes`, `memory_formats`, `compile` and `cache`: each a non-empty list of known names,
    no repeats (`cache` also takes one name); absent means the defaults (the suite's, for a
    model entry)."""
    variants = {}
    for key, allowed in VARIANT_VALUES.items():
        if key in ONE_NAME_KEYS and isinstance(table.get(key), str):
            table = {**table, key: [table[key]]}
        values = _string_list(path, where, table, key, defaults[key])
        for value in values:
            if value not in allowed:
                raise SuiteError(
                    path,
                    f"{where} {key}",
                    f"unknown value {value!r}; allowed: {', '.join(allowed)}",
                )
        _no_duplicates(path, f"{where} {key}", values)
        variants[key] = values
    return variants


def _checkpoint(path: Path, where: str, entry: dict[str, Any]) -> tuple[Path | None, bool]:
    """The checkpoint file must exist now: finding out after an hour of other cases is too late."""
    trust = entry.get("trust_checkpoint", False)
    if not isinstance(trust, bool):
        raise SuiteError(path, f"{where} trust_checkpoint", f"must be true or false, got {trust!r}")
    if "checkpoint" not in entry:
        if "trust_checkpoint" in entry:
            raise SuiteError(path, f"{where} trust_checkpoint", "given without a 'checkpoint'")
        return None, False
    name = string_field(path, where, entry, "checkpoint")
    file = (path.parent / name).resolve()
    if not file.is_file():
        raise SuiteError(
            path,
            f"{where} checkpoint",
            f"file {str(file)!r} not found (paths are relative to the suite file)",
        )
    return file, trust


def _bool(path: Path, where: str, table: dict[str, Any], key: str, default: bool) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise SuiteError(path, f"{where} {key}", f"must be true or false, got {value!r}")
    return value


def _string_list(
    path: Path, where: str, table: dict[str, Any], key: str, default: list[str]
) -> list[str]:
    if key not in table:
        return list(default)
    value = table[key]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise SuiteError(
            path, f"{where} {key}", f"must be a non-empty list of strings, got {value!r}"
        )
    return value


def _positive_ints(
    path: Path,
    where: str,
    table: dict[str, Any],
    key: str,
    default: list[int] | None,
    maximum: int,
) -> list[int]:
    if key not in table and default is not None:
        return list(default)
    value = table.get(key)
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
    ):
        raise SuiteError(
            path, f"{where} {key}", f"must be a non-empty list of positive integers, got {value!r}"
        )
    too_big = [v for v in value if v > maximum]
    if too_big:
        raise SuiteError(
            path, f"{where} {key}", f"{too_big[0]} is too large; allowed: 1 to {maximum}"
        )
    return value


def _modes(path: Path, where: str, table: dict[str, Any], default: list[str]) -> list[str]:
    modes = _string_list(path, where, table, "modes", default)
    for mode in modes:
        if mode not in MODES:
            raise SuiteError(
                path, f"{where} modes", f"unknown mode {mode!r}; allowed: {', '.join(MODES)}"
            )
    _no_duplicates(path, f"{where} modes", modes)
    return modes


def _no_duplicates(path: Path, where: str, values: list[Any]) -> None:
    if len(set(values)) != len(values):
        raise SuiteError(path, where, f"repeats a value in {values!r}; list each once")
