"""`bench run --resume RUN_DIR`: read what an interrupted run finished, so only the rest runs.

results.csv is the truth about which cases finished: a requested case (suite, model, mode,
device, dtype, batch size) with a row there is done, whatever its status (an error row is a
finished result; delete the row, or start a new run, to retry it). The run record supplies each
row's entry (bench.store.entries), appended before the row, so every row has one; the finished
results are read back from it whole (samples, memory, counting, notes, flags), so the resumed
run's record and report say what the first session measured.

The run directory must belong to the suite being resumed: same suite name, every row a case of
the suite as it is now, each finished model still built by the same factory, kwargs, factory file
content and checkpoint; and a run that `bench merge` made is not resumed (resume its shards).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench.errors import ResumeError
from bench.records import COLUMNS, Case, CaseKey, Result, key_of_entry
from bench.store.entries import case_definition, factory_file, result_of
from bench.store.readback import read_record
from bench.store.rundir import RESULTS_CSV


@dataclass(frozen=True)
class PriorRun:
    """The finished part of an interrupted run."""

    results: tuple[Result, ...]
    finished: frozenset[CaseKey]
    record: dict[str, Any]
    entries: tuple[dict[str, Any], ...]  # the kept rows' record entries, in the rows' order
    # what results.csv must become before the run goes on (a torn last line cut, timed-out rows
    # dropped for a retry); None: keep it as it is. Nothing is written while validating.
    csv_rewrite: bytes | None = None


def read_run_record(run_dir: Path) -> dict[str, Any]:
    """run.json of a run directory, or ResumeError saying why it is not one."""
    return read_record(run_dir, ResumeError, "cannot resume")


def load_prior_run(
    run_dir: Path, suite_name: str, cases: list[Case], retry_timeouts: bool = False
) -> PriorRun:
    """Validate the run against the suite as it is now, reading only; ResumeError says why not.

    With `retry_timeouts`, `timeout` rows are not finished: they are left out of the result (and
    of `csv_rewrite`), so their cases run again.
    """
    record = read_run_record(run_dir)
    if record.get("merged_from"):
        raise ResumeError(
            f"{run_dir}: made by `bench merge` from {len(record['merged_from'])} shards; "
            "resume the unfinished shards, then merge them again"
        )
    if record.get("suite_name") not in (None, suite_name):
        raise ResumeError(
            f"{run_dir}: a run of suite {record['suite_name']!r}, not {suite_name!r}; "
            "resume it with its own suite file"
        )
    by_key = {case.key: case for case in cases}
    entries = {_entry_key(entry, run_dir): entry for entry in record["cases"]}
    header, lines, torn = _read_lines(run_dir / RESULTS_CSV)
    results: list[Result] = []
    kept: list[bytes] = [header]
    kept_entries: list[dict[str, Any]] = []
    for number, (line, row) in enumerate(lines, start=2):
        where = f"{run_dir / RESULTS_CSV}: line {number}"
        if row["suite"] != suite_name:
            raise ResumeError(f"{where}: suite {row['suite']!r}, not {suite_name!r}")
        try:
            key, backoff_batch = key_of_entry(row)
        except ValueError:
            raise ResumeError(f"{where}: batch_size/backoff_from are not integers") from None
        case = by_key.get(key)
        if case is None:
            raise ResumeError(
                f"{where}: {row['model']} {row['device']} {row['dtype']} b{row['batch_size']} "
                f"{row['mode']} is not a case of the suite now; start a new run"
            )
        entry = entries.get((key, backoff_batch))
        if entry is None:
            raise ResumeError(f"{where}: no matching case in run.json; cannot resume")
        _same_definition(case, entry, row, where)
        if backoff_batch is not None:
            case = replace(case, batch_size=backoff_batch, backoff_from=key.batch)
        if retry_timeouts and row["status"] == "timeout":
            continue
        try:
            results.append(replace(result_of(entry, case.base_dir), case=case))
        except (KeyError, ValueError, TypeError) as exc:
            raise ResumeError(f"{where}: its run.json entry is malformed ({exc})") from None
        kept.append(line)
        kept_entries.append(entry)
    finished = frozenset(r.case.key for r in results if r.case.backoff_from is None)
    rewrite = b"".join(kept) if torn or len(kept) != len(lines) + 1 else None
    return PriorRun(
        results=tuple(results),
        finished=finished,
        record=record,
        entries=tuple(kept_entries),
        csv_rewrite=rewrite,
    )


def _same_definition(case: Case, entry: dict[str, Any], row: dict[str, str], where: str) -> None:
    """Refuse a row whose case the suite now defines differently (shape, checkpoint, kwargs...)."""
    shape = replace(case, batch_size=int(row["batch_size"])).input_shape_text
    if row["input_shape"] != shape:
        raise ResumeError(
            f"{where}: model {case.model.name!r} ran with input {row['input_shape']}, the suite "
            f"now gives {shape}; start a new run"
        )
    recorded = entry.get("definition")
    if not isinstance(recorded, dict):  # a run from before definitions were recorded
        recorded = {"factory": entry.get("factory"), "kwargs": entry.get("kwargs")}
    now = case_definition(case)
    if "factory_file_sha256" not in recorded:  # recorded before factory files were hashed
        now.pop("factory_file_sha256", None)
    changed = [
        key for key in sorted(recorded.keys() | now.keys()) if recorded.get(key) != now.get(key)
    ]
    if changed == ["factory_file_sha256"]:
        raise ResumeError(
            f"{where}: model {case.model.name!r}: its factory file "
            f"{factory_file(case.model.factory, case.base_dir)} changed since the run; "
            "start a new run"
        )
    if changed:
        raise ResumeError(
            f"{where}: model {case.model.name!r} changed since the run ({', '.join(changed)}); "
            "start a new run"
        )


def _read_lines(path: Path) -> tuple[bytes, list[tuple[bytes, dict[str, str]]], bool]:
    """(header line, [(line, row)], torn): a torn last line (no newline) is left out, as that
    case never ended; whether there was one is returned so the caller can cut it, later."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ResumeError(f"{path}: not found; cannot resume") from None
    except OSError as exc:
        raise ResumeError(f"{path}: unreadable ({exc.strerror}); cannot resume") from None
    torn = bool(data) and not data.endswith(b"\n")
    if torn:
        data = data[: data.rfind(b"\n") + 1]
    raw = data.splitlines(keepends=True)
    header = next(csv.reader([raw[0].decode("utf-8", errors="replace")]), []) if raw else []
    if tuple(header) != COLUMNS:
        raise ResumeError(
            f"{path}: its columns differ from this version of bench's; start a new run"
        )
    lines: list[tuple[bytes, dict[str, str]]] = []
    for number, line in enumerate(raw[1:], start=2):
        cells = next(csv.reader([line.decode("utf-8", errors="replace")]), [])
        if len(cells) != len(COLUMNS):
            raise ResumeError(f"{path}: line {number} does not have {len(COLUMNS)} cells")
        lines.append((line, dict(zip(COLUMNS, cells, strict=True))))
    return raw[0], lines, torn


def _entry_key(entry: Any, run_dir: Path) -> tuple[CaseKey, int | None]:
    try:
        return key_of_entry(entry)
    except (AttributeError, KeyError, ValueError, TypeError):
        raise ResumeError(
            f"{run_dir}: a case of its run record is malformed; cannot resume"
        ) from None
