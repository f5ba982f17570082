"""The one writer of a run directory while a run measures: results.csv, cases.jsonl, run.json
(the header) and run.log, opened together, written in one order, closed together.

Durability order, per finished case: its entry is appended to cases.jsonl (one write, fsynced),
then its row to results.csv (likewise). So every row in results.csv has its entry even if the
process is killed between the two, and `--resume` can trust the CSV as the list of finished
cases. Each case costs two appends, whatever the number of cases before it; run.json is written
at the start and the end only.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.console import phases
from bench.errors import WriteError, write_error
from bench.report.index import update_index
from bench.report.rebuild import write_report
from bench.store.entries import entry_of
from bench.store.rundir import (
    CASES_JSONL,
    RESULTS_CSV,
    CsvWriter,
    EntryLog,
    deferred_signals,
    discard_run_dir,
    entry_line,
    new_run_dir,
    write_header,
)
from bench.store.runlog import RUN_LOG, RunLog


@dataclass
class RunWriter:
    run_dir: Path
    header: dict[str, Any]
    rows: CsvWriter
    entries: EntryLog
    log: RunLog
    results: list[Any] = field(default_factory=list)

    @classmethod
    def create(cls, out: Path, suite_name: str, header: dict[str, Any]) -> RunWriter:
        """A new run directory under `out`; nothing is left behind if it cannot be set up."""
        run_dir = new_run_dir(out, suite_name)
        opened: list[Any] = []
        try:
            rows = CsvWriter(run_dir / RESULTS_CSV)
            opened.append(rows)
            entries = EntryLog(run_dir / CASES_JSONL)
            opened.append(entries)
            log = RunLog(run_dir / RUN_LOG)
            opened.append(log)
            write_header(run_dir, header)
        except BaseException:
            for file in opened:
                file.close()
            discard_run_dir(run_dir)
            raise
        return cls(run_dir, header, rows, entries, log)

    @classmethod
    def resume(
        cls,
        run_dir: Path,
        rows: CsvWriter,
        header: dict[str, Any],
        kept: Sequence[Any],
        kept_entries: Sequence[dict[str, Any]],
    ) -> RunWriter:
        """Go on writing `run_dir`, whose results.csv `rows` holds (locked, already cut to the
        kept rows). cases.jsonl is rewritten to the kept rows' entries, in their order: an entry
        whose row never made it (killed between the two appends) goes, and a format-1 run's
        cases move out of run.json."""
        entries = EntryLog(run_dir / CASES_JSONL, resume=True)
        try:
            entries.rewrite("".join(entry_line(e) for e in kept_entries).encode("utf-8"))
            log = RunLog(run_dir / RUN_LOG)
            write_header(run_dir, header)
        except BaseException:
            entries.close()
            raise
        return cls(run_dir, header, rows, entries, log, list(kept))

    def add(self, result: Any) -> Any:
        """Entry, then row: see the module's durability order. Returns the result as written:
        when the run directory was deleted under the run (a model removing `results/`), it is
        written again first, from the rows measured so far, and this row says so."""
        if not self.run_dir.is_dir():
            self._write_again()
            note = (
                f"the run directory was deleted while this case ran; bench wrote it again from "
                f"the {len(self.results)} row(s) measured before it (run.log's earlier lines are "
                "lost)"
            )
            if dataclasses.is_dataclass(result) and hasattr(result, "notes"):
                result = dataclasses.replace(result, notes=(*result.notes, note))
        self.entries.append(entry_of(result))
        self.rows.append(result.row())
        self.results.append(result)  # only now: an interruption above leaves it out everywhere
        return result

    def _write_again(self) -> None:
        """The run directory, made again from memory: header, every finished entry and row, and
        a log that says what happened. The old files' descriptors point at deleted files."""
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise write_error(
                self.run_dir, exc, "was deleted during the run; cannot create it again"
            ) from None
        for old in (self.rows, self.entries, self.log):
            with contextlib.suppress(WriteError, OSError):
                old.close()
        self.rows = CsvWriter(self.run_dir / RESULTS_CSV)
        self.entries = EntryLog(self.run_dir / CASES_JSONL)
        self.log = RunLog(self.run_dir / RUN_LOG)
        for result in self.results:
            self.entries.append(entry_of(result))
            self.rows.append(result.row())
        write_header(self.run_dir, self.header)
        self.log.write(
            f"the run directory was deleted during the run; written again from the "
            f"{len(self.results)} row(s) measured so far (the log's earlier lines are lost)"
        )

    def close(self, complete: bool, extra: dict[str, Any] | None = None) -> WriteError | None:
        """Write run.json and report.md (each atomically) and close the files; every step is
        tried even if an earlier one failed (a full disk), and the first failure is returned.
        Signals wait until the files are whole."""
        self.header.update(extra or {}, complete=complete)
        if not self.run_dir.is_dir():  # deleted after the last case: every row is in memory
            try:
                self._write_again()
            except WriteError as exc:
                return exc
        steps: list[Callable[[], None]] = [
            self.rows.close,
            self.entries.close,
            lambda: write_header(self.run_dir, self.header),
            self._write_report,
            self._update_index,
            lambda: self.log.write(
                f"{'finished' if complete else 'interrupted'}: {len(self.results)} rows written"
            ),
            self.log.close,
        ]
        failures: list[WriteError] = []
        with deferred_signals():
            for step in steps:
                try:
                    step()
                except WriteError as exc:
                    failures.append(exc)
        return failures[0] if failures else None

    def _write_report(self) -> None:
        phases.announce(phases.REPORT)
        try:
            write_report(self.run_dir)
        except OSError as exc:  # plots are written with matplotlib, not write_atomic
            raise write_error(self.run_dir, exc, "cannot write the report") from None

    def _update_index(self) -> None:
        try:
            update_index(self.run_dir.parent)
        except OSError as exc:
            raise write_error(self.run_dir.parent, exc, "cannot write index.md") from None
