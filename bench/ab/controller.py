"""The controller of `bench ab`: matched cases, each measured in interleaved rounds.

This virtual machine drifts 16-24% between half-second windows, and whole runs shift 20-30%:
two runs made one after the other cannot tell a 10% change from the weather. So both sides are
measured in one run, alternating block by block. Per case: both sides prepare (build, cold call,
warm up, calibrate); each side's block gets as many samples as fill about --block-time at its own
per-call pace; then rounds run, one block per side each, until the budget (both sides together)
is spent and at least --min-rounds are done. Rounds alternate ABBA (even rounds BASE first,
odd rounds NEW first), so a side's position in the round (caches, frequency ramp after the
other side's block) cancels too; `random` draws each round's order from a seeded RNG instead.

The workers and the clock are parameters: tests drive this with in-process fakes and a fake
clock that drifts, and check the order, the stopping rule and the verdicts exactly.
"""

from __future__ import annotations

import math
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from bench.ab.outcome import AbRun, CaseRun, Round, SideRecord, judge, summed
from bench.ab.protocol import CaseFailed, CaseInfo, Listing, NoAnswer, Prepared, Worker
from bench.durations import describe_seconds
from bench.measure.watchdog import DEFAULT_TIMEOUT_S
from bench.records.latency import Contention

ABBA, RANDOM = "abba", "random"
ORDERS = (ABBA, RANDOM)
RELEASE_S = 30.0  # the least a release gets, even past the case's deadline
MAX_SAMPLES = 100_000  # per block: a sanity bound on a per-call estimate near zero


@dataclass(frozen=True)
class AbSettings:
    threshold: float = 0.10
    budget_s: float = 3.0  # rounds per case, both sides together
    block_time_s: float = 0.1
    min_rounds: int = 10
    order: str = ABBA
    seed: int = 0
    timeout_s: float | None = None  # per case; None: the suite's `timeout`, else the default


class Observer(Protocol):
    """Progress: told when a case starts and when its verdict is in (the CLI prints it)."""

    def case_started(self, index: int, total: int, label: str) -> None: ...

    def case_finished(self, index: int, total: int, case: CaseRun) -> None: ...


def samples_per_block(prepared: Prepared, block_time_s: float) -> int:
    """How many raw samples (of `calls` calls each) last about `block_time_s`."""
    sample_ms = prepared.calls * prepared.per_call_ms
    if not (math.isfinite(sample_ms) and sample_ms > 0):
        return 1
    return max(1, min(round(block_time_s * 1000 / sample_ms), MAX_SAMPLES))


def run_ab(
    base: Worker,
    new: Worker,
    listings: tuple[Listing, Listing],
    settings: AbSettings,
    clock: Callable[[], float] = time.monotonic,
    observer: Observer | None = None,
) -> AbRun:
    """Every case both listings hold (in BASE's order), measured interleaved, and judged."""
    base_listing, new_listing = listings
    new_keys = {c.key for c in new_listing.cases}
    base_keys = {c.key for c in base_listing.cases}
    matched = [c for c in base_listing.cases if c.key in new_keys]
    cases = []
    for index, info in enumerate(matched, 1):
        if observer is not None:
            observer.case_started(index, len(matched), info.label)
        case = _run_case(info, {"BASE": base, "NEW": new}, settings, clock)
        cases.append(case)
        if observer is not None:
            observer.case_finished(index, len(matched), case)
    return AbRun(
        threshold=settings.threshold,
        cases=tuple(cases),
        added=tuple(c.key for c in new_listing.cases if c.key not in base_keys),
        removed=tuple(c.key for c in base_listing.cases if c.key not in new_keys),
    )


class _Deadline:
    """The case's --timeout, read on the controller's clock."""

    def __init__(self, clock: Callable[[], float], timeout_s: float) -> None:
        self.clock, self.timeout_s = clock, timeout_s
        self.at = clock() + timeout_s

    def left(self) -> float:
        """Seconds left for the next answer; CaseFailed once the case is past its limit."""
        left = self.at - self.clock()
        if left <= 0:
            raise CaseFailed(f"past the case's limit of {self.limit()} (--timeout)")
        return left

    def limit(self) -> str:
        return describe_seconds(self.timeout_s)

    def reason(self, exc: CaseFailed) -> str:
        """The failure as the row says it: a side that did not answer ran out of the case's
        time, whatever was left of it for that one request."""
        if isinstance(exc, NoAnswer):
            return f"no answer within the case's limit of {self.limit()} (--timeout); worker killed"
        return str(exc)


def _run_case(
    info: CaseInfo, workers: dict[str, Worker], settings: AbSettings, clock: Callable[[], float]
) -> CaseRun:
    prepared: dict[str, Prepared] = {}
    errors: dict[str, str] = {}
    rounds: list[Round] = []
    readings: dict[str, list[Contention]] = {"BASE": [], "NEW": []}
    samples: dict[str, int] = {}
    for name, worker in workers.items():
        try:
            worker.ready()
        except CaseFailed as exc:
            errors[name] = f"worker did not start again: {exc}"
    timeout_s = settings.timeout_s or info.timeout_s or DEFAULT_TIMEOUT_S
    deadline = _Deadline(clock, timeout_s)  # from here: a fresh worker's start is not the case's
    try:
        for name, worker in workers.items():
            if name in errors:
                continue
            try:
                prepared[name] = worker.prepare(
                    info.key, settings.block_time_s, settings.budget_s, deadline.left()
                )
            except CaseFailed as exc:
                errors[name] = deadline.reason(exc)
        if not errors:
            samples = {n: samples_per_block(p, settings.block_time_s) for n, p in prepared.items()}
            _rounds(info, workers, settings, clock, deadline, samples, rounds, readings, errors)
    finally:
        for name in prepared:
            try:
                workers[name].release(max(deadline.at - clock(), RELEASE_S))
            except CaseFailed as exc:
                errors.setdefault(name, f"release: {deadline.reason(exc)}")

    def side(name: str) -> SideRecord:
        return SideRecord(
            prepared=prepared.get(name),
            samples=samples.get(name),
            error=errors.get(name),
            contention=summed(readings[name]),
            contended_blocks=sum(r.contended is True for r in readings[name]),
        )

    base, new = side("BASE"), side("NEW")
    return CaseRun(
        info.key, info.label, tuple(rounds), base, new, judge(rounds, base, new, settings.threshold)
    )


def _rounds(
    info: CaseInfo,
    workers: dict[str, Worker],
    settings: AbSettings,
    clock: Callable[[], float],
    deadline: _Deadline,
    samples: dict[str, int],
    rounds: list[Round],
    readings: dict[str, list[Contention]],
    errors: dict[str, str],
) -> None:
    """Rounds until the budget is spent and the minimum is met; appends as it goes, so a side
    that fails mid-way leaves the rounds before it on record."""
    rng = random.Random(f"{settings.seed}:{info.label}")
    start = clock()
    while len(rounds) < settings.min_rounds or clock() - start < settings.budget_s:
        base_first = len(rounds) % 2 == 0 if settings.order == ABBA else rng.random() < 0.5
        medians: dict[str, float] = {}
        for name in ("BASE", "NEW") if base_first else ("NEW", "BASE"):
            try:
                reading = workers[name].block(samples[name], deadline.left())
            except CaseFailed as exc:
                errors[name] = deadline.reason(exc)
                return
            medians[name] = _block_median(reading.per_call_ms)
            if reading.contention is not None:
                readings[name].append(reading.contention)
        rounds.append(Round(base_first, medians["BASE"], medians["NEW"]))


def _block_median(per_call_ms: tuple[float, ...]) -> float:
    """The block's median; NaN when any sample is impossible (zero, negative, not finite), so
    the verdict rule refuses the case rather than a median hiding a broken clock."""
    if not per_call_ms or not all(math.isfinite(v) and v > 0 for v in per_call_ms):
        return math.nan
    return float(statistics.median(per_call_ms))
