"""A run directory's report.md and plots, from its run record alone.

`bench run`, `bench merge` and `bench run --profile` call this at the end and `bench report
RUN_DIR` calls it later: all read the same record through the same code, so the same record
always gives byte-identical output. A merged run's shard table and a profiled run's profiles are
in the record too, and come back as sections of their own.
"""

from __future__ import annotations

from pathlib import Path

from bench.records import Result
from bench.records.profiles import DEFAULT_TOP, profile_from_record
from bench.report.document import render_report
from bench.report.experiments import write_plots
from bench.report.model_plots import write_model_plots
from bench.report.plot_style import PLOTS_DIR
from bench.report.profiles import profile_section
from bench.report.shards import shards_section
from bench.store.options import options_lines
from bench.store.readback import read_record, results_from_record
from bench.store.rundir import REPORT_MD, write_atomic


def report_title(record: dict, run_dir: Path) -> str:
    """Interrupted runs say so first: the tables below hold only the finished cases."""
    if record.get("command") == "profile":
        return f"bench profile: {record.get('suite_name') or '?'}"
    merged = record.get("merged_from")
    if merged:
        return f"bench merge: {record.get('suite_name') or '?'} ({len(merged)} shards)"
    title = f"bench run: {record.get('suite_name') or '?'}"
    if record.get("complete") is False:
        rows = len(record["cases"])
        title += (
            f" (interrupted: {rows} row{'' if rows == 1 else 's'}; "
            f"finish it with --resume {run_dir})"
        )
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
    profiled = record.get("profile") or {}
    profiles = [profile_from_record(p) for p in profiled.get("cases") or []]
    text = render_report(
        results,
        environment,
        report_title(record, run_dir),
        plots,
        model_plots,
        front=[*options_lines(record), *shards_section(record)],
        back=profile_section(profiles, run_dir, profiled.get("top", DEFAULT_TOP)),
    )
    path = run_dir / REPORT_MD
    write_atomic(path, text)
    _remove_stale_plots(run_dir, {*plots.values(), *model_plots.values()})
    return path


def _remove_stale_plots(run_dir: Path, written: set[str]) -> None:
    """PNGs in plots/ that this report no longer shows: written by an older bench under other
    names (`bench report` on an old run left both namings side by side). plots/ is bench's."""
    folder = run_dir / PLOTS_DIR
    if not folder.is_dir():
        return
    for png in folder.glob("*.png"):
        if f"{PLOTS_DIR}/{png.name}" not in written:
            png.unlink(missing_ok=True)
