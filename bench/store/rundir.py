"""Run directories and the files in them.

Each run gets a new directory, created exclusively, so two runs (even in the same second, even
concurrently) never share or overwrite files. Rows are appended and flushed as cases finish, so a
run that dies keeps every finished row; JSON and markdown are written atomically (temp + rename).
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import errno
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
from bench.records import COLUMNS

RESULTS_CSV = "results.csv"
REPORT_MD = "report.md"
RUN_JSON = "run.json"
FORMAT_VERSION = 2
"""run.json's layout. 1: the cases inside run.json, rewritten whole after each case. 2: run.json
is the run's header (suite, environment, shard, merge and profile data) and the cases are
appended to cases.jsonl. Both are read (bench.store.readback)."""
CASES_JSONL = "cases.jsonl"  # run.json format 2: the cases, one per line


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
    for name in (RESULTS_CSV, RUN_JSON, CASES_JSONL, REPORT_MD, "run.log"):
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


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def format_cell(value: Any) -> str:
    """Empty for missing values; fixed formats so identical runs write identical text.

    Text that a spreadsheet would take for a formula (an error message such as `=HYPERLINK(...)`
    raised by a model, opened from results.csv in Excel or LibreOffice) gets a leading `'`, as
    OWASP advises for CSV injection; numbers, negative ones included, are written as they are."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return str(value)


class AppendOnlyFile:
    """A run file that grows one complete, fsynced line per finished case.

    Each line goes to the file in a single `os.write` on an O_APPEND descriptor and is fsynced, so
    a process killed at any moment (SIGKILL included) leaves only complete lines behind; a write
    that fails half way is cut off again. The file is locked: two processes appending to one run
    (e.g. two --resume of it) would interleave. With `resume=True` the existing lines are kept.
    """

    def __init__(self, path: Path, resume: bool = False) -> None:
        self.path = path
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | (0 if resume else os.O_TRUNC)
        try:
            self._fd: int | None = os.open(path, flags, 0o644)
        except OSError as exc:
            raise write_error(path, exc, "cannot open") from None
        try:
            if fcntl is not None:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.close()
            raise BenchError(f"{path}: another bench process is writing this run") from None

    def append_line(self, line: str) -> None:
        if self._fd is None:
            raise ValueError(f"{self.path} is closed")
        data = line.encode("utf-8")
        size = os.fstat(self._fd).st_size
        try:
            while data:  # a write may take part of a line; the next one then says why it stops
                written = os.write(self._fd, data)
                if written == 0:
                    raise OSError(errno.ENOSPC, "no byte written")
                data = data[written:]
            os.fsync(self._fd)
        except OSError as exc:
            with contextlib.suppress(OSError):  # never leave a torn line behind
                os.ftruncate(self._fd, size)
            raise write_error(self.path, exc) from None

    def rewrite(self, data: bytes) -> None:
        """Replace the file's contents with `data` (a resumed run's cut or filtered lines), whole
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


def csv_line(cells: Any) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(cells)
    return buffer.getvalue()


class CsvWriter(AppendOnlyFile):
    """results.csv: the header, then one row per finished case (see AppendOnlyFile)."""

    def __init__(self, path: Path, resume: bool = False) -> None:
        super().__init__(path, resume)
        if not resume:
            self.append_line(csv_line(COLUMNS))

    def append(self, row: dict[str, Any]) -> None:
        self.append_line(csv_line([format_cell(row.get(column)) for column in COLUMNS]))


class EntryLog(AppendOnlyFile):
    """cases.jsonl: one run-record entry per line (bench.store.entries), appended as cases
    finish, so a run's bookkeeping costs the same for its last case as for its first."""

    def append(self, entry: dict[str, Any]) -> None:
        self.append_line(entry_line(entry))


def entry_line(entry: dict[str, Any]) -> str:
    """One entry as cases.jsonl holds it: compact, keys in the order written, one line."""
    return json.dumps(entry, separators=(",", ":"), allow_nan=True) + "\n"


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


def write_header(run_dir: Path, header: dict[str, Any]) -> None:
    """run.json (format 2): everything about the run but its cases, which cases.jsonl holds.
    Written atomically at the start and the end of a run, never once per case."""
    record = {"format_version": FORMAT_VERSION, **header}
    record.pop("cases", None)
    write_atomic(run_dir / RUN_JSON, json.dumps(record, indent=2, default=str) + "\n")
