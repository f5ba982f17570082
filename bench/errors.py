"""The one error family for user mistakes; the CLI turns these into `error: ...` and exit 2."""

import unicodedata


def one_line(text: str) -> str:
    """Escape line breaks so a message built from user text (a model name, an exception from a
    user's module) is always one line on stderr: the CLI's contract is one `error:` line. Every
    other control or line-separating character is escaped too (U+2028 splits a line for Python
    and editors; ESC starts a terminal escape sequence that could recolour or clear the screen)."""
    text = text.replace("\r", "\\r").replace("\n", "\\n")
    if text.isprintable():
        return text
    return "".join(
        f"\\u{ord(char):04x}"
        if unicodedata.category(char) in ("Cc", "Zl", "Zp") and char != "\t"
        else char
        for char in text
    )


class BenchError(Exception):
    """A mistake the user can fix (bad suite, bad arguments). Never a bug in bench itself."""


class SuiteError(BenchError):
    """An invalid suite file. The message names the file, the entry and what is allowed."""

    def __init__(self, path: object, entry: str, problem: str) -> None:
        self.path = str(path)
        self.entry = one_line(entry)
        self.problem = one_line(problem)
        super().__init__(f"{self.path}: {self.entry}: {self.problem}")


class FactoryError(BenchError):
    """A model factory string that does not name an importable callable."""


class ResumeError(BenchError):
    """`--resume` named a directory that is not an unfinished run of this suite."""


class WriteError(BenchError):
    """The run directory (or stdout) could not be written: not a directory, read-only, full,
    a name too long, a closed pipe. One `error:` line; exit 2, or 1 when some cases had already
    finished (their rows are on disk)."""

    def __init__(self, message: str, finished: int = 0) -> None:
        super().__init__(message)
        self.finished = finished


def write_error(path: object, exc: OSError, doing: str = "cannot write") -> WriteError:
    """WriteError naming the path and the system's reason (e.g. "No space left on device")."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    return WriteError(f"{path}: {doing} ({reason})")


class TerminatedError(KeyboardInterrupt):
    """SIGTERM, turned into an exception so a terminated run writes its report like Ctrl-C.

    A KeyboardInterrupt subclass on purpose: the per-case `except Exception` must not swallow it.
    """


class CaseUnsupported(Exception):
    """This machine or this model cannot run a case as asked: an optional package is missing, a
    variant does not apply to the input (channels_last on a 2-D input), a dtype has no kernel on
    the device. The case becomes a `skipped` row with this message and the run goes on; not a
    BenchError, because the suite itself is valid."""
