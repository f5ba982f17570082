"""load -> expand -> measure -> write -> render, for one suite file.

Durability order, per finished case: run.json is rewritten (atomically) with the case, then its
row is appended to results.csv (one write, fsynced). So every row in results.csv has its raw
samples in run.json even if the process is killed between the two, and `--resume` can trust the
CSV as the list of finished cases.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench.environment import capture_environment
from bench.errors import ResumeError, WriteError, write_error
from bench.experiments.records import ExperimentCase, ExperimentResult
from bench.experiments.run import expand_experiments, measure_experiment_case
from bench.measure.case import RunOptions
from bench.measure.execution import execute
from bench.profile import CaseProfile, ProfileSettings, profile_cases, profile_section
from bench.records import Case, Result, Suite
from bench.report.index import update_index
from bench.report.rebuild import write_report
from bench.shard.partition import Shard, select, shard_record, shard_to_run
from bench.store.resume import PriorRun, load_prior_run, read_run_record
from bench.store.rundir import (
    REPORT_MD,
    RESULTS_CSV,
    RUN_JSON,
    CsvWriter,
    deferred_signals,
    discard_run_dir,
    new_run_dir,
    run_record,
    write_atomic,
)
from bench.store.runlog import RUN_LOG, RunLog
from bench.suite.load import expand, load_suite

AnyCase = Case | ExperimentCase
AnyResult = Result | ExperimentResult
ProgressCallback = Callable[[int, int, AnyCase, AnyResult | None], None]
"""Called with (index, total, case, None) before a case and (index, total, case, result) after."""


@dataclass(frozen=True)
class RunOutcome:
    run_dir: Path
    results: tuple[AnyResult, ...]

    @property
    def all_ok(self) -> bool:
        """Skipped cases (e.g. no GPU here) are not failures; errors and OOMs are.

        An OOM row followed by a successful backoff row still counts as a failure: the batch the
        suite asked for did not run.
        """
        return all(r.status in ("ok", "skipped") for r in self.results)


def run_suite(
    suite_path: Path | None,
    out: Path,
    options: RunOptions,
    progress: ProgressCallback | None = None,
    on_run_dir: Callable[[Path], None] | None = None,
    resume: Path | None = None,
    profile: ProfileSettings | None = None,
    shard: Shard | None = None,
    retry_timeouts: bool = False,
) -> RunOutcome:
    """Validate the whole suite before creating anything; then measure and write as we go.

    With `resume`, continue that run directory instead of creating one: its finished cases are
    kept (and re-reported), the others run. If the run is interrupted, the finished rows are
    already on disk and the report and run.json are still written for them before the
    interruption propagates. With `profile`, every ok case is then profiled (bench.profile):
    after all rows are written, so no profiler runs while a row is being measured. With `shard`,
    only that part of the case list runs (see bench.shard); run.json records the shard and the
    whole suite's case list for `bench merge`.
    """
    if suite_path is None:
        if resume is None:
            raise ResumeError("give a suite file, or --resume RUN_DIR")
        suite_path = _suite_of(resume)
    suite = load_suite(suite_path)
    cases: list[AnyCase] = [
        *repeated(expand(suite), options.repeat),
        *expand_experiments(suite.name, suite.experiments, suite.devices, suite.dtypes),
    ]
    prior: PriorRun | None = None
    if resume is not None:
        if options.repeat > 1:
            raise ResumeError("--resume does not cover --repeat; start a new run")
        if suite.experiments:
            raise ResumeError(
                f"{suite_path}: --resume does not cover [[experiments]] yet; start a new run"
            )
        writer = _lock_for_resume(resume)  # before reading it: no second writer can interleave
        try:
            prior = load_prior_run(
                resume, suite.name, [c for c in cases if isinstance(c, Case)], retry_timeouts
            )
            shard = shard_to_run(shard, prior.record)  # a resumed shard keeps its split
            if prior.csv_rewrite is not None:  # decided: only now may the file change
                writer.rewrite(prior.csv_rewrite)
        except BaseException:
            writer.close()
            raise
    suite_cases = cases
    if shard is not None:
        cases = select(suite_cases, shard)
    environment = capture_environment()
    results: list[AnyResult] = list(prior.results) if prior else []
    extra = _record_extra(suite.name, suite_path, prior, environment)
    if shard is not None:
        extra.update(shard_record(shard, suite_path, suite_cases, cases))
    run_dir = resume if resume is not None else new_run_dir(out, suite.name)
    try:  # a new run directory that cannot even be set up is removed again
        if resume is None:
            writer = CsvWriter(run_dir / RESULTS_CSV)
        try:
            log = RunLog(run_dir / RUN_LOG)
            record = run_record(results, environment, str(suite_path), extra)
            write_atomic(run_dir / RUN_JSON, record)
        except BaseException:
            writer.close()
            raise
    except BaseException:
        if resume is None:
            discard_run_dir(run_dir)
        raise
    todo = [
        c for c in cases if prior is None or (isinstance(c, Case) and c.key not in prior.finished)
    ]
    complete = raised = False
    profiles: list[CaseProfile] = []
    try:
        log.write(
            f"{'resumed' if prior else 'started'}: suite {suite.name!r} from {suite_path}; "
            f"{len(cases)} cases, {len(cases) - len(todo)} already finished, {len(todo)} to run"
        )
        if on_run_dir is not None:
            on_run_dir(run_dir)
        for index, case in enumerate(todo, start=1):
            if progress is not None:
                progress(index, len(todo), case, None)
            outcomes = (
                execute(case, options)
                if isinstance(case, Case)
                else [measure_experiment_case(case, options.experiment_timing)]
            )
            for result in outcomes:
                record = run_record([*results, result], environment, str(suite_path), extra)
                write_atomic(run_dir / RUN_JSON, record)
                writer.append(result)
                results.append(result)  # only now: an interruption above leaves it out everywhere
                log.case(index, len(todo), result)
                if progress is not None:
                    progress(index, len(todo), result.case, result)
        complete = True
        if profile is not None:
            ok_cases = [r.case for r in results if isinstance(r, Result) and r.status == "ok"]
            profiles = profile_cases(ok_cases, run_dir, profile, options)
    except BaseException as exc:
        raised = True
        if isinstance(exc, WriteError):
            exc.finished = len(results)
        with contextlib.suppress(WriteError):
            log.write(f"stopped by {type(exc).__name__} after {len(results)} rows; report follows")
        raise
    finally:
        # a signal now would cut the report short: it waits until the files are whole
        with deferred_signals():
            late = _close_run(
                run_dir, suite, writer, log, results, environment, extra, complete, profiles
            )
        if late is not None and not raised:  # else the first failure is the one to report
            late.finished = len(results)
            raise late
    return RunOutcome(run_dir=run_dir, results=tuple(results))


def _close_run(
    run_dir: Path,
    suite: Suite,
    writer: CsvWriter,
    log: RunLog,
    results: list[AnyResult],
    environment: dict[str, Any],
    extra: dict[str, Any],
    complete: bool,
    profiles: list[CaseProfile],
) -> WriteError | None:
    """Write run.json and report.md (each atomically) and close the files; every step is tried
    even if an earlier one failed (a full disk), and the first failure is returned."""
    failures: list[WriteError] = []
    writer.close()
    extra["complete"] = complete
    steps: list[Callable[[], None]] = [
        lambda: write_atomic(
            run_dir / RUN_JSON, run_record(results, environment, str(suite.path), extra)
        ),
        lambda: _write_report(run_dir, profiles),
        lambda: _update_index(run_dir),
        lambda: log.write(
            f"{'finished' if complete else 'interrupted'}: {len(results)} rows written"
        ),
        log.close,
    ]
    for step in steps:
        try:
            step()
        except WriteError as exc:
            failures.append(exc)
    return failures[0] if failures else None


def _update_index(run_dir: Path) -> None:
    try:
        update_index(run_dir.parent)
    except OSError as exc:
        raise write_error(run_dir.parent, exc, "cannot write index.md") from None


def _write_report(run_dir: Path, profiles: list[CaseProfile]) -> None:
    """report.md from run.json alone, exactly as `bench report` rebuilds it; profiles are not in
    run.json, so their section is appended here (and `bench report` leaves it out)."""
    try:
        write_report(run_dir)
        if profiles:
            report = (run_dir / REPORT_MD).read_text(encoding="utf-8")
            section = "\n".join(profile_section(profiles, run_dir))
            write_atomic(run_dir / REPORT_MD, f"{report}\n{section}\n")
    except OSError as exc:  # plots are written with matplotlib, not write_atomic
        raise write_error(run_dir, exc, "cannot write the report") from None


def repeated(cases: list[Case], times: int) -> list[Case]:
    """Every case `times` times, interleaved (all cases, then all again), numbered 1..times;
    the cases unchanged when times is 1."""
    if times <= 1:
        return cases
    return [replace(case, repeat=n) for n in range(1, times + 1) for case in cases]


def _lock_for_resume(run_dir: Path) -> CsvWriter:
    """Open (and lock) an existing run's results.csv for appending; create nothing elsewhere."""
    read_run_record(run_dir)  # says clearly when run_dir is not a run directory
    if not (run_dir / RESULTS_CSV).is_file():
        raise ResumeError(f"{run_dir / RESULTS_CSV}: not found; cannot resume")
    return CsvWriter(run_dir / RESULTS_CSV, resume=True)


def _suite_of(run_dir: Path) -> Path:
    record = read_run_record(run_dir)
    suite_file = record.get("suite_file")
    if not isinstance(suite_file, str) or not Path(suite_file).is_file():
        raise ResumeError(
            f"{run_dir}: its suite file {suite_file!r} is gone; give it: bench run SUITE --resume"
        )
    return Path(suite_file)


def _record_extra(
    suite_name: str, suite_path: Path, prior: PriorRun | None, environment: dict[str, Any]
) -> dict[str, Any]:
    """run.json's bookkeeping: which suite (for --resume) and the environment of each session."""
    earlier = list(prior.record.get("earlier_environments") or []) if prior else []
    if prior is not None and isinstance(prior.record.get("environment"), dict):
        earlier.append(prior.record["environment"])
    return {
        "suite_name": suite_name,
        "suite_file": str(suite_path.resolve()),
        "complete": False,
        "earlier_environments": earlier,
    }
