"""A/A history: how much runs of the same code on this machine disagree, case by case.

Two stored runs were made minutes or days apart, in different processes. Some of what differs
between them no in-run statistic sees: on a 2-core VM a small conv net at batch 64 read 8.0-8.5
ms in some processes and 12.1 ms in others, each with a +-1% interval, so two runs of unchanged
code came out "1.4x slower" with confidence. The runs themselves are the best witness of that:
other runs of the same code, on the same hardware, in the same results folder, are A/A
repeats. For each case, the spread of their medians ((max - min) / min), together with BASE's
own median for BASE's code and NEW's for NEW's, widened by the compared medians' own interval
half-widths (two runs can land a little further apart than the others did, by their sampling
noise alone: six runs put a conv net at 8.3-8.8 and 11.6-11.8 ms, and the most distant pair
was 1.412x where the other runs spanned 1.398x), is the case's A/A floor: `bench compare`
calls no change below it (nor below the machine's floor from `bench doctor`). A handful of
runs rarely holds the extremes, so with three runs or more the floor is at least the 99%
prediction bound for the ratio of two runs, exp(2.576 x sqrt(2) x s) - 1, where s is the
standard deviation of the runs' log medians (six runs of resnet18 at batch 1 read 19.6-30.1 ms,
and the two extremes were 1.536x apart where the other four and either one spanned 1.498x).

The same code means: the same commit of the repository the runs were made from (a working tree
with uncommitted changes is never the same code as anything), torch and Python, and the same
case definition (model code, input, checkpoint). The compared runs never count as each other's
history, so an A/A comparison cannot explain itself away.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.compare.sources import CaseKey, CompareError, RunSamples, SideCase, load_side
from bench.stats import median_ci, relative_half_width

MAX_RUNS = 100  # the newest runs of a results folder read for history


@dataclass(frozen=True)
class CaseFloor:
    """A case's A/A floor and how many other runs of the same code it comes from."""

    fraction: float
    runs: int


def aa_floors(base: RunSamples, new: RunSamples) -> dict[CaseKey, CaseFloor]:
    """Per case key, the A/A floor from the other runs beside BASE and NEW (none: no history)."""
    if base.kind != "run" or new.kind != "run":
        return {}
    history = list(_history(base, new))
    floors: dict[CaseKey, CaseFloor] = {}
    new_by_key = {c.key: c for c in new.cases}
    for case in base.cases:
        other = new_by_key.get(case.key)
        if other is None:
            continue
        groups = [
            _group(case, base, history),
            _group(other, new, history),
        ]
        spreads = [(_spread(medians), len(medians) - 1) for medians in groups if len(medians) > 1]
        if spreads:
            spread, runs = max(spreads)
            widened = (1 + spread) * (1 + _half_width(case)) * (1 + _half_width(other)) - 1
            bound = max((_prediction_bound(medians) for medians in groups), default=0.0)
            floors[case.key] = CaseFloor(max(widened, bound), runs)
    return floors


PREDICTION_Z = 2.576  # two-sided 99%: the ratio of two runs of unchanged code stays below


def _prediction_bound(medians: list[float]) -> float:
    """exp(z sqrt(2) s) - 1 from the log medians' standard deviation (0 under three runs)."""
    if len(medians) < 3:
        return 0.0
    spread = float(np.std(np.log(medians), ddof=1))
    return math.expm1(PREDICTION_Z * math.sqrt(2) * spread)


def _blocks(case: SideCase) -> list[float]:
    return sorted(b for group in case.block_groups() for b in group)


def _half_width(case: SideCase) -> float:
    """The relative half-width of the case's median interval over its blocks (0 without one)."""
    blocks = _blocks(case)
    if not blocks:
        return 0.0
    width = relative_half_width(median_ci(blocks), float(np.median(blocks)))
    return width if math.isfinite(width) else 0.0


def _median(case: SideCase) -> float | None:
    if case.status != "ok" or not case.samples_ms:
        return None
    value = float(np.median(_blocks(case)))
    return value if value > 0 else None


def _group(case: SideCase, side: RunSamples, history: list[RunSamples]) -> list[float]:
    """The case's median in its own run, then in every other run of the same code."""
    own = _median(case)
    if own is None or not side.code:
        return []
    medians = [own]
    for run in history:
        if run.code != side.code or run.hardware.get("cpu") != side.hardware.get("cpu"):
            continue
        match = next((c for c in run.cases if c.key == case.key), None)
        if match is None or match.definition != case.definition:
            continue
        median = _median(match)
        if median is not None:
            medians.append(median)
    return medians


def _spread(medians: list[float]) -> float:
    return (max(medians) - min(medians)) / min(medians)


def _history(base: RunSamples, new: RunSamples) -> Iterator[RunSamples]:
    """The newest runs in the folders holding BASE and NEW, except BASE and NEW themselves."""
    compared = {Path(base.source).resolve(), Path(new.source).resolve()}
    folders = {Path(base.source).resolve().parent, Path(new.source).resolve().parent}
    candidates = [
        run_dir
        for folder in folders
        for run_dir in _run_dirs(folder)
        if run_dir.resolve() not in compared
    ]
    for run_dir in sorted(candidates, key=lambda d: d.name, reverse=True)[:MAX_RUNS]:
        try:
            side = load_side(run_dir)
        except (CompareError, OSError, ValueError, json.JSONDecodeError):
            continue  # not a readable run: history is a help, never a failure
        if side.title == base.title or side.title == new.title:
            yield side


def _run_dirs(folder: Path) -> list[Path]:
    try:
        return [d for d in folder.iterdir() if (d / "run.json").is_file()]
    except OSError:
        return []
