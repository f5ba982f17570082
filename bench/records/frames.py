"""Rows as pandas DataFrames, typed from the values the records hold (not parsed from text):
flags are nullable booleans, counts nullable integers, figures floats, and an empty cell is
<NA>, never 0. pandas is imported by the caller's first use only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def typed(frame: Any) -> Any:
    """Each column as the type its values share: boolean, Int64, Float64 or string."""
    return frame.astype({name: _dtype(frame[name].tolist()) for name in frame.columns})


def _dtype(values: Sequence[Any]) -> str:
    present = [v for v in values if v is not None and not (isinstance(v, float) and v != v)]
    if present and all(isinstance(v, bool) for v in present):
        return "boolean"
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return "Int64"
    if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return "Float64"
    return "string"
