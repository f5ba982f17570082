"""What `bench ab` found: per case, the rounds, each side's part, and the verdict; the gate.

The verdict comes from the paired rounds alone: NEW/BASE per round (both blocks of a round ran
within a fraction of a second of each other, so machine drift moves them alike and cancels in
the ratio), the mean log ratio bootstrapped over the worker pairs, then the rounds within each
(paired_ratio_grouped; with one pair, over rounds: paired_ratio); the one interval rule,
interval_verdict, turns that interval into `slower`, `faster`, `same` or `inconclusive`.
It is forced to `inconclusive`, with the reason, when a side failed the case, when either side
ran contended (summed over its blocks: one 0.1 s block is too short for /proc/stat's 10 ms ticks
to judge alone), or when the rounds give no interval (fewer than MIN_ROUNDS, impossible times).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from bench.ab.protocol import Prepared
from bench.records.keys import CaseKey
from bench.records.latency import Contention
from bench.stats import VERDICTS, interval_verdict, paired_ratio_grouped, suspects_reason


@dataclass(frozen=True)
class Round:
    """One round: each side's block median, which side ran first, and the worker pair (from 1)
    whose processes ran it."""

    base_first: bool
    base_ms: float
    new_ms: float
    pair: int = 1

    @property
    def order(self) -> str:
        """ "AB" when BASE ran first, else "BA"."""
        return "AB" if self.base_first else "BA"


@dataclass(frozen=True)
class SideRecord:
    """One side's part of a case: its calibration, block size, failure and contention."""

    prepared: Prepared | None = None  # in the first worker pair
    samples: int | None = None  # raw samples per block, in the first worker pair
    pairs: tuple[tuple[Prepared, int], ...] = ()  # calibration and block size, per worker pair
    error: str | None = None
    contention: Contention | None = None  # summed over the side's blocks
    contended_blocks: int = 0  # blocks judged contended on their own


@dataclass(frozen=True)
class Judgement:
    """The figures and the verdict. `judged`: the verdict is the interval rule's own, not one
    forced to inconclusive (a failed side, contention, too few rounds, impossible times)."""

    verdict: str
    reason: str
    judged: bool = False
    base_median_ms: float | None = None
    new_median_ms: float | None = None
    ratio: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None


@dataclass(frozen=True)
class CaseRun:
    key: CaseKey
    label: str
    rounds: tuple[Round, ...]
    base: SideRecord
    new: SideRecord
    judgement: Judgement

    @property
    def errored(self) -> bool:
        return self.base.error is not None or self.new.error is not None

    @property
    def pairs(self) -> int:
        """The worker pairs the rounds came from."""
        return len({r.pair for r in self.rounds})


@dataclass(frozen=True)
class AbRun:
    """Every matched case in suite order; the keys found on one side only."""

    threshold: float
    cases: tuple[CaseRun, ...]
    added: tuple[CaseKey, ...]  # in NEW only
    removed: tuple[CaseKey, ...]  # in BASE only

    def counts(self) -> dict[str, int]:
        return {v: sum(c.judgement.verdict == v for c in self.cases) for v in VERDICTS}


def _median(values: Sequence[float]) -> float | None:
    if not values or not all(math.isfinite(v) for v in values):
        return None
    return float(statistics.median(values))


def summed(readings: Sequence[Contention]) -> Contention | None:
    """One reading over all of a side's blocks: their wall and other processes' CPU added."""
    if not readings:
        return None
    return Contention(
        wall_s=sum(r.wall_s for r in readings),
        others_cpu_s=sum(r.others_cpu_s for r in readings),
        cores=readings[0].cores,
        cores_needed=readings[0].cores_needed,
        load_avg=readings[-1].load_avg,
    )


def _contention_reason(base: SideRecord, new: SideRecord) -> str:
    for name, side in (("BASE", base), ("NEW", new)):
        reading = side.contention
        if reading is not None and reading.contended:
            share = reading.others_cpu_share or 0.0
            return f"{name} ran contended (others took {share:.0%} of its cores)"
    return ""


def judge(
    rounds: Sequence[Round], base: SideRecord, new: SideRecord, threshold: float
) -> Judgement:
    """The case's verdict from its rounds, forced to inconclusive where it cannot be trusted."""
    base_ms = [r.base_ms for r in rounds]
    new_ms = [r.new_ms for r in rounds]
    medians = {"base_median_ms": _median(base_ms), "new_median_ms": _median(new_ms)}
    for name, side in (("BASE", base), ("NEW", new)):
        if side.error is not None:
            return Judgement("inconclusive", f"{name} failed: {side.error}", **medians)
    pairs = sorted({r.pair for r in rounds})
    try:
        paired = paired_ratio_grouped(
            [[r.base_ms for r in rounds if r.pair == p] for p in pairs],
            [[r.new_ms for r in rounds if r.pair == p] for p in pairs],
        )
    except ValueError as exc:  # too few rounds, or a time no ratio can be taken of
        return Judgement("inconclusive", str(exc), **medians)
    figures = {
        **medians,
        "ratio": paired.ratio,
        "ci_low": paired.ci_low,
        "ci_high": paired.ci_high,
        "p_value": paired.p_value,
    }
    contended = _contention_reason(base, new)
    if contended:
        return Judgement("inconclusive", contended, **figures)
    verdict, reason = interval_verdict(paired.ci_low, paired.ci_high, threshold)
    return Judgement(verdict, reason, judged=True, **figures)


def regressions_beyond(run: AbRun, fraction: float) -> list[CaseRun]:
    """Cases confidently slower by more than `fraction`: the interval's low end is past
    1 + fraction, whatever --threshold called them, in a case the rule could judge."""
    return [
        c
        for c in run.cases
        if c.judgement.judged
        and c.judgement.ci_low is not None
        and c.judgement.ci_low > 1 + fraction
    ]


def unjudged_reason(run: AbRun, fraction: float | None = None) -> str:
    """Why a gate could not judge this run ('' when it could): NEW failed some case, no case
    matched, every case was inconclusive, or (with the gate's `fraction`) an inconclusive
    case's ratio is past the gate: a regression it could not confirm."""
    failed = [c.label for c in run.cases if c.new.error is not None]
    if failed:
        more = f" and {len(failed) - 1} more" if len(failed) > 1 else ""
        return f"NEW failed {failed[0]}{more}"
    if not run.cases:
        return "no case is in both BASE's and NEW's suite"
    if all(
        c.judgement.verdict == "inconclusive"
        and not (
            fraction is not None
            and c.judgement.judged
            and c.judgement.ci_high is not None
            and c.judgement.ci_high <= 1 + fraction
        )
        for c in run.cases
    ):
        return "every case is inconclusive"
    if fraction is None:
        return ""
    return suspects_reason(
        [
            (c.label, c.judgement.ratio, c.judgement.reason)
            for c in run.cases
            if c.judgement.verdict == "inconclusive"
            and c.judgement.ratio is not None
            and c.judgement.ratio > 1 + fraction
        ]
    )
