"""Human units shared by every renderer: binary byte sizes (KiB, MiB, GiB) and 3-4 significant
figures."""

from __future__ import annotations

import math


def human_bytes(value: int | None) -> str:
    if value is None:
        return ""
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{significant(size)} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def significant(value: float | None, digits: int = 4) -> str:
    """A number with `digits` significant figures, no exponent, thousands separated.

    Reports quote 3-4 figures: more would claim a precision no timing has, fewer would hide a
    real difference between two rows. `0.0002662` becomes `0.0002662`, `17837.6` `17,838`.
    """
    if value is None:
        return ""
    if value == 0:
        return "0"
    if not math.isfinite(value):
        return str(value)  # "inf", "nan": never a made-up number
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(digits - 1 - magnitude, 0)
    rounded = round(value, decimals)
    if rounded != 0 and math.floor(math.log10(abs(rounded))) > magnitude:  # 9.9996 -> 10.00
        decimals = max(decimals - 1, 0)
    return f"{value:,.{decimals}f}"
