"""A model entry's inputs: the `input_shape` shorthand, or `inputs`, `dims` and `batch_as_list`.

    inputs = [
      { name = "input_ids", shape = ["seq"], dtype = "int64", low = 0, high = 30522 },
      { name = "attention_mask", shape = ["seq"], dtype = "int64", low = 1, high = 2 },
    ]
    dims = { seq = [128, 512] }    # every case runs once per value, like batch_sizes

Checked as strictly as the rest of a suite: every mistake is one line naming the file, the entry
(`models[2] (bert) inputs[1]`) and what is allowed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from bench.errors import SuiteError
from bench.records import (
    FLOAT_INPUT_DTYPES,
    INPUT_DTYPES,
    INTEGER_INPUT_DTYPES,
    InputSpec,
)
from bench.suite.fields import check_keys

INPUT_KEYS = {"name", "shape", "dtype", "low", "high"}
MODEL_INPUT_KEYS = {"input_shape", "inputs", "dims", "batch_as_list"}
MAX_DIM = 2**31 - 1
MAX_INPUTS = 64
# integer inputs are drawn as int64; their bounds must fit the declared dtype
INTEGER_RANGES = {
    "int64": (-(2**63), 2**63 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "int8": (-128, 127),
    "uint8": (0, 255),
}


def model_inputs(
    path: Path, where: str, entry: dict[str, Any]
) -> tuple[tuple[int, ...], tuple[InputSpec, ...], tuple[tuple[str, tuple[int, ...]], ...], bool]:
    """(input_shape, inputs, dims, batch_as_list) of a model entry; exactly one of input_shape
    and inputs is given."""
    if "input_shape" in entry and "inputs" in entry:
        raise SuiteError(
            path, where, "give either 'input_shape' (one float input) or 'inputs', not both"
        )
    if "input_shape" not in entry and "inputs" not in entry:
        raise SuiteError(
            path,
            where,
            "missing 'input_shape'; give the per-sample shape, e.g. [3, 224, 224], or 'inputs' "
            "for several or integer inputs",
        )
    dims = _dims(path, where, entry.get("dims"))
    batch_as_list = entry.get("batch_as_list", False)
    if not isinstance(batch_as_list, bool):
        raise SuiteError(
            path, f"{where} batch_as_list", f"must be true or false, got {batch_as_list!r}"
        )
    if "input_shape" in entry:
        shape = _shape(path, f"{where} input_shape", entry["input_shape"], dims)
        inputs: tuple[InputSpec, ...] = ()
        used = {d for d in shape if isinstance(d, str)}
        if used:  # the shorthand may name a swept dimension too
            inputs, shape = (InputSpec(shape=shape),), ()
    else:
        inputs = _inputs(path, where, entry["inputs"], dims)
        shape = ()
        used = {d for spec in inputs for d in spec.shape if isinstance(d, str)}
    unused = [name for name, _ in dims if name not in used]
    if unused:
        raise SuiteError(
            path,
            f"{where} dims",
            f"{unused[0]!r} is not used by any input shape; use it in a shape, e.g. "
            f'shape = ["{unused[0]}"], or remove it',
        )
    return tuple(int(d) for d in shape), inputs, dims, batch_as_list


def _dims(path: Path, where: str, value: Any) -> tuple[tuple[str, tuple[int, ...]], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict) or not value:
        raise SuiteError(
            path,
            f"{where} dims",
            "must be a table of dimension names to values, e.g. { seq = [128, 512] }",
        )
    dims = []
    for name, values in value.items():
        if not name.isidentifier():
            raise SuiteError(
                path, f"{where} dims", f"{name!r} is not a valid name; use letters, digits and _"
            )
        if (
            not isinstance(values, list)
            or not values
            or not all(
                isinstance(v, int) and not isinstance(v, bool) and 0 < v <= MAX_DIM for v in values
            )
        ):
            raise SuiteError(
                path,
                f"{where} dims {name}",
                f"must be a non-empty list of positive integers (at most {MAX_DIM}), "
                f"got {values!r}",
            )
        if len(set(values)) != len(values):
            raise SuiteError(
                path, f"{where} dims {name}", f"repeats a value in {values!r}; list each once"
            )
        dims.append((name, tuple(values)))
    return tuple(dims)


def _inputs(
    path: Path, where: str, value: Any, dims: tuple[tuple[str, tuple[int, ...]], ...]
) -> tuple[InputSpec, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, dict) for v in value):
        raise SuiteError(
            path,
            f"{where} inputs",
            'must be a non-empty list of tables, e.g. [{ shape = [128], dtype = "int64", '
            "high = 30522 }]",
        )
    if len(value) > MAX_INPUTS:
        raise SuiteError(path, f"{where} inputs", f"has {len(value)} inputs; at most {MAX_INPUTS}")
    specs = []
    names: set[str] = set()
    for index, table in enumerate(value):
        at = f"{where} inputs[{index}]"
        check_keys(path, at, table, INPUT_KEYS)
        spec = _input(path, at, table, dims)
        if spec.name in names:
            raise SuiteError(
                path, f"{at} name", f"{spec.name!r} is given twice; names must be unique"
            )
        if spec.name:
            names.add(spec.name)
        specs.append(spec)
    return tuple(specs)


def _input(
    path: Path, at: str, table: dict[str, Any], dims: tuple[tuple[str, tuple[int, ...]], ...]
) -> InputSpec:
    if "shape" not in table:
        raise SuiteError(path, at, "missing 'shape'; give the per-sample shape, e.g. [128]")
    shape = _shape(path, f"{at} shape", table["shape"], dims)
    name = table.get("name", "")
    if not isinstance(name, str) or (name and not name.isidentifier()):
        raise SuiteError(
            path,
            f"{at} name",
            f"must be the forward argument's name (a Python identifier), got {name!r}; leave it "
            "out for a positional input",
        )
    dtype = table.get("dtype")
    if dtype is not None and dtype not in INPUT_DTYPES:
        raise SuiteError(
            path, f"{at} dtype", f"unknown dtype {dtype!r}; allowed: {', '.join(INPUT_DTYPES)}"
        )
    low, high = _bounds(path, at, table, dtype)
    return InputSpec(shape=shape, dtype=dtype, low=low, high=high, name=name)


def _bounds(
    path: Path, at: str, table: dict[str, Any], dtype: str | None
) -> tuple[float | None, float | None]:
    """Integer inputs need `high` (exclusive; `low` defaults to 0); floats take both or neither
    (uniform in [low, high) instead of standard normal); bool takes neither."""
    low, high = table.get("low"), table.get("high")
    for key, number in (("low", low), ("high", high)):
        if number is not None and (
            isinstance(number, bool)
            or not isinstance(number, int | float)
            or not math.isfinite(number)
        ):
            raise SuiteError(path, f"{at} {key}", f"must be a finite number, got {number!r}")
    if dtype == "bool":
        if low is not None or high is not None:
            raise SuiteError(path, at, "a bool input takes no 'low'/'high' (values are 0 or 1)")
        return None, None
    if dtype in INTEGER_INPUT_DTYPES:
        if high is None:
            raise SuiteError(
                path,
                at,
                f"an {dtype} input needs 'high' (exclusive upper bound, e.g. the vocabulary "
                "size); 'low' defaults to 0",
            )
        low = 0 if low is None else low
        if not isinstance(low, int) or not isinstance(high, int):
            raise SuiteError(path, at, f"an {dtype} input's 'low' and 'high' must be integers")
        smallest, largest = INTEGER_RANGES[dtype]
        if not smallest <= low < high <= largest + 1:
            raise SuiteError(
                path,
                at,
                f"needs {smallest} <= low < high <= {largest + 1} for {dtype}, got low={low}, "
                f"high={high}",
            )
        return low, high
    assert dtype is None or dtype in FLOAT_INPUT_DTYPES
    if (low is None) != (high is None):
        raise SuiteError(
            path,
            at,
            "a float input takes both 'low' and 'high' (uniform in [low, high)) or neither",
        )
    if low is not None and high is not None and not low < high:
        raise SuiteError(path, at, f"needs low < high, got low={low}, high={high}")
    return low, high


def _shape(
    path: Path, where: str, value: Any, dims: tuple[tuple[str, tuple[int, ...]], ...]
) -> tuple[int | str, ...]:
    names = {name for name, _ in dims}
    if not isinstance(value, list) or not value:
        raise SuiteError(
            path,
            where,
            f"must be a non-empty list of positive integers or dimension names, got {value!r}",
        )
    for d in value:
        if isinstance(d, str):
            if d not in names:
                declared = ", ".join(sorted(names)) or "none"
                example = d if d.isidentifier() else "seq"
                raise SuiteError(
                    path,
                    where,
                    f"{d!r} is not a declared dimension (declared: {declared}); declare it in "
                    f"the model's dims, e.g. dims = {{ {example} = [128] }}",
                )
        elif isinstance(d, bool) or not isinstance(d, int) or not 0 < d <= MAX_DIM:
            raise SuiteError(
                path,
                where,
                f"must be a non-empty list of positive integers (at most {MAX_DIM}) or dimension "
                f"names, got {value!r}",
            )
    return tuple(value)
