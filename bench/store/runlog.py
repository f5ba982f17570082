"""run.log: the run's diary, with what stderr leaves out on purpose.

stderr gets one line per case so a long run stays readable; the full traceback of every failing
case, every warning note, OOM backoffs, interruptions and resumes go here, in the run directory,
next to the rows they explain. Lines are flushed as written, so a killed run keeps its log.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import IO

from bench.errors import write_error
from bench.records import Result

RUN_LOG = "run.log"


class RunLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._file: IO[str] | None = path.open("a", encoding="utf-8")
        except OSError as exc:
            raise write_error(path, exc, "cannot open") from None

    def write(self, message: str) -> None:
        if self._file is None:
            return
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        try:
            self._file.write(f"{stamp} {message.rstrip()}\n")
            self._file.flush()
        except OSError as exc:
            raise write_error(self.path, exc) from None

    def case(self, index: int, total: int, result: Result) -> None:
        """One line per case, then its notes and (for a failure) the full traceback, indented."""
        line = f"[{index}/{total}] {result.case.label}: {result.status}"
        if result.error:
            line += f": {result.error}"
        lines = [line]
        lines += [f"    note: {note}" for note in result.notes]
        if result.detail:
            lines += ["    " + text for text in result.detail.rstrip().splitlines()]
        self.write("\n".join(lines))

    def close(self) -> None:
        if self._file is not None:
            file, self._file = self._file, None
            try:
                file.close()
            except OSError as exc:  # close flushes: a full disk can still say so here
                raise write_error(self.path, exc) from None
