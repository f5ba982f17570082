"""A run directory's report.md and plots, from its run.json alone.

`bench run` calls this at the end and `bench report RUN_DIR` calls it later: both read the same
file through the same code, so the same run.json always gives byte-identical output.
"""

from __future__ import annotations

from pathlib import Path

from bench.records import Result
from bench.report.document import render_report
from bench.report.experiments import write_plots
from bench.report.model_plots import write_model_plots
from bench.store.readback import read_record, results_from_record
from bench.store.rundir import REPORT_MD, write_atomic


def report_title(record: dict, run_dir: Path) -> str:
    """Interrupted runs say so first: the tables below hold only the finished cases."""
    title = f"bench run: {record.get('suite_name') or '?'}"
    if record.get("complete") is False:
        rows = len(record["cases"])
        title += f" (interrupted: {rows} rows; finish it with --resume {run_dir})"
    return title


def write_report(run_dir: Path) -> Path:
    """(Re)write report.md and its PNG plots next to it; return report.md's path."""
    record = read_record(run_dir)
    results = results_from_record(record, run_dir)
    models = [r for r in results if isinstance(r, Result)]
    experiments = [r for r in results if not isinstance(r, Result)]
    plots = write_plots(experiments, run_dir)
    model_plots = write_model_plots(models, run_dir)
    environment = record.get("environment") if isinstance(record.get("environment"), dict) else {}
    text = render_report(results, environment, report_title(record, run_dir), plots, model_plots)
    path = run_dir / REPORT_MD
    write_atomic(path, text)
    return path
