"""The one error family for user mistakes; the CLI turns these into `error: ...` and exit 2."""


class BenchError(Exception):
    """A mistake the user can fix (bad suite, bad arguments). Never a bug in bench itself."""


class SuiteError(BenchError):
    """An invalid suite file. The message names the file, the entry and what is allowed."""

    def __init__(self, path: object, entry: str, problem: str) -> None:
        self.path = str(path)
        self.entry = entry
        self.problem = problem
        super().__init__(f"{self.path}: {entry}: {problem}")


class FactoryError(BenchError):
    """A model factory string that does not name an importable callable."""
