"""The controller of `bench ab`: matched cases, each measured in interleaved rounds.

This virtual machine drifts 16-24% between half-second windows, and whole runs shift 20-30%:
two runs made one after the other cannot tell a 10% change from the weather. So both sides are
measured in one run, alternating block by block. Per case: both sides prepare (build, cold call,
warm up, calibrate); each side's block gets as many samples as fill about --block-time at its own
per-call pace; then rounds run, one block per side each, until the budget (both sides together)
is spent and at least --min-rounds are done. Rounds alternate ABBA (even rounds BASE first,
odd rounds NEW first), so a side's position in the round (caches, frequency ramp after the
other side's block) cancels too; `random` draws each round's order from a seeded RNG instead.

Interleaving cannot cancel what is fixed for a worker process's whole life (memory layout,
thread placement): on this VM one conv net read 8.0-8.5 ms in five processes and 12.1 ms in a
sixth, each with a +-1% interval. So a case's rounds are spread over --processes N worker
pairs, one after another: pair 1 prepares the case and runs its share of the rounds (budget / N,
at least `pair_min_rounds`), then both workers are replaced by fresh processes, which prepare
the case again for pair 2, and so on. The interval then resamples pairs, then rounds
(bench.stats.paired_ratio_grouped), so two processes in different states widen it instead of
passing for a change. Round numbers (and so the ABBA order) run on across a case's pairs. The
pair that a case starts with is whichever workers the previous case left running.

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
    processes: int = 2  # worker pairs per case, one after another (1: the same two workers)


def pair_min_rounds(settings: AbSettings) -> int:
    """The rounds each worker pair runs at least: --min-rounds spread over the pairs, and
    never fewer than 3 per pair when there are several (one pair: --min-rounds itself)."""
    if settings.processes <= 1:
        return settings.min_rounds
    return max(3, math.ceil(settings.min_rounds / settings.processes))


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
    """The case's --timeout, read on the controller's clock (each worker pair gets its own)."""

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
    case = _CaseMeasurement(info, workers, settings, clock)
    for pair in range(1, max(settings.processes, 1) + 1):
        if pair > 1:  # a fresh BASE and a fresh NEW process for the next pair
            for worker in workers.values():
                worker.restart()
        case.start_pair(pair)
        try:
            case.prepare()
            if not case.errors:
                case.run_rounds()
        finally:
            case.release()
        if case.errors:
            break
    return case.result()


class _CaseMeasurement:
    """One case as it is measured: what each side prepared in each worker pair, the rounds so
    far, the readings and the failures. Rounds are kept as they come, so a side that fails
    mid-way leaves the rounds before it on record (and no later pair starts)."""

    def __init__(
        self,
        info: CaseInfo,
        workers: dict[str, Worker],
        settings: AbSettings,
        clock: Callable[[], float],
    ) -> None:
        self.info, self.workers, self.settings, self.clock = info, workers, settings, clock
        self.pair = 0
        self.live: dict[str, Prepared] = {}  # prepared in the current pair, to be released
        self.prepared: dict[str, list[Prepared]] = {name: [] for name in workers}  # per pair
        self.samples: dict[str, list[int]] = {name: [] for name in workers}
        self.errors: dict[str, str] = {}
        self.rounds: list[Round] = []
        self.readings: dict[str, list[Contention]] = {name: [] for name in workers}
        self.rng = random.Random(f"{settings.seed}:{info.label}")
        self.timeout_s = settings.timeout_s or info.timeout_s or DEFAULT_TIMEOUT_S
        self.deadline = _Deadline(clock, self.timeout_s)

    def start_pair(self, pair: int) -> None:
        """Both workers running (fresh ones after a kill or a restart), and the pair's time
        limit started: a fresh worker's start-up is not the case's time."""
        self.pair = pair
        for name, worker in self.workers.items():
            try:
                worker.ready()
            except CaseFailed as exc:
                self.errors[name] = f"worker did not start again: {exc}"
        self.deadline = _Deadline(self.clock, self.timeout_s)

    def prepare(self) -> None:
        block_time_s, budget_s = self.settings.block_time_s, self.settings.budget_s
        for name, worker in self.workers.items():
            if name in self.errors:
                continue
            try:
                prepared = worker.prepare(
                    self.info.key, block_time_s, budget_s, self.deadline.left()
                )
            except CaseFailed as exc:
                self.errors[name] = self.deadline.reason(exc)
                continue
            self.live[name] = prepared
            self.prepared[name].append(prepared)
            self.samples[name].append(samples_per_block(prepared, block_time_s))

    def run_rounds(self) -> None:
        """The pair's rounds: until its share of the budget is spent and its minimum is met,
        or a side fails."""
        settings = self.settings
        budget_s = settings.budget_s / max(settings.processes, 1)
        min_rounds = pair_min_rounds(settings)
        samples = {name: per_pair[-1] for name, per_pair in self.samples.items()}
        start, done = self.clock(), 0
        while done < min_rounds or self.clock() - start < budget_s:
            i = len(self.rounds)
            base_first = i % 2 == 0 if settings.order == ABBA else self.rng.random() < 0.5
            medians: dict[str, float] = {}
            for name in ("BASE", "NEW") if base_first else ("NEW", "BASE"):
                try:
                    reading = self.workers[name].block(samples[name], self.deadline.left())
                except CaseFailed as exc:
                    self.errors[name] = self.deadline.reason(exc)
                    return
                medians[name] = _block_median(reading.per_call_ms)
                if reading.contention is not None:
                    self.readings[name].append(reading.contention)
            self.rounds.append(Round(base_first, medians["BASE"], medians["NEW"], self.pair))
            done += 1

    def release(self) -> None:
        live, self.live = self.live, {}
        for name in live:
            try:
                self.workers[name].release(max(self.deadline.at - self.clock(), RELEASE_S))
            except CaseFailed as exc:
                self.errors.setdefault(name, f"release: {self.deadline.reason(exc)}")

    def side(self, name: str) -> SideRecord:
        readings = self.readings[name]
        prepared, samples = self.prepared[name], self.samples[name]
        return SideRecord(
            prepared=prepared[0] if prepared else None,
            samples=samples[0] if samples else None,
            pairs=tuple(zip(prepared, samples, strict=True)),
            error=self.errors.get(name),
            contention=summed(readings),
            contended_blocks=sum(r.contended is True for r in readings),
        )

    def result(self) -> CaseRun:
        base, new = self.side("BASE"), self.side("NEW")
        judgement = judge(self.rounds, base, new, self.settings.threshold)
        return CaseRun(self.info.key, self.info.label, tuple(self.rounds), base, new, judgement)


def _block_median(per_call_ms: tuple[float, ...]) -> float:
    """The block's median; NaN when any sample is impossible (zero, negative, not finite), so
    the verdict rule refuses the case rather than a median hiding a broken clock."""
    if not per_call_ms or not all(math.isfinite(v) and v > 0 for v in per_call_ms):
        return math.nan
    return float(statistics.median(per_call_ms))
