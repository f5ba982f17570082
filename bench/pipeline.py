"""load -> expand -> measure -> write -> render, for one suite file."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.environment import capture_environment
from bench.experiments.records import ExperimentCase, ExperimentResult
from bench.experiments.report import write_plots
from bench.experiments.run import expand_experiments, measure_experiment_case
from bench.records import Case, Result
from bench.report import render_report
from bench.runner import RunOptions, measure_case
from bench.storage import (
    REPORT_MD,
    RESULTS_CSV,
    RUN_JSON,
    CsvWriter,
    new_run_dir,
    run_record,
    write_atomic,
)
from bench.suite import expand, load_suite

ProgressCallback = Callable[
    [int, int, Case | ExperimentCase, Result | ExperimentResult | None], None
]
"""Called with (index, total, case, None) before a case and (index, total, case, result) after."""


@dataclass(frozen=True)
class RunOutcome:
    run_dir: Path
    results: tuple[Result | ExperimentResult, ...]

    @property
    def all_ok(self) -> bool:
        """Skipped cases (e.g. no GPU here) are not failures; errors and OOMs are."""
        return all(r.status in ("ok", "skipped") for r in self.results)


def run_suite(
    suite_path: Path,
    out: Path,
    options: RunOptions,
    progress: ProgressCallback | None = None,
    on_run_dir: Callable[[Path], None] | None = None,
) -> RunOutcome:
    """Validate the whole suite before creating anything; then measure and write as we go.

    If the run is interrupted, the finished rows are already on disk and the report and run.json
    are still written for them before the interruption propagates.
    """
    suite = load_suite(suite_path)
    cases: list[Case | ExperimentCase] = [
        *expand(suite),
        *expand_experiments(suite.name, suite.experiments, suite.devices, suite.dtypes),
    ]
    environment = capture_environment()
    run_dir = new_run_dir(out, suite.name)
    if on_run_dir is not None:
        on_run_dir(run_dir)
    results: list[Result | ExperimentResult] = []
    writer = CsvWriter(run_dir / RESULTS_CSV)
    try:
        for index, case in enumerate(cases, start=1):
            if progress is not None:
                progress(index, len(cases), case, None)
            result = (
                measure_case(case, options)
                if isinstance(case, Case)
                else measure_experiment_case(case, options.experiment_timing)
            )
            writer.append(result)
            results.append(result)
            if progress is not None:
                progress(index, len(cases), case, result)
    finally:
        writer.close()
        title = f"bench run: {suite.name}"
        write_atomic(run_dir / RUN_JSON, run_record(results, environment, str(suite_path)))
        experiment_results = [r for r in results if isinstance(r, ExperimentResult)]
        plots = write_plots(experiment_results, run_dir)
        write_atomic(run_dir / REPORT_MD, render_report(results, environment, title, plots))
    return RunOutcome(run_dir=run_dir, results=tuple(results))
