"""A run as a pandas DataFrame: `bench.load(run_dir)`.

Columns keep the CSV's names (units in the names: `_ms`, `_bytes`); their types come from the
values the records hold, not from parsing text: flags are nullable booleans, counts nullable
integers, figures floats, and an empty cell is <NA>, never 0.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.records import COLUMNS
from bench.records.frames import results_frame
from bench.store.readback import RunReadError, read_record, results_from_record


def load(run_dir: str | Path) -> pd.DataFrame:
    """A run's rows: results.csv's columns in its order, typed, then `notes` (the row's notes
    from run.json, `; `-joined: why a cell is empty or a figure is flagged)."""
    path = Path(run_dir)
    record = read_record(path, RunReadError)
    return results_frame(results_from_record(record, path / "run.json"), COLUMNS)
