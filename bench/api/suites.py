"""`bench.run_suite(path)`: a suite file run as `bench run` runs it, from Python."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from bench.measure.api import checked_metrics
from bench.measure.case import RunOptions


def run_suite(
    path: str | Path,
    out: str | Path = "results",
    *,
    metrics: Iterable[str] | None = None,
    budget: float | None = None,
    precision: float | None = None,
    threads: int | None = None,
    processes: int = 1,
) -> Path:
    """Run a suite file as `bench run` does (nothing printed) and return its run directory."""
    from bench.pipeline import run_suite as run_pipeline

    options = RunOptions(
        metrics=checked_metrics(metrics),
        budget_s=budget,
        precision=precision,
        threads=threads,
        processes=processes,
    )
    return run_pipeline(Path(path), Path(out), options).run_dir
