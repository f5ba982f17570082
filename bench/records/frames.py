"""Rows as pandas DataFrames, typed by column (not parsed from text, nor guessed from what one
run happened to hold): flags are nullable booleans, counts nullable integers, figures floats,
and an empty cell is <NA>, never 0. pandas is imported by the caller's first use only.

The type of every numeric or flag column is declared here. Guessed from values, a count column
with one empty cell came out Float64 (pandas had already turned its integers into floats) and a
column empty in every row came out string, so two frames of the same columns did not concat
into one typed frame.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

BOOLEAN = "boolean"
INTEGER = "Int64"
FLOAT = "Float64"
TEXT = "string"

_FLAGS = (
    "precision_met launch_bound noisy shares_storage matches_reference backward_ok steady "
    "contended count_data_dependent drifting count_partial throttled"
)
_COUNTS = (
    "batch_size params trainable_params flops macs samples peak_memory_bytes peak_reserved_bytes "
    "resident_bytes activation_peak_bytes param_bytes buffer_bytes rss_peak_bytes fvcore_macs "
    "buffers model_size_bytes warmup_iterations iterations_per_sample threads interop_threads "
    "numel allocated_bytes backoff_from graph_breaks repeat samples_per_block blocks processes "
    "instructions sm_clock_min_mhz base_instructions new_instructions"
)
_FIGURES = (
    "latency_median_ms latency_iqr_ms latency_p90_ms latency_min_ms latency_mean_ms "
    "throughput_per_s achieved_gflops_per_s peak_fraction latency_p99_ms latency_std_ms "
    "latency_ci_low_ms latency_ci_high_ms precision_target first_call_ms wall_median_ms "
    "compile_ms others_cpu_share load_avg block_cv block_lag1 "
    "base_median_ms new_median_ms ratio ci_low ci_high p_value"
)
KINDS: Mapping[str, str] = {
    **dict.fromkeys(_FLAGS.split(), BOOLEAN),
    **dict.fromkeys(_COUNTS.split(), INTEGER),
    **dict.fromkeys(_FIGURES.split(), FLOAT),
}
"""The type of each column of results.csv and of `bench.compare`'s frame that is not text."""


def results_frame(results: Sequence[Any], columns: Sequence[str]) -> Any:
    """Results (bench.records.Result) as `columns` (results.csv's), typed, then `notes`: a
    row's notes joined with `; `, the reasons a CSV leaves to run.json and the report."""
    rows = [{**result.row(), "notes": "; ".join(result.notes)} for result in results]
    return frame_of(rows, (*columns, "notes"))


def frame_of(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> Any:
    """A DataFrame of `rows` (dicts of a record's values) with `columns`, each of its declared
    type (KINDS; text otherwise), built column by column from the values themselves."""
    import pandas as pd

    return pd.DataFrame(
        {name: _column([row.get(name) for row in rows], KINDS.get(name, TEXT)) for name in columns},
        columns=list(columns),
    )


def _column(values: list[Any], kind: str) -> Any:
    import pandas as pd

    cells = [_cell(value) for value in values]
    if kind == TEXT:  # a text column's odd value (a number in `variant`) is its text
        cells = [None if cell is None else str(cell) for cell in cells]
    if kind == INTEGER and any(isinstance(c, float) and not c.is_integer() for c in cells):
        kind = FLOAT  # a record that holds a fraction there: keep it rather than fail to load
    return pd.array(cells, dtype=kind)


def _cell(value: Any) -> Any:
    """None for an empty cell (None, NaN or the empty text a row writes for it)."""
    if value is None or value == "" or (isinstance(value, float) and value != value):
        return None
    return value
