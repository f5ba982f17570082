"""`bench.compare(base, new)`: `bench compare`'s verdicts as a pandas DataFrame, one row per
matched case, with the same rule, floors and A/A history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.compare.history import aa_floors
from bench.compare.instructions import DEFAULT_MARGIN
from bench.compare.sources import load_side
from bench.compare.verdicts import compare_runs
from bench.records.frames import frame_of

COMPARE_COLUMNS = (
    "case",
    "model",
    "device",
    "dtype",
    "batch_size",
    "mode",
    "variant",
    "base_median_ms",
    "new_median_ms",
    "ratio",
    "ci_low",
    "ci_high",
    "p_value",
    "verdict",
    "reason",
    # `--metrics instructions` on both sides: per call, and more/fewer/same at the margin
    "base_instructions",
    "new_instructions",
    "instructions_verdict",
)


def compare(
    base: str | Path,
    new: str | Path,
    threshold: float = 0.10,
    instruction_margin: float = DEFAULT_MARGIN,
) -> Any:
    """`bench compare`'s verdicts, one row per matched case (same rule, floors and history)."""
    base_side, new_side = load_side(Path(base)), load_side(Path(new))
    comparison = compare_runs(
        base_side, new_side, threshold, aa_floors(base_side, new_side), instruction_margin
    )
    rows = []
    for case in comparison.cases:
        key, timing = case.key, case.timing
        rows.append(
            {
                "case": case.base.label,
                "model": key.name,
                "device": key.device,
                "dtype": key.dtype,
                "batch_size": key.batch,
                "mode": key.mode,
                "variant": key.variant,
                "base_median_ms": timing.base_median_ms,
                "new_median_ms": timing.new_median_ms,
                "ratio": timing.ratio,
                "ci_low": timing.ci_low,
                "ci_high": timing.ci_high,
                "p_value": timing.p_value,
                "verdict": timing.verdict,
                "reason": timing.reason,
                "base_instructions": case.instructions.base if case.instructions else None,
                "new_instructions": case.instructions.new if case.instructions else None,
                "instructions_verdict": case.instructions.verdict if case.instructions else None,
            }
        )
    return frame_of(rows, COMPARE_COLUMNS)
