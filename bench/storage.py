"""Run directories and the files in them.

Each run gets a new directory, created exclusively, so two runs (even in the same second, even
concurrently) never share or overwrite files. Rows are appended and flushed as cases finish, so a
run that dies keeps every finished row; JSON and markdown are written atomically (temp + rename).
"""

from __future__ import annotations

import csv
import datetime
import json
import os
import re
from pathlib import Path
from typing import IO, Any

from bench.records import COLUMNS, Result

RESULTS_CSV = "results.csv"
REPORT_MD = "report.md"
RUN_JSON = "run.json"


def new_run_dir(out: Path, suite_name: str, now: datetime.datetime | None = None) -> Path:
    """Create `<out>/<YYYYmmdd-HHMMSS>-<suite>[-N]`; never reuse an existing directory."""
    now = now or datetime.datetime.now()
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", suite_name).strip("-") or "suite"
    stem = f"{now:%Y%m%d-%H%M%S}-{slug}"
    out.mkdir(parents=True, exist_ok=True)
    for attempt in range(1000):
        candidate = out / (stem if attempt == 0 else f"{stem}-{attempt}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise RuntimeError(f"could not create a new run directory under {out}")


def format_cell(value: Any) -> str:
    """Empty for missing values; fixed formats so identical runs write identical text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


class CsvWriter:
    """Appends one complete, flushed line per finished case to results.csv."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] = path.open("w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file, lineterminator="\n")
        self._write(COLUMNS)

    def append(self, result: Result) -> None:
        row = result.row()
        self._write([format_cell(row.get(column)) for column in COLUMNS])

    def _write(self, cells: Any) -> None:
        self._writer.writerow(cells)
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()


def write_atomic(path: Path, text: str) -> None:
    """Write to a temporary sibling, then rename: readers see the old file or the new, whole."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def _counting_record(result: Result) -> dict[str, Any] | None:
    """What the FLOP count covered: MACs per counted op, and the ops it ran without a formula."""
    details = result.counting
    if details is None:
        return None
    return {
        "flops_counted_on": details.counted_on,
        "macs_by_op": dict(details.macs_by_op),
        "uncounted_ops": dict(details.uncounted_ops),
        "fvcore_note": details.fvcore_note,
        "fvcore_skipped_ops": dict(details.fvcore_skipped_ops),
    }


def run_record(results: list[Result], environment: dict[str, Any], suite_path: str) -> str:
    """run.json: the environment plus, per case, its row, raw samples and notes."""
    cases = []
    for result in results:
        if hasattr(result, "record"):  # experiment rows describe themselves
            cases.append(result.record())
            continue
        lat = result.latency
        cases.append(
            {
                **result.row(),
                "factory": result.case.model.factory,
                "kwargs": dict(result.case.model.kwargs),
                "warmup_iterations": lat.warmup_iterations if lat else None,
                "latency_samples_ms": list(lat.samples_ms) if lat else [],
                "notes": list(result.notes),
                "memory": result.memory.detail() if result.memory else None,
                "counting": _counting_record(result),
                # issue 3: CUDA host wall per sample, the CI's confidence, flags as measured
                "latency_wall_samples_ms": list(lat.wall_samples_ms) if lat else [],
                "latency_ci_confidence": lat.confidence if lat else None,
                "latency_measure_s": lat.measure_s if lat else None,
                "numerics_flags": dict(result.numerics_flags),
            }
        )
    record = {"suite_path": suite_path, "environment": environment, "cases": cases}
    return json.dumps(record, indent=2, default=str) + "\n"
