"""Progress on stderr: rich's live display on a terminal, plain lines anywhere else.

The live display redraws itself (elapsed time keeps ticking through a long case); the plain
lines are written once per finished case, so logs and pipes get no escape codes.
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Any, TextIO

from bench.console.phases import listening
from bench.console.streams import silence
from bench.errors import one_line
from bench.units import significant


def case_line(index: int, total: int, case: Any, result: Any) -> str:
    """`[i/n] label: status detail`, the interval labelled so it is not mistaken for a spread."""
    detail = result.error if result.status != "ok" else ""
    lat = getattr(result, "latency", None)  # a profile's result has none
    if lat is not None:
        detail = f"median {significant(lat.median_ms)} ms"
        if lat.steady is False:  # an interval over a slow start is no precision: say what to do
            detail += ", not steady: raise --budget"
        elif lat.ci_low_ms is not None:
            detail += f" (95% CI {lat.interval_text()})"
        doubts = [d for d in lat.doubts() if not d.startswith("not steady")]
        if lat.steady is not False and lat.precision_met is False:
            doubts.insert(0, "precision target not met")
        if doubts:
            detail += f", {'; '.join(doubts)}"
    return one_line(f"[{index}/{total}] {case.label}: {result.status} {detail}".rstrip())


class ProgressDisplay:
    """The pipeline's progress callback: (index, total, case, None) before a case, then with
    its result after. Call `close()` when the run ends, however it ends."""

    def __init__(self, stream: TextIO | None = None, interactive: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        if interactive is None:
            interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self._progress = _live(self.stream) if interactive else None
        self._task: Any = None
        self.results: list[Any] = []

    def __call__(self, index: int, total: int, case: Any, result: Any) -> None:
        if result is not None:
            self.results.append(result)
        if self._progress is None:
            if result is not None:
                try:
                    print(case_line(index, total, case, result), file=self.stream, flush=True)
                except (OSError, ValueError):  # a closed stderr does not stop a run
                    silence(self.stream)
            return
        model = getattr(getattr(case, "model", None), "name", None) or case.label
        if result is None:
            fields = {"case": case.label, "model": model, "phase": "starting"}
            if self._task is None:
                self._task = self._progress.add_task("", total=total, **fields)
            self._progress.update(self._task, completed=index - 1, total=total, **fields)
            now = time.monotonic()
            self._progress.update(self._task, case_started=now, phase_started=now)
            return
        line = case_line(index, total, case, result)
        self._progress.console.print(line, highlight=False, markup=False, soft_wrap=True)
        self._progress.update(self._task, completed=index, phase="finished")

    def phase(self, name: str) -> None:
        """A phase announcement (bench.console.phases): shown with its own elapsed time, also
        before the first case (the run's valgrind pass for instructions takes minutes)."""
        if self._progress is None:
            return
        now = time.monotonic()
        if self._task is None:
            fields = {"case": "before the cases", "model": "", "case_started": now}
            self._task = self._progress.add_task("", total=None, **fields, phase=name)
        self._progress.update(self._task, phase=name, phase_started=now)

    def listening(self) -> contextlib.AbstractContextManager[None]:
        """The block during which this display shows the phases the run announces."""
        return listening(self.phase)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def _live(stream: TextIO) -> Any:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.text import Text

    class Elapsed(ProgressColumn):
        """Seconds since a task field's time: the case's or its phase's (the bar's own elapsed
        is the whole run)."""

        def __init__(self, field: str, label: str) -> None:
            super().__init__()
            self.field, self.label = field, label

        def render(self, task: Any) -> Text:
            started = task.fields.get(self.field)
            seconds = 0.0 if started is None else time.monotonic() - started
            return Text(f"{self.label}{seconds:5.1f}s")

    progress = Progress(
        SpinnerColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[case]}"),
        TextColumn("[dim]{task.fields[phase]}"),
        Elapsed("phase_started", ""),
        Elapsed("case_started", "case "),
        BarColumn(),
        TextColumn("run"),
        TimeElapsedColumn(),
        console=Console(file=stream),
        transient=True,
    )
    progress.start()
    return progress
