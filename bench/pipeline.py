"""load -> expand -> measure -> write -> render, for one suite file.

`run_suite` composes the stages: `plan_run` validates everything and decides which cases run
(reading only), a RunWriter (bench.run_writer) owns the run directory's files and their
durability order, the cases are measured one by one, and the writer's close renders the report
from the record it wrote, the way `bench report` does.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench.console import phases
from bench.console.library_logs import to_run_log
from bench.environment import capture_environment
from bench.errors import ResumeError, WriteError
from bench.experiments.records import ExperimentCase, ExperimentResult
from bench.experiments.run import ExperimentSession, expand_experiments
from bench.measure.case import RunOptions
from bench.measure.execution import execute
from bench.profile import ProfileSettings, profile_cases, profile_record
from bench.records import Case, Result, Suite
from bench.run_writer import RunWriter
from bench.shard.partition import Shard, select, shard_record, shard_to_run
from bench.store.digests import file_sha256
from bench.store.entries import factory_file
from bench.store.options import option_flags
from bench.store.resume import PriorRun, load_prior_run, read_run_record
from bench.store.rundir import RESULTS_CSV, CsvWriter
from bench.suite.load import expand, load_suite, with_variant_overrides

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
    writer, todo = open_run(suite_path, out, options, resume, shard, retry_timeouts)
    complete = raised = False
    extra: dict[str, Any] = {}
    try:
        if on_run_dir is not None:
            on_run_dir(writer.run_dir)
        with to_run_log(writer.log.write):
            measure_cases(writer, todo, options, progress)
            complete = True
            if profile is not None:
                extra["profile"] = profile_run(writer, profile, options)
    except BaseException as exc:
        raised = True
        if isinstance(exc, WriteError):
            exc.finished = len(writer.results)
        with contextlib.suppress(WriteError):
            writer.log.write(
                f"stopped by {type(exc).__name__} after {len(writer.results)} rows; report follows"
            )
        raise
    finally:
        late = writer.close(complete, extra)
        if late is not None and not raised:  # else the first failure is the one to report
            late.finished = len(writer.results)
            raise late
    return RunOutcome(run_dir=writer.run_dir, results=tuple(writer.results))


def open_run(
    suite_path: Path | None,
    out: Path,
    options: RunOptions,
    resume: Path | None,
    shard: Shard | None,
    retry_timeouts: bool,
) -> tuple[RunWriter, list[AnyCase]]:
    """Load and check the suite (and, resuming, the run), then open the run's writer; with the
    cases still to run. Nothing is created or changed until everything has been checked."""
    if suite_path is None:
        if resume is None:
            raise ResumeError("give a suite file, or --resume RUN_DIR")
        suite_path = _suite_of(resume)
    suite = with_variant_overrides(load_suite(suite_path), options.cache, options.cuda_graphs)
    cases: list[AnyCase] = [
        *repeated(expand(suite), options.repeat),
        *expand_experiments(suite.name, suite.experiments, suite.devices, suite.dtypes),
    ]
    environment = capture_environment()
    if resume is None:
        chosen = select(cases, shard) if shard is not None else cases
        header = _header(suite, suite_path, environment, None, options)
        if shard is not None:
            header.update(shard_record(shard, cases, chosen))
        writer = RunWriter.create(out, suite.name, header)
        _started(writer, suite, suite_path, len(chosen), chosen)
        return writer, chosen
    if options.repeat > 1:
        raise ResumeError("--resume does not cover --repeat; start a new run")
    if suite.experiments:
        raise ResumeError(
            f"{suite_path}: --resume does not cover [[experiments]] yet; start a new run"
        )
    rows = _lock_for_resume(resume)  # before reading it: no second writer can interleave
    try:
        prior = load_prior_run(
            resume, suite.name, [c for c in cases if isinstance(c, Case)], retry_timeouts
        )
        header = _header(suite, suite_path, environment, prior, options)
        _check_same_options(resume, prior.record.get("options"), header["options"])
        shard = shard_to_run(shard, prior.record)  # a resumed shard keeps its split
        chosen = select(cases, shard) if shard is not None else cases
        if shard is not None:
            header.update(shard_record(shard, cases, chosen))
        if prior.csv_rewrite is not None:  # decided: only now may the file change
            rows.rewrite(prior.csv_rewrite)
        writer = RunWriter.resume(resume, rows, header, prior.results, prior.entries)
    except BaseException:
        rows.close()
        raise
    todo = [c for c in chosen if isinstance(c, Case) and c.key not in prior.finished]
    _started(writer, suite, suite_path, len(chosen), todo)
    return writer, todo


# a case's time limit decides whether it ends, not what its numbers are: `--resume
# --retry-timeouts --timeout 10m` is how a timed-out case gets a longer one
RESUME_MAY_CHANGE = ("timeout_s",)


def _check_same_options(run_dir: Path, started: Any, now: dict[str, Any]) -> None:
    """A run is finished under the options it was started with: rows timed with another budget,
    precision or thread count (or not timed at all) would sit in one table as if alike. A run
    recorded before options were kept has none to check."""
    if not isinstance(started, dict):
        return
    differing = [
        name
        for name in now
        if name in started and started[name] != now[name] and name not in RESUME_MAY_CHANGE
    ]
    if differing:
        changes = "; ".join(f"{n}: {started[n]!r} then, {now[n]!r} now" for n in differing)
        flags = " ".join(option_flags(started)) or "no options"
        raise ResumeError(
            f"{run_dir}: started with other options ({changes}); resume it with the same: "
            f"bench run --resume {run_dir} {flags}".rstrip()
        )


def _started(
    writer: RunWriter, suite: Suite, suite_path: Path, total: int, todo: list[AnyCase]
) -> None:
    resumed = bool(writer.results)
    writer.log.write(
        f"{'resumed' if resumed else 'started'}: suite {suite.name!r} from {suite_path}; "
        f"{total} cases, {total - len(todo)} already finished, {len(todo)} to run"
    )


def measure_cases(
    writer: RunWriter, todo: list[AnyCase], options: RunOptions, progress: ProgressCallback | None
) -> None:
    """Each case in turn; every result is written (entry, row, log line) as it comes.

    Every case ends with a full garbage collection (bench.measure.case), which walks every
    object alive: torch and the libraries imported so far are ~100 ms of that walk per case,
    and the results kept so far make it grow with the run. So what is alive now is frozen out
    of the collector's walks for the run (gc.freeze): each case then pays for its own garbage
    only (a 1,500-case counts-only sweep: 115 ms a case before, 15 ms after). No collection
    before the freeze: it would cost ~0.12 s a run (4% of counting ten small models) to free
    what importing left, a few cycles that now stay for the run.
    """
    # a family's variants are timed together, interleaved: the first of them asked measures all
    experiments = ExperimentSession(
        [c for c in todo if isinstance(c, ExperimentCase)], options.experiment_timing
    )
    if options.start_note:
        writer.log.write(f"machine at the start: {options.start_note}")
    options = _with_instruction_counts(writer, todo, options)
    gc.freeze()
    try:
        for index, case in enumerate(todo, start=1):
            if progress is not None:
                progress(index, len(todo), case, None)
            outcomes = (
                execute(case, options) if isinstance(case, Case) else [experiments.result(case)]
            )
            for measured in outcomes:
                result = writer.add(measured)
                writer.log.case(index, len(todo), result)
                if progress is not None:
                    progress(index, len(todo), result.case, result)
    finally:
        gc.unfreeze()  # a caller that goes on (a notebook, the tests) collects as before


def _with_instruction_counts(
    writer: RunWriter, todo: list[AnyCase], options: RunOptions
) -> RunOptions:
    """`--metrics instructions` where the CPU's counter is hidden: count every CPU case first,
    in one valgrind process (bench.measure.instructions), so the rows can carry the counts."""
    if "instructions" not in options.metrics:
        return options
    from bench.measure.instructions.per_case import count_before_run

    cases = [case for case in todo if isinstance(case, Case)]

    def progress(done: int, total: int) -> None:
        phases.announce(f"{phases.INSTRUCTIONS} under valgrind: {done}/{total} cases")

    phases.announce(phases.INSTRUCTIONS)
    counts = count_before_run(cases, options.timeout_for, progress)
    if counts:
        counted = sum(count.per_call is not None for count in counts.values())
        writer.log.write(f"instructions: {counted} of {len(counts)} case(s) counted under valgrind")
    return replace(options, instruction_counts={**options.instruction_counts, **counts})


def profile_run(
    writer: RunWriter, settings: ProfileSettings, options: RunOptions
) -> dict[str, Any]:
    """Profile every ok case; what run.json keeps of it, so the report renders it."""
    phases.announce(phases.PROFILE)
    ok_cases = [r.case for r in writer.results if isinstance(r, Result) and r.status == "ok"]
    profiles = profile_cases(ok_cases, writer.run_dir, settings, options)
    return {"top": settings.top, "cases": [profile_record(p) for p in profiles]}


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


def _header(
    suite: Suite,
    suite_path: Path,
    environment: dict[str, Any],
    prior: PriorRun | None,
    options: RunOptions,
) -> dict[str, Any]:
    """run.json's bookkeeping: which suite, resolved as the run resolved it, with the content
    of it and of every model file (for --resume's checks), the environment of each session, the
    options that shape the numbers and what the machine looked like as this session started.

    `suite_file` is the absolute path as given, not resolved through a symlink: factory paths
    resolve against the folder the suite was named in, and a resume must find the same files.
    """
    earlier = list(prior.record.get("earlier_environments") or []) if prior else []
    if prior is not None and isinstance(prior.record.get("environment"), dict):
        earlier.append(prior.record["environment"])
    factory_files = {
        str(file): file_sha256(file)
        for spec in suite.models
        if (file := factory_file(spec.factory, suite.base_dir)) is not None
    }
    return {
        "suite_path": str(suite_path),
        "suite_name": suite.name,
        "suite_file": str(suite_path.absolute()),
        "suite_sha256": file_sha256(suite_path),
        "factory_files": factory_files,
        "environment": environment,
        "earlier_environments": earlier,
        "options": options.record(),
        "start_note": options.start_note,
        "complete": False,
    }
