"""What a model is fed: one record per input, as the suite declares it.

A model takes one float tensor (`input_shape`, the shorthand) or several inputs (`inputs`), each
with a per-sample shape, a dtype, a value range and, for keyword arguments, a name. A shape entry
may be a dimension's name instead of a number (`shape = ["seq"]`); the model's `dims` table gives
the values that name sweeps (`dims = { seq = [128, 512] }`), so a sequence length is swept like a
batch size: one case per value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# dtypes an input may have; floating ones default to the case's precision when not named
FLOAT_INPUT_DTYPES = ("float32", "float16", "bfloat16", "float64")
INTEGER_INPUT_DTYPES = ("int64", "int32", "int16", "int8", "uint8")
INPUT_DTYPES = (*FLOAT_INPUT_DTYPES, *INTEGER_INPUT_DTYPES, "bool")


@dataclass(frozen=True)
class InputSpec:
    """One input. `shape` is per sample (the batch is prepended); a `str` entry names a swept
    dimension. `dtype` None means the case's floating dtype. `low`/`high` bound the values
    (`high` exclusive, as in `torch.randint`; floats are uniform in [low, high)); None: standard
    normal floats. `name` "" means positional."""

    shape: tuple[int | str, ...]
    dtype: str | None = None
    low: float | None = None
    high: float | None = None
    name: str = ""

    def per_sample_shape(self, dims: Mapping[str, int]) -> tuple[int, ...]:
        """The shape with every named dimension replaced by its value in this case."""
        return tuple(dims[d] if isinstance(d, str) else d for d in self.shape)

    @property
    def is_float(self) -> bool:
        return self.dtype is None or self.dtype in FLOAT_INPUT_DTYPES

    def definition(self) -> dict[str, object]:
        """The input as run.json records it (only what was given), for --resume's comparison."""
        record: dict[str, object] = {"shape": list(self.shape)}
        for key in ("dtype", "low", "high"):
            if getattr(self, key) is not None:
                record[key] = getattr(self, key)
        if self.name:
            record["name"] = self.name
        return record


def shapes_text(shapes: tuple[tuple[int, ...], ...]) -> str:
    """`2x128,2x128`: every input's full shape, in the order the model receives them."""
    return ",".join("x".join(str(d) for d in shape) for shape in shapes)


def parse_shapes_text(text: str) -> tuple[tuple[int, ...], ...]:
    """The inverse of shapes_text (a results.csv `input_shape` cell)."""
    return tuple(tuple(int(d) for d in part.split("x")) for part in text.split(","))


def dims_text(dims: tuple[tuple[str, int], ...]) -> str:
    """`seq=128` (`,`-separated when several), the value of each swept dimension in a case."""
    return ",".join(f"{name}={value}" for name, value in dims)


def parse_dims_text(text: str) -> tuple[tuple[str, int], ...]:
    """The inverse of dims_text ("" for a case that sweeps no dimension)."""
    if not text:
        return ()
    pairs = (part.split("=", 1) for part in text.split(","))
    return tuple((name, int(value)) for name, value in pairs)
