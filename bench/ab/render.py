"""`bench ab`'s comparison as markdown, CSV and JSON: pure renderers over an AbRun.

The markdown states the sides, the verdict counts, one table row per case (regressions first)
and, below it, the exact rule that made the verdicts. The CSV has one row per case in suite
order, with the table's columns and full-precision numbers. The JSON keeps what a reader needs
to re-judge a case: the sides (revision, directory, interpreter, torch), the settings, and per
case every round's block medians, order and worker pair, and each pair's calibration.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from bench.ab.controller import ABBA, AbSettings
from bench.ab.outcome import AbRun, CaseRun, SideRecord
from bench.records.keys import CaseKey
from bench.report.tables import markdown_table
from bench.stats import MIN_ROUNDS
from bench.stats import PAIRED_CONFIDENCE as CONFIDENCE
from bench.store.rundir import csv_line, format_cell
from bench.units import significant

FORMAT_VERSION = 1
CSV_COLUMNS = (
    "case",
    "base_median_ms",
    "new_median_ms",
    "ratio",
    "ci_low",
    "ci_high",
    "p_value",
    "rounds",
    "pairs",
    "verdict",
    "reason",
    "status",
)
_ORDER = {"slower": 0, "faster": 1, "inconclusive": 2, "same": 3}


@dataclass(frozen=True)
class SideDescription:
    """A side as the report names it."""

    name: str  # BASE or NEW
    given: str
    kind: str  # revision or directory
    directory: str
    python: str
    commit: str | None
    python_version: str
    torch_version: str

    def line(self) -> str:
        where = f"{self.kind} `{self.given}` ({self.directory}"
        if self.commit:
            dirty = "+dirty" if self.commit.endswith("+dirty") else ""
            where += f", commit {self.commit[:12]}{dirty}"
        where += ")"
        versions = f"Python {self.python_version}, torch {self.torch_version}"
        return f"- {self.name}: {where}; `{self.python}` ({versions})"


def rule_text(settings: AbSettings) -> str:
    """The footnote: the verdict rule, word for word, with this run's threshold."""
    t = f"{100 * settings.threshold:g}%"
    order = (
        "interleaved ABBA"
        if settings.order == ABBA
        else f"interleaved, each round's order drawn at random with seed {settings.seed}"
    )
    if settings.processes > 1:
        resampled = (
            "bootstrap of the mean log ratio resampling the worker pairs "
            f"({settings.processes} per case, each its own BASE and NEW processes), then the "
            f"rounds within each (paired, {order})"
        )
    else:
        resampled = f"bootstrap over rounds of the mean log ratio (paired, {order})"
    return (
        "NEW/BASE is the geometric mean of the per-round ratios of block medians (above 1: "
        f"slower), with t = {t}: slower when the CI's low end > 1 + t; faster when its high end "
        "< 1/(1 + t); same when the whole CI lies inside [1/(1+t), 1+t]; inconclusive "
        "otherwise, and always when a side errored, ran contended, or had fewer than "
        f"{MIN_ROUNDS} rounds; CI: {resampled}."
    )


def _p_cell(p_value: float | None) -> str:
    if p_value is None:
        return ""
    return "<0.001" if p_value < 0.001 else f"{p_value:.3f}"


def _row(case: CaseRun) -> list[str]:
    j = case.judgement
    interval = ""
    if j.ci_low is not None and j.ci_high is not None:
        interval = f"{significant(j.ci_low, 3)} - {significant(j.ci_high, 3)}"
    return [
        f"`{case.label}`",
        significant(j.base_median_ms),
        significant(j.new_median_ms),
        "" if j.ratio is None else f"{significant(j.ratio, 3)}x",
        interval,
        _p_cell(j.p_value),
        str(len(case.rounds)),
        str(case.pairs),
        f"**{j.verdict}**" if j.verdict in ("slower", "faster") else j.verdict,
        j.reason,
    ]


def _key_list(title: str, keys: tuple[CaseKey, ...]) -> list[str]:
    if not keys:
        return []
    return [f"**{title}** ({len(keys)}):", "", *[f"- `{k.label}`" for k in keys], ""]


def render_markdown(run: AbRun, sides: Sequence[SideDescription], settings: AbSettings) -> str:
    counts = run.counts()
    summary = ", ".join(f"{counts[v]} {v}" for v in ("slower", "faster", "same", "inconclusive"))
    lines = ["# bench ab", "", *[side.line() for side in sides], ""]
    lines += [
        f"**{len(run.cases)} cases matched: {summary}.** "
        f"{len(run.added)} added, {len(run.removed)} removed.",
        "",
    ]
    if run.cases:
        ordered = sorted(
            enumerate(run.cases), key=lambda item: (_ORDER[item[1].judgement.verdict], item[0])
        )
        headers = ["Case", "BASE median (ms)", "NEW median (ms)", "NEW/BASE"]
        headers += [f"{CONFIDENCE:.0%} CI", "Wilcoxon p", "Rounds", "Pairs", "Verdict", "Why"]
        table = markdown_table([_row(c) for _, c in ordered], headers, "lrrrrrrrll")
        lines += [table, "", rule_text(settings), ""]
    lines += _key_list("Added in NEW", run.added)
    lines += _key_list("Removed from BASE", run.removed)
    return "\n".join(lines).rstrip("\n") + "\n"


def render_csv(run: AbRun) -> str:
    rows = [csv_line(CSV_COLUMNS)]
    for case in run.cases:
        j = case.judgement
        cells = [
            case.label,
            j.base_median_ms,
            j.new_median_ms,
            j.ratio,
            j.ci_low,
            j.ci_high,
            j.p_value,
            len(case.rounds),
            case.pairs,
            j.verdict,
            j.reason,
            "error" if case.errored else "ok",
        ]
        rows.append(csv_line([format_cell(cell) for cell in cells]))
    return "".join(rows)


def _side_json(side: SideRecord, medians: list[float]) -> dict[str, Any]:
    return {
        "block_medians_ms": medians,
        "calibration": None if side.prepared is None else asdict(side.prepared),
        "samples_per_block": side.samples,
        "pair_calibrations": [  # each worker pair's, the first pair's repeated above
            {**asdict(prepared), "samples_per_block": samples} for prepared, samples in side.pairs
        ],
        "error": side.error,
        "contention": None if side.contention is None else asdict(side.contention),
        "contended_blocks": side.contended_blocks,
    }


def render_json(
    run: AbRun,
    sides: Sequence[SideDescription],
    settings: AbSettings,
    suite: str,
    created: str,
) -> str:
    cases = [
        {
            "key": case.key.to_json(),
            "label": case.label,
            **asdict(case.judgement),
            "rounds": len(case.rounds),
            "order": [r.order for r in case.rounds],
            "pairs": case.pairs,
            "pair": [r.pair for r in case.rounds],
            "base": _side_json(case.base, [r.base_ms for r in case.rounds]),
            "new": _side_json(case.new, [r.new_ms for r in case.rounds]),
        }
        for case in run.cases
    ]
    document = {
        "format_version": FORMAT_VERSION,
        "kind": "bench ab",
        "created": created,
        "suite": suite,
        "settings": asdict(settings),
        "rule": rule_text(settings),
        "sides": {side.name.lower(): asdict(side) for side in sides},
        "cases": cases,
        "added": [k.to_json() for k in run.added],
        "removed": [k.to_json() for k in run.removed],
    }
    return json.dumps(document, indent=2, allow_nan=True) + "\n"
