"""Run directories and the files in them.

Each run gets a new directory, created exclusively, so two runs (even in the same second, even
concurrently) never share or overwrite files. Rows are appended and flushed as cases finish, so a
run that dies keeps every finished row; JSON and markdown are written atomically (temp + rename).
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import io
import json
import os
import re
from pathlib import Path
from typing import Any

from bench.errors import BenchError

try:  # POSIX; elsewhere runs are not locked against a concurrent --resume
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]
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
    """Appends one complete, flushed line per finished case to results.csv.

    Each line goes to the file in a single `os.write` on an O_APPEND descriptor and is fsynced, so
    a process killed at any moment (SIGKILL included) leaves only complete lines behind. With
    `resume=True` the existing file is kept and written after (see bench.store.resume).
    """

    def __init__(self, path: Path, resume: bool = False) -> None:
        self.path = path
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | (0 if resume else os.O_TRUNC)
        self._fd: int | None = os.open(path, flags, 0o644)
        try:  # two processes appending to one run (e.g. two --resume of it) would interleave
            if fcntl is not None:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.close()
            raise BenchError(f"{path}: another bench process is writing this run") from None
        if not resume:
            self._write(COLUMNS)

    def append(self, result: Result) -> None:
        row = result.row()
        self._write([format_cell(row.get(column)) for column in COLUMNS])

    def _write(self, cells: Any) -> None:
        if self._fd is None:
            raise ValueError(f"{self.path} is closed")
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow(cells)
        data = buffer.getvalue().encode("utf-8")
        written = os.write(self._fd, data)
        if written != len(data):  # regular files write whole; say so loudly if one did not
            raise OSError(f"short write to {self.path}: {written} of {len(data)} bytes")
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


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


def run_record(
    results: list[Any],
    environment: dict[str, Any],
    suite_path: str,
    extra: dict[str, Any] | None = None,
) -> str:
    """run.json: the environment plus, per case, its row, raw samples and notes.

    `extra` adds top-level keys such as `complete` and `sessions` for --resume.
    """
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
                # CUDA host wall per sample, the CI's confidence, flags as measured
                "latency_wall_samples_ms": list(lat.wall_samples_ms) if lat else [],
                "latency_ci_confidence": lat.confidence if lat else None,
                "latency_measure_s": lat.measure_s if lat else None,
                # the contention probe's raw reading (the row has its share and verdict)
                "contention": dataclasses.asdict(lat.contention)
                if lat and lat.contention
                else None,
                "numerics_flags": dict(result.numerics_flags),
            }
        )
    record = {"suite_path": suite_path, "environment": environment, **(extra or {}), "cases": cases}
    return json.dumps(record, indent=2, default=str) + "\n"
