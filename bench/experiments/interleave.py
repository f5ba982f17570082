"""Interleaved timing: the variants under comparison take turns, block by block.

This VM drifts 16-24% between half-second windows (MEASUREMENT.md). Two variants timed one
after the other each carry their own window's speed, and the ratio of their medians carries the
drift. Here every variant is first warmed up (`warm_up`, the engine's rules) and given a block
size, then rounds run until the budget is spent. A round holds two blocks of every variant in a
mirrored order: ABBA for two; for k variants the order rotated by one each round, then its
mirror image (ABCCBA, BCAACB, CABBAC, ...). A drift that is linear across a round then weighs
the same on every variant, and over k rounds every variant takes every position. The unit a
comparison is made of is the round: per variant, the median of its blocks in that round
(bench.stats pairs them across variants).

A block is a fixed number of timed calls. Where a setup hook must run before every call (a
fresh input for an in-place op), each call is timed on its own with its setup outside the timed
region, as the engine does; otherwise the calls run back to back in one timed region, sized by
the engine's `choose_block_size` so the clock's own cost is negligible. Blocks are sized so that
about TARGET_ROUNDS rounds fill the budget: short rounds see little drift inside them.

Every timed call goes through the injected timer and every stopping rule reads the injected
clock, so tests drive the loop exactly with a fake clock that drifts.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bench.measure.timing.engine import (
    BlockTiming,
    Clock,
    Timer,
    TimingPolicy,
    Warmup,
    choose_block_size,
    warm_up,
)
from bench.measure.timing.timers import lead_call
from bench.records import Contention, LatencyStats

TARGET_ROUNDS = 100
"""Rounds the block sizes aim for within the budget: enough for a tight bootstrap interval over
rounds, few enough that a block still spans many calls of a microsecond op."""


class Probe(Protocol):
    """Brackets the rounds (bench.measure.contention.ContentionProbe)."""

    def start(self) -> None: ...

    def stop(self) -> Contention: ...


@dataclass(frozen=True)
class Arm:
    """One variant to interleave: the call timed, and the hook that must run before every call,
    outside the timed region (None: calls may run back to back in one timed region)."""

    fn: Callable[[], Any]
    setup: Callable[[], Any] | None = None
    # the timer for this arm alone (None: the run's): on CUDA, an op that launches no kernel
    # is timed on the host, where its cost is (bench.experiments.measure)
    timer: Timer | None = None

    def timed_by(self, default: Timer) -> Timer:
        return default if self.timer is None else self.timer


@dataclass(frozen=True)
class ArmTiming:
    """What one arm's interleaved blocks measured, in milliseconds per call."""

    warmup: Warmup
    calls_per_block: int
    samples_ms: tuple[float, ...]  # one per block: its timed time over its calls
    wall_samples_ms: tuple[float, ...]  # the same from the synchronized host wall (CUDA)
    round_medians_ms: tuple[float, ...]  # per round: the median of this arm's blocks in it


@dataclass(frozen=True)
class Interleaved:
    """Every arm's timing from one interleaved run, and what the machine did meanwhile."""

    arms: tuple[ArmTiming, ...]
    rounds: int
    contention: Contention | None
    measure_s: float  # host time of the whole run: every warmup and every round

    def latency(self, index: int, policy: TimingPolicy) -> LatencyStats:
        """Arm `index`'s statistics over its block samples, as the engine would build them;
        `measure_s` is its share of the run's time."""
        arm = self.arms[index]
        return LatencyStats.from_samples(
            arm.samples_ms,
            warmup_iterations=arm.warmup.iterations,
            iterations_per_sample=arm.calls_per_block,
            first_call_ms=arm.warmup.first_call_ms,
            precision_target=policy.precision,
            wall_samples_ms=arm.wall_samples_ms,
            confidence=policy.confidence,
            measure_s=self.measure_s / len(self.arms),
            steady=arm.warmup.steady,
            contention=self.contention,
        )


def round_order(arms: int, round_index: int) -> tuple[int, ...]:
    """The arms' blocks in round `round_index`: (0,) for one arm; 0 1 1 0 (ABBA) for two; for
    more, the order rotated by `round_index`, then mirrored."""
    if arms < 1:
        raise ValueError("nothing to interleave")
    if arms == 1:
        return (0,)
    shift = round_index % arms if arms > 2 else 0
    forward = tuple((i + shift) % arms for i in range(arms))
    return forward + forward[::-1]


def round_limits(arms: int, policy: TimingPolicy) -> tuple[int, int]:
    """Fewest and most rounds: each arm collects at least `min_blocks` blocks (and, with
    something to pair, at least MIN_ROUNDS rounds) and at most `max_samples`; at least one."""
    # imported here: bench.compare's package imports the report, which imports this module
    from bench.stats import MIN_ROUNDS

    blocks = round_order(arms, 0).count(0)  # every arm has as many blocks in a round
    most = max(1, policy.max_samples // blocks)
    fewest = max(1, math.ceil(policy.min_blocks / blocks), MIN_ROUNDS if arms > 1 else 1)
    return min(fewest, most), most


def time_block(arm: Arm, calls: int, timer: Timer) -> BlockTiming:
    """One block of `calls` calls: a single timed region, or with a setup hook one timed region
    per call after its setup (times summed)."""
    lead = lead_call(arm.fn, arm.setup)
    if arm.setup is None:
        return timer.time_block(arm.fn, calls, lead)
    elapsed_ms, wall_ms = 0.0, 0.0
    has_wall = True
    for _ in range(calls):
        arm.setup()
        block = timer.time_block(arm.fn, 1, lead)
        elapsed_ms += block.elapsed_ms
        if block.wall_ms is None:
            has_wall = False
        else:
            wall_ms += block.wall_ms
    return BlockTiming(elapsed_ms=elapsed_ms, wall_ms=wall_ms if has_wall else None)


def measure_interleaved(
    arms: Sequence[Arm], timer: Timer, policy: TimingPolicy, clock: Clock, probe: Probe
) -> Interleaved:
    """Warm every arm up, size its blocks, then run rounds until `len(arms) * budget_s` (from
    the first warmup call) is spent, within the round limits."""
    fewest, most = round_limits(len(arms), policy)  # first: its first call imports a module
    start_ns = clock()
    deadline_ns = start_ns + len(arms) * policy.budget_s * 1e9
    warmups, paces_ns = [], []
    for arm in arms:
        before_ns = clock()
        warmup = warm_up(arm.fn, arm.timed_by(timer), policy, clock, setup=arm.setup)
        warmups.append(warmup)
        # host time per call, setup included: what a block of calls will cost the budget
        paces_ns.append((clock() - before_ns) / (warmup.iterations + 1))
    calls = _block_sizes(arms, warmups, paces_ns, timer, policy, fewest, deadline_ns - clock())
    probe.start()
    blocks = _run_rounds(arms, calls, timer, clock, deadline_ns, fewest, most)
    contention = probe.stop()
    timings = tuple(
        _arm_timing(warmup, size, per_round)
        for warmup, size, per_round in zip(warmups, calls, blocks, strict=True)
    )
    return Interleaved(
        arms=timings,
        rounds=len(blocks[0]),
        contention=contention,
        measure_s=(clock() - start_ns) / 1e9,
    )


def _block_sizes(
    arms: Sequence[Arm],
    warmups: Sequence[Warmup],
    paces_ns: Sequence[float],
    timer: Timer,
    policy: TimingPolicy,
    fewest_rounds: int,
    remaining_ns: float,
) -> list[int]:
    """Calls per block for each arm: a block lasts about the budget over TARGET_ROUNDS rounds'
    blocks, never less than the engine's block for the clock's cost, and `fewest_rounds` rounds
    still fit in the arm's share of the remaining budget."""
    order = round_order(len(arms), 0)
    target_s = max(0.0, remaining_ns) / (TARGET_ROUNDS * len(order)) / 1e9
    block_policy = dataclasses.replace(
        policy,
        min_block_s=max(policy.min_block_s, target_s),
        min_blocks=fewest_rounds * order.count(0),
    )
    share_ns = remaining_ns / len(arms)
    sizes = []
    for arm, warmup, pace_ns in zip(arms, warmups, paces_ns, strict=True):
        if arm.setup is None:
            overhead_ns = arm.timed_by(timer).overhead_ns()
            per_call_ns = max(warmup.steady_ms * 1e6 - overhead_ns, 1.0)
            sizes.append(choose_block_size(per_call_ns, overhead_ns, block_policy, share_ns))
        else:  # each call is timed on its own: the clock's cost is not spread over a block
            sizes.append(choose_block_size(max(pace_ns, 1.0), 0.0, block_policy, share_ns))
    return sizes


def _run_rounds(
    arms: Sequence[Arm],
    calls: Sequence[int],
    timer: Timer,
    clock: Clock,
    deadline_ns: float,
    fewest: int,
    most: int,
) -> list[list[list[BlockTiming]]]:
    """blocks[arm][round]: the arm's blocks in each round, in the order they ran."""
    blocks: list[list[list[BlockTiming]]] = [[] for _ in arms]
    rounds = 0
    while rounds < most and (rounds < fewest or clock() < deadline_ns):
        for per_arm in blocks:
            per_arm.append([])
        for index in round_order(len(arms), rounds):
            arm = arms[index]
            blocks[index][rounds].append(time_block(arm, calls[index], arm.timed_by(timer)))
        rounds += 1
    return blocks


def _arm_timing(warmup: Warmup, calls: int, rounds: list[list[BlockTiming]]) -> ArmTiming:
    samples, walls, medians = [], [], []
    for blocks in rounds:
        per_call = [block.elapsed_ms / calls for block in blocks]
        samples += per_call
        walls += [block.wall_ms / calls for block in blocks if block.wall_ms is not None]
        medians.append(statistics.median(per_call))
    return ArmTiming(warmup, calls, tuple(samples), tuple(walls), tuple(medians))
