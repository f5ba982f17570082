"""Library log lines go to run.log while a run measures, not between the progress lines.

torch logs through its own stderr handler (`W1204 17:41:00.396000 ... cpp_extension.py:183] No
CUDA runtime is found`, when torch.compile first imports its C++ toolchain); other libraries log
through the root logger, whose last-resort handler prints warnings to stderr; a warning raised
outside a case (the cases record theirs as notes) goes to stderr too. Inside `to_run_log`, all of
them become run.log lines, `library: logger: message`, and stderr keeps bench's own progress.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator

LIBRARY_LOGGERS = ("torch",)
"""Loggers that keep their own handlers and do not propagate: their handlers are swapped."""


class RunLogHandler(logging.Handler):
    """Writes each record as one run.log line; a failing write loses the line, never the run."""

    def __init__(self, write: Callable[[str], None]) -> None:
        super().__init__(logging.INFO)
        self.write_line = write

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = " ".join(record.getMessage().split())
            self.write_line(f"library: {record.name}: {record.levelname.lower()}: {text}")
        except Exception:
            pass


@contextlib.contextmanager
def to_run_log(write: Callable[[str], None]) -> Iterator[RunLogHandler]:
    """Route library logging (and warnings outside cases) to `write` inside the block."""
    handler = RunLogHandler(write)
    root = logging.getLogger()
    saved = {name: logging.getLogger(name).handlers[:] for name in LIBRARY_LOGGERS}
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).handlers = [handler]
    root.addHandler(handler)
    logging.captureWarnings(True)
    try:
        yield handler
    finally:
        logging.captureWarnings(False)
        root.removeHandler(handler)
        for name, handlers in saved.items():
            logging.getLogger(name).handlers = handlers
