"""`bench run --resume RUN_DIR`: read what an interrupted run finished, so only the rest runs.

results.csv is the truth about which cases finished: a requested case (suite, model, mode,
device, dtype, batch size) with a row there is done, whatever its status (an error row is a
finished result; delete the row, or start a new run, to retry it). run.json supplies each row's
raw samples and notes; the pipeline rewrites it before appending each row, so every row has them.

The run directory must belong to the suite being resumed: same suite name, every row a case of
the suite as it is now, and each finished model still built by the same factory and kwargs.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench.errors import ResumeError
from bench.records import COLUMNS, Case, Contention, LatencyStats, Result
from bench.store.readback import read_record
from bench.store.rundir import RESULTS_CSV, case_definition

CaseKey = tuple[str, str, str, str, str, int, str, str, str]


@dataclass(frozen=True)
class PriorRun:
    """The finished part of an interrupted run."""

    results: tuple[Result, ...]
    finished: frozenset[CaseKey]
    record: dict[str, Any]
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
    if record.get("suite_name") not in (None, suite_name):
        raise ResumeError(
            f"{run_dir}: a run of suite {record['suite_name']!r}, not {suite_name!r}; "
            "resume it with its own suite file"
        )
    by_key = {case.key: case for case in cases}
    entries = {_entry_key(entry): entry for entry in record["cases"] if isinstance(entry, dict)}
    header, lines, torn = _read_lines(run_dir / RESULTS_CSV)
    results: list[Result] = []
    kept: list[bytes] = [header]
    for number, (line, row) in enumerate(lines, start=2):
        where = f"{run_dir / RESULTS_CSV}: line {number}"
        if row["suite"] != suite_name:
            raise ResumeError(f"{where}: suite {row['suite']!r}, not {suite_name!r}")
        key, backoff_from = _row_key(row, where)
        case = by_key.get(key)
        if case is None:
            raise ResumeError(
                f"{where}: {row['model']} {row['device']} {row['dtype']} b{row['batch_size']} "
                f"{row['mode']} is not a case of the suite now; start a new run"
            )
        entry = entries.get((key, backoff_from))
        if entry is None:
            raise ResumeError(f"{where}: no matching case in run.json; cannot resume")
        _same_definition(case, entry, row, where)
        if backoff_from is not None:
            case = replace(case, batch_size=int(row["batch_size"]), backoff_from=backoff_from)
        if retry_timeouts and row["status"] == "timeout":
            continue
        try:
            results.append(result_from_record(case, entry))
        except (KeyError, ValueError, TypeError) as exc:
            raise ResumeError(f"{where}: its run.json entry is malformed ({exc})") from None
        kept.append(line)
    finished = frozenset(r.case.key for r in results if r.case.backoff_from is None)
    rewrite = b"".join(kept) if torn or len(kept) != len(lines) + 1 else None
    return PriorRun(results=tuple(results), finished=finished, record=record, csv_rewrite=rewrite)


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
    changed = [
        key for key in sorted(recorded.keys() | now.keys()) if recorded.get(key) != now.get(key)
    ]
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


def _row_key(row: dict[str, str], where: str) -> tuple[CaseKey, int | None]:
    try:
        batch = int(row["batch_size"])
        backoff_from = int(row["backoff_from"]) if row["backoff_from"] else None
    except ValueError:
        raise ResumeError(f"{where}: batch_size/backoff_from are not integers") from None
    requested = backoff_from if backoff_from is not None else batch
    variant = row["variant"] if row["experiment"] == "model_inplace" else ""
    key = (row["suite"], row["model"], row["mode"], row["device"], row["dtype"], requested, variant)
    key += (row["memory_format"], row["compile"], row["dims"])
    return key, backoff_from


def _entry_key(entry: dict[str, Any]) -> tuple[CaseKey, int | None]:
    backoff_from = entry.get("backoff_from")
    requested = backoff_from if backoff_from is not None else entry.get("batch_size")
    fields = ("suite", "model", "mode", "device", "dtype")
    variant = entry.get("variant") if entry.get("experiment") == "model_inplace" else ""
    key = (*(entry.get(name) for name in fields), requested, variant or "")
    key += (entry.get("memory_format", "contiguous"), entry.get("compile", "eager"))
    key += (entry.get("dims") or "",)
    return key, backoff_from  # type: ignore[return-value]


def result_from_record(case: Case, entry: dict[str, Any]) -> Result:
    """A finished case rebuilt from its run.json entry: statistics recomputed from the raw
    samples, with the precision target, steadiness and contention reading as recorded."""
    samples = entry.get("latency_samples_ms") or []
    contention = entry.get("contention")
    latency = (
        LatencyStats.from_samples(
            samples,
            entry.get("warmup_iterations") or 0,
            precision_target=entry.get("precision_target"),
            steady=entry.get("steady"),
            contention=Contention(**contention) if isinstance(contention, dict) else None,
        )
        if samples
        else None
    )
    return Result(
        case=case,
        status=entry["status"],
        error=entry.get("error") or "",
        params=entry.get("params"),
        trainable_params=entry.get("trainable_params"),
        macs=entry.get("macs"),
        latency=latency,
        peak_memory_bytes=entry.get("peak_memory_bytes"),
        notes=tuple(entry.get("notes") or ()),
        compile_ms=entry.get("compile_ms"),
        graph_breaks=entry.get("graph_breaks"),
        matches_reference=entry.get("matches_reference"),
    )
