"""A run as a pandas DataFrame: `bench.load(run_dir)`.

Columns keep the CSV's names (units in the names: `_ms`, `_bytes`); their types come from the
values the records hold, not from parsing text: flags are nullable booleans, counts nullable
integers, figures floats, and an empty cell is <NA>, never 0.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from bench.records import COLUMNS
from bench.records.frames import typed
from bench.store.readback import RunReadError, read_record, results_from_record


def load(run_dir: str | Path) -> pd.DataFrame:
    """A run's rows (results.csv's columns, in its order), typed."""
    path = Path(run_dir)
    record = read_record(path, RunReadError)
    rows = [_row(result) for result in results_from_record(record, path / "run.json")]
    return typed(pd.DataFrame.from_records(rows, columns=list(COLUMNS)))


def _row(result: Any) -> dict[str, Any]:
    return result.row()
