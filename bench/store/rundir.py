"""Run directories and the files in them.

Each run gets a new directory, created exclusively, so two runs (even in the same second, even
concurrently) never share or overwrite files. Rows are appended and flushed as cases finish, so a
run that dies keeps every finished row; JSON and markdown are written atomically (temp + rename).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime
import errno
import functools
import hashlib
import io
import json
import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.errors import BenchError, WriteError, write_error

try:  # POSIX; elsewhere runs are not locked against a concurrent --resume
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]
from bench.records import COLUMNS, Case, Result

RESULTS_CSV = "results.csv"
REPORT_MD = "report.md"
RUN_JSON = "run.json"


MAX_SLUG = 100  # a long suite name must not make the directory name too long for the disk


def new_run_dir(out: Path, suite_name: str, now: datetime.datetime | None = None) -> Path:
    """Create `<out>/<YYYYmmdd-HHMMSS>-<suite>[-N]`; never reuse an existing directory.

    WriteError (one line) when `out` cannot hold it; folders made on the way are removed again,
    so a failure leaves nothing behind.
    """
    now = now or datetime.datetime.now()
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", suite_name).strip("-")[:MAX_SLUG].strip("-")
    stem = f"{now:%Y%m%d-%H%M%S}-{slug or 'suite'}"
    made = [parent for parent in (out, *out.parents) if not parent.exists()]
    try:
        out.mkdir(parents=True, exist_ok=True)
        for attempt in range(1000):
            candidate = out / (stem if attempt == 0 else f"{stem}-{attempt}")
            try:
                candidate.mkdir()
            except FileExistsError:
                continue
            return candidate
        raise FileExistsError(errno.EEXIST, "1000 run directories of this name exist")
    except OSError as exc:
        for folder in made:  # deepest first; only the ones this call created, and only if empty
            with contextlib.suppress(OSError):
                folder.rmdir()
        if isinstance(exc, FileExistsError | NotADirectoryError) and not out.is_dir():
            raise WriteError(f"{out}: --out must be a directory (or a path to create)") from None
        raise write_error(out, exc, "cannot create the run directory") from None


def discard_run_dir(folder: Path) -> None:
    """Undo new_run_dir when the new run could not be set up: remove the files bench puts
    there, then the folder (left in place if anything else is in it)."""
    for name in (RESULTS_CSV, RUN_JSON, REPORT_MD, "run.log"):
        for path in (folder / name, folder / f".{name}.tmp"):
            with contextlib.suppress(OSError):
                path.unlink()
    with contextlib.suppress(OSError):
        folder.rmdir()


@contextlib.contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block is done (the final run.json and report): a
    Ctrl-C then arrives after the files are whole, never half way through them."""
    held = {signal.SIGINT, signal.SIGTERM}
    try:
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    except (AttributeError, OSError, ValueError):  # no pthread_sigmask here: write as is
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


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
        try:
            self._fd: int | None = os.open(path, flags, 0o644)
        except OSError as exc:
            raise write_error(path, exc, "cannot open") from None
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
        size = os.fstat(self._fd).st_size
        try:
            written = os.write(self._fd, data)
            if written != len(data):  # a full disk can write part of a line
                raise OSError(errno.ENOSPC, f"short write: {written} of {len(data)} bytes")
            os.fsync(self._fd)
        except OSError as exc:
            with contextlib.suppress(OSError):  # never leave a torn line behind
                os.ftruncate(self._fd, size)
            raise write_error(self.path, exc) from None

    def rewrite(self, data: bytes) -> None:
        """Replace the file's contents with `data` (a resumed run's cut or filtered rows), whole
        or not at all: a locked temporary sibling is written, then renamed over the file."""
        target = self.path.resolve()  # through a symlink, replace the file it names
        temporary = target.with_name(f".{target.name}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.write(fd, data) != len(data):
                raise OSError(f"short write to {temporary}")
            os.fsync(fd)
            os.replace(temporary, target)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        self.close()
        self._fd = fd

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def write_atomic(path: Path, text: str) -> None:
    """Write to a temporary sibling, then rename: readers see the old file or the new, whole."""
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    except OSError as exc:
        with contextlib.suppress(OSError):  # a full disk must not leave the half-written temp
            temporary.unlink()
        raise write_error(path, exc) from None


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
        "data_dependent_ops": dict(details.data_dependent_ops),
        # the torchinfo table, so `bench report` can rebuild the report from run.json alone
        "layers": [dataclasses.asdict(layer) for layer in details.layers],
    }


def json_value(value: Any) -> Any:
    """`value` as run.json stores it (a datetime becomes its text), so --resume compares like
    with like."""
    return json.loads(json.dumps(value, default=str))


def case_definition(case: Case) -> dict[str, Any]:
    """Everything in the suite that decides what a case measures, as run.json stores it.

    `--resume` refuses a run whose finished rows were defined differently: rows of a `16x8`
    input next to rows of `32x3x8`, or of another checkpoint, must never share a table. The
    checkpoint is identified by its content, not its name.
    """
    spec = case.model
    # the shorthand is recorded as before, so runs made before `inputs` existed still resume
    inputs: dict[str, Any] = (
        {"inputs": [i.definition() for i in spec.inputs]}
        if spec.inputs
        else {"input_shape": list(spec.input_shape)}
    )
    if spec.batch_as_list:
        inputs["batch_as_list"] = True
    return json_value(
        {
            "factory": spec.factory,
            "kwargs": dict(spec.kwargs),
            **inputs,
            "checkpoint_sha256": file_sha256(spec.checkpoint) if spec.checkpoint else None,
            "trust_checkpoint": spec.trust_checkpoint,
            "budget_s": case.timing.budget_s,
            "precision": case.timing.precision,
            "threads": case.timing.threads,
        }
    )


def file_sha256(path: Path) -> str | None:
    """A file's SHA-256 (cached while its size and mtime stay), or None if it cannot be read."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return _sha256(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _sha256(path: str, size: int, mtime_ns: int) -> str | None:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


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
                "definition": case_definition(result.case),
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
                "matmul_peak_gflops": result.matmul_peak_gflops,
            }
        )
    record = {"suite_path": suite_path, "environment": environment, **(extra or {}), "cases": cases}
    return json.dumps(record, indent=2, default=str) + "\n"
