"""run.json back into the records the report renders: the report's only input is run.json.

`bench run` renders its report from what it has just written, read back through here, and
`bench report RUN_DIR` does the same later; so the two cannot disagree, and the same run.json
always gives the same report, byte for byte. Statistics are recomputed from the raw samples by
the same constructors that computed them during the run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.store.entries import result_of
from bench.store.rundir import CASES_JSONL, FORMAT_VERSION, RUN_JSON


class RunReadError(BenchError):
    """A directory that is not a bench run, or a run.json this version cannot read."""


def read_record(
    run_dir: Path, error: type[BenchError] = RunReadError, purpose: str = ""
) -> dict[str, Any]:
    """The run record of a run directory, its cases under "cases" whichever format wrote it, or
    `error` in one line saying why it is not one; `purpose` (e.g. "cannot resume") ends the
    message. The one reader for report, resume, merge, compare and the index."""
    tail = f"; {purpose}" if purpose else ""
    path = run_dir / RUN_JSON
    if not run_dir.is_dir():
        raise error(f"{run_dir}: not a directory, so it is not a bench run directory{tail}")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{path}: not found; {run_dir} is not a bench run directory{tail}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(f"{path}: unreadable ({type(exc).__name__}){tail}") from None
    if not isinstance(record, dict):
        raise error(f"{path}: not a bench run record{tail}")
    version = record.get("format_version", 1)
    if version == 1 and not isinstance(record.get("cases"), list):
        raise error(f"{path}: not a bench run record (no 'cases' list){tail}")
    if version not in (1, FORMAT_VERSION):
        raise error(
            f"{path}: format_version {version!r}; this bench reads 1 and {FORMAT_VERSION} "
            f"(a newer bench wrote it?){tail}"
        )
    if version == FORMAT_VERSION:
        record["cases"] = read_entries(run_dir / CASES_JSONL, error, tail)
    return record


def read_entries(path: Path, error: type[BenchError], tail: str = "") -> list[dict[str, Any]]:
    """cases.jsonl's entries; a torn last line (a process killed mid-write: no newline) is
    left out, as that case never finished. A missing file is a run with no finished case."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise error(f"{path}: unreadable ({exc.strerror}){tail}") from None
    entries = []
    for number, line in enumerate(data.splitlines(keepends=True), start=1):
        if not line.endswith(b"\n"):
            break
        try:
            entry = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise error(f"{path}: line {number} is not JSON{tail}") from None
        if not isinstance(entry, dict):
            raise error(f"{path}: line {number} is not a case entry{tail}")
        entries.append(entry)
    return entries


def results_from_record(record: dict[str, Any], where: Path) -> list[Any]:
    """Every case of the record as a Result or ExperimentResult, in the run's order."""
    base_dir = Path(str(record.get("suite_file") or where)).parent
    results: list[Any] = []
    for number, entry in enumerate(record["cases"], start=1):
        try:
            results.append(result_of(entry, base_dir))
        except (KeyError, ValueError, TypeError) as exc:
            raise RunReadError(
                f"{where}: case {number}: malformed ({type(exc).__name__}: {exc})"
            ) from None
    return results
