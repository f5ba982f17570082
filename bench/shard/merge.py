"""`bench merge RUN_DIR...`: join the shards of one suite into one run directory.

A merged run must mean what an unsharded run means: every case of the suite once, measured under
conditions that make the rows comparable. So before anything is written the merge checks that
the shards belong to one suite (same name, same case list, same suite file), that no case was
measured twice (a shard given twice, or overlapping splits), and that the environments agree on
what changes numbers across machines: GPU model, torch, CUDA and cuDNN versions, and the thread
counts the rows ran with. `--force` lets an environment or suite-file difference through (it is
recorded in run.json and the report); a second suite or an overlap is always refused, since no
choice of rows would then be "every case once".

Each shard's results.csv must say what its run record says: a row whose cells differ from the
row its entry rebuilds (an edited CSV, a record from another run) is refused, naming the column.

results.csv is the shards' rows, verbatim, in the suite's case order; cases.jsonl holds their
entries; run.json (format 2) every shard's environment and what is missing. report.md is
rendered by the one report renderer (bench.report.rebuild), which opens a merged run's report
with the table of the machines each shard ran on, so `bench report` rebuilds it byte for byte.
Missing shards and cases are listed, not fatal: the merge of the shards that finished is still
worth reading.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import BenchError, one_line
from bench.records import COLUMNS, CaseKey, key_of_entry
from bench.report.index import INDEX_MD
from bench.report.rebuild import write_report
from bench.shard.partition import Shard, shard_from_record
from bench.store.entries import result_of
from bench.store.readback import read_record
from bench.store.rundir import (
    CASES_JSONL,
    RESULTS_CSV,
    RUN_JSON,
    entry_line,
    format_cell,
    new_run_dir,
    write_atomic,
    write_header,
)


class MergeError(BenchError):
    """Shards that cannot be merged; nothing has been written."""


@dataclass(frozen=True)
class ShardRun:
    """One shard's run directory as read back: its rows verbatim and their run.json entries."""

    run_dir: Path
    shard: Shard
    record: dict[str, Any]
    rows: tuple[tuple[str, ...], ...]
    entries: tuple[dict[str, Any], ...]  # one per row, same order
    keys: tuple[CaseKey, ...]  # the requested case of each row
    results: tuple[Any, ...]  # each row's Result, rebuilt from its entry (and checked against it)
    suite_cases: tuple[CaseKey, ...]
    shard_cases: frozenset[CaseKey]

    @property
    def environment(self) -> dict[str, Any]:
        env = self.record.get("environment")
        return env if isinstance(env, dict) else {}

    @property
    def complete(self) -> bool:
        return self.record.get("complete") is True


@dataclass(frozen=True)
class MergePlan:
    """What a merge will write, decided before anything is written."""

    shards: tuple[ShardRun, ...]
    suite_name: str
    suite_cases: tuple[CaseKey, ...]
    missing_shards: tuple[int, ...]  # 1-based indices of the count every shard shares
    missing_cases: tuple[CaseKey, ...]
    forced: tuple[str, ...]  # the differences --force let through


@dataclass(frozen=True)
class MergeOutcome:
    run_dir: Path
    plan: MergePlan
    results: tuple[Any, ...]

    @property
    def all_ok(self) -> bool:
        """Every case of the suite is here and ok (or skipped for a missing device)."""
        statuses_ok = all(r.status in ("ok", "skipped") for r in self.results)
        return statuses_ok and not self.plan.missing_cases


def read_shard(run_dir: Path) -> ShardRun:
    """A shard's run directory, or MergeError saying why it is not one (or why its rows cannot
    be trusted)."""
    path = run_dir / RUN_JSON
    record = read_record(run_dir, MergeError, "cannot merge it")
    try:
        shard = shard_from_record(record)
    except ValueError as exc:
        raise MergeError(f"{path}: {exc}; cannot merge it") from None
    if shard is None or not isinstance(record.get("suite_cases"), list):
        raise MergeError(
            f"{run_dir}: not a shard (run.json records no shard); "
            "merge runs made with `bench run SUITE --shard K/N`"
        )
    try:
        suite_cases = tuple(CaseKey.from_json(k) for k in record["suite_cases"])
        shard_cases = frozenset(CaseKey.from_json(k) for k in record.get("shard_cases") or ())
        entries = {key_of_entry(entry): entry for entry in record["cases"]}
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise MergeError(f"{path}: malformed case list ({exc}); cannot merge it") from None
    base_dir = Path(str(record.get("suite_file") or run_dir)).parent
    rows, matched, keys, results = [], [], [], []
    for number, row in _read_csv(run_dir / RESULTS_CSV):
        where = f"{run_dir / RESULTS_CSV}: line {number}"
        try:
            key, backoff_batch = key_of_entry(dict(zip(COLUMNS, row, strict=True)))
        except ValueError:
            raise MergeError(f"{where}: batch_size/backoff_from/numel are not integers") from None
        entry = entries.get((key, backoff_batch))
        if entry is None:
            raise MergeError(f"{where}: no matching case in its run record; cannot merge it")
        results.append(_same_row(row, entry, base_dir, where))
        rows.append(row)
        matched.append(entry)
        keys.append(key)
    return ShardRun(
        run_dir,
        shard,
        record,
        tuple(rows),
        tuple(matched),
        tuple(keys),
        tuple(results),
        suite_cases,
        shard_cases,
    )


def _same_row(row: tuple[str, ...], entry: dict[str, Any], base_dir: Path, where: str) -> Any:
    """The row's Result, rebuilt from its entry; refuse a results.csv row that says something
    else than its run record (an edited CSV, or a record from another run): the merge would
    report the record's figures under the row's."""
    try:
        result = result_of(entry, base_dir)
        rebuilt = result.row()
    except (KeyError, ValueError, TypeError) as exc:
        raise MergeError(f"{where}: its run record entry is malformed ({exc})") from None
    for column, cell in zip(COLUMNS, row, strict=True):
        recorded = format_cell(rebuilt[column])
        if cell != recorded:
            raise MergeError(
                f"{where}: {column} is {cell!r} in results.csv but {recorded!r} in run.json; "
                "the shard's files disagree, cannot merge it"
            )
    return result


def _read_csv(path: Path) -> list[tuple[int, tuple[str, ...]]]:
    """(line number, cells) of each complete row; a torn last line (no newline) is skipped, as
    that case never finished. The shard's files are only read, never changed."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise MergeError(f"{path}: not found; cannot merge it") from None
    if data and not data.endswith(b"\n"):
        data = data[: data.rfind(b"\n") + 1]
    lines = list(csv.reader(io.StringIO(data.decode("utf-8", errors="replace"))))
    if not lines or tuple(lines[0]) != COLUMNS:
        raise MergeError(f"{path}: its columns differ from this version of bench's")
    rows = []
    for number, cells in enumerate(lines[1:], start=2):
        if len(cells) != len(COLUMNS):
            raise MergeError(f"{path}: line {number} does not have {len(COLUMNS)} cells")
        rows.append((number, tuple(cells)))
    return rows


def _thread_counts(shard: ShardRun) -> list[list[Any]]:
    """The (intra-op, inter-op) counts the rows ran with; the environment's without any."""
    pairs = sorted(
        {(e["threads"], e.get("interop_threads")) for e in shard.entries if e.get("threads")}
    )
    if not pairs:
        env = shard.environment
        pairs = [(env.get("torch_num_threads"), env.get("torch_num_interop_threads"))]
    return [list(p) for p in pairs]


def comparable(shard: ShardRun) -> dict[str, Any]:
    """What must agree between shards for their rows to be compared as one run."""
    env = shard.environment
    return {
        "GPU model": [d.get("name") for d in env.get("cuda_devices") or []],
        "torch version": env.get("torch"),
        "CUDA version": env.get("cuda_version"),
        "cuDNN version": env.get("cudnn_version"),
        "threads (intra-op, inter-op)": _thread_counts(shard),
    }


def _check_one_suite(shards: Sequence[ShardRun]) -> None:
    first = shards[0]
    for other in shards[1:]:
        name_a, name_b = first.record.get("suite_name"), other.record.get("suite_name")
        if name_a != name_b:
            raise MergeError(
                f"{first.run_dir} is suite {name_a!r} but {other.run_dir} is suite {name_b!r}; "
                "merge shards of one suite"
            )
        if first.suite_cases != other.suite_cases:
            raise MergeError(
                f"{first.run_dir} and {other.run_dir} list different cases for suite {name_a!r} "
                "(the suite changed between them); rerun the shards from one suite file"
            )


def _check_disjoint(shards: Sequence[ShardRun]) -> None:
    seen: dict[Path, ShardRun] = {}
    for shard in shards:
        resolved = shard.run_dir.resolve()
        if resolved in seen:
            raise MergeError(f"{shard.run_dir} is given twice; each shard counts once")
        seen[resolved] = shard
    for i, a in enumerate(shards):
        for b in shards[i + 1 :]:
            both = a.shard_cases & b.shard_cases
            if both:
                example = sorted(both)[0].label
                raise MergeError(
                    f"shards {a.shard.label} ({a.run_dir}) and {b.shard.label} ({b.run_dir}) "
                    f"overlap: {len(both)} cases in both, e.g. {example}; merge disjoint shards"
                )


def _differences(shards: Sequence[ShardRun]) -> list[str]:
    """Environment and suite-file differences from the first shard, one sentence each."""
    first = shards[0]
    reasons = []
    for other in shards[1:]:
        ours, theirs = comparable(first), comparable(other)
        for what, value in ours.items():
            if theirs[what] != value:
                reasons.append(
                    f"{first.run_dir} and {other.run_dir} differ in {what}: "
                    f"{value} vs {theirs[what]}"
                )
        sha_a, sha_b = first.record.get("suite_sha256"), other.record.get("suite_sha256")
        if sha_a != sha_b:
            reasons.append(
                f"{first.run_dir} and {other.run_dir} ran different suite files "
                f"(sha256 {str(sha_a)[:12]} vs {str(sha_b)[:12]}): budgets or models may differ"
            )
    return reasons


def plan_merge(run_dirs: Sequence[Path], force: bool = False) -> MergePlan:
    """Read and check every shard; raise MergeError (nothing written) if they cannot merge.

    The index.md bench keeps beside the runs of an --out folder is passed over: every
    documented recipe (`bench merge shards/*`) globs it in with the shard directories."""
    run_dirs = [d for d in run_dirs if not (Path(d).name == INDEX_MD and Path(d).is_file())]
    if not run_dirs:
        raise MergeError("give at least one shard run directory")
    shards = [read_shard(Path(d)) for d in run_dirs]
    _check_one_suite(shards)
    _check_disjoint(shards)
    splits = sorted({shard.shard.count for shard in shards})
    if len(splits) > 1 and not force:
        labels = ", ".join(sorted({shard.shard.label for shard in shards}))
        raise MergeError(
            f"shards of different splits ({labels}): each split has its own missing shards "
            "and cases, so merge the shards of one split (--force merges anyway)"
        )
    for shard in shards:
        allowed = shard.shard_cases
        for key in shard.keys:
            if key not in allowed:
                raise MergeError(
                    f"{shard.run_dir}: holds a row for {key.label}, which is not one of "
                    f"shard {shard.shard.label}'s cases; cannot merge it"
                )
    differences = _differences(shards)
    if differences and not force:
        raise MergeError(
            f"{differences[0]}; their numbers are not comparable (--force merges anyway)"
        )
    suite_cases = shards[0].suite_cases
    finished = {key for shard in shards for key in shard.keys}
    counts = {shard.shard.count for shard in shards}
    given = {shard.shard.index for shard in shards}
    missing_shards = (
        tuple(i for i in range(1, counts.pop() + 1) if i not in given) if len(counts) == 1 else ()
    )
    return MergePlan(
        shards=tuple(sorted(shards, key=lambda s: (s.shard.count, s.shard.index))),
        suite_name=str(shards[0].record.get("suite_name")),
        suite_cases=suite_cases,
        missing_shards=missing_shards,
        missing_cases=tuple(k for k in suite_cases if k not in finished),
        forced=tuple(differences),
    )


def _ordered_rows(plan: MergePlan) -> list[tuple[tuple[str, ...], dict[str, Any], Any]]:
    """(row, entry, result) in the suite's case order; an --oom-backoff row stays right after
    its case's row."""
    position = {key: i for i, key in enumerate(plan.suite_cases)}
    tagged = [
        (position[key], shard_number, row_number, row, entry, result)
        for shard_number, shard in enumerate(plan.shards)
        for row_number, (row, entry, key, result) in enumerate(
            zip(shard.rows, shard.entries, shard.keys, shard.results, strict=True)
        )
    ]
    tagged.sort(key=lambda t: t[:3])
    return [(row, entry, result) for *_, row, entry, result in tagged]


def _csv_text(rows: Sequence[tuple[str, ...]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")  # as bench.store's CsvWriter writes
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    return buffer.getvalue()


def write_merge(plan: MergePlan, out: Path) -> MergeOutcome:
    """Create a new run directory under `out` with the merged results.csv, record and report."""
    ordered = _ordered_rows(plan)
    run_dir = new_run_dir(out, f"{plan.suite_name}-merged")
    write_atomic(run_dir / RESULTS_CSV, _csv_text([row for row, _, _ in ordered]))
    write_atomic(run_dir / CASES_JSONL, "".join(entry_line(entry) for _, entry, _ in ordered))
    first = plan.shards[0]
    header = {
        "suite_path": first.record.get("suite_path"),
        "suite_name": plan.suite_name,
        "suite_file": first.record.get("suite_file"),
        "suite_sha256": first.record.get("suite_sha256"),
        "environment": first.environment,
        "complete": not plan.missing_cases and all(s.complete for s in plan.shards),
        "merged_from": [
            {
                "run_dir": str(s.run_dir),
                "shard": s.record.get("shard"),
                "complete": s.complete,
                "rows": len(s.rows),
                "threads": _thread_counts(s),
                "environment": s.environment,
            }
            for s in plan.shards
        ],
        "missing_shards": list(plan.missing_shards),
        "missing_cases": [k.to_json() for k in plan.missing_cases],
        "forced": list(plan.forced),
        "suite_cases": [k.to_json() for k in plan.suite_cases],
    }
    write_header(run_dir, header)
    write_report(run_dir)
    return MergeOutcome(run_dir=run_dir, plan=plan, results=tuple(r for *_, r in ordered))


def merge_runs(run_dirs: Sequence[Path], out: Path, force: bool = False) -> MergeOutcome:
    return write_merge(plan_merge(run_dirs, force), out)


def missing_lines(plan: MergePlan, limit: int = 20) -> list[str]:
    """What is missing, for stderr: the shards not given, then the cases, at most `limit`."""
    lines = []
    if plan.missing_shards:
        count = plan.shards[0].shard.count
        shards = ", ".join(f"{i}/{count}" for i in plan.missing_shards)
        lines.append(f"missing shards: {shards}")
    for key in plan.missing_cases[:limit]:
        lines.append(one_line(f"missing case: {key.label}"))
    if len(plan.missing_cases) > limit:
        lines.append(f"... and {len(plan.missing_cases) - limit} more missing cases (report.md)")
    return lines
