"""Interleaved timing under a fake clock: the block order is exact, and a drifting machine's
drift cancels in the paired ratio while it biases two medians measured one after the other."""

from __future__ import annotations

from typing import Any

import pytest

from bench.experiments.comparison import THRESHOLD, PairedComparison, compare_rounds
from bench.experiments.interleave import Arm, measure_interleaved, round_limits, round_order
from bench.measure.timing.engine import (
    BlockTiming,
    CpuTimer,
    CudaTimer,
    TimingPolicy,
    measure_latency,
)
from bench.records import Contention
from tests.fakes import FakeClock, FakeCudaBackend

A_NS, B_NS = 10_000, 20_000  # B costs exactly twice A
DRIFT = 0.30  # the machine is 30% slower at the end of the run than at its start
POLICY = TimingPolicy(
    warmup_min_iterations=3,
    min_blocks=10,
    budget_s=0.25,
    precision=0.0,  # never precise enough: every measurement samples its whole budget
    min_block_s=0.001,
)


class DriftingMachine:
    """A fake host clock on a machine whose speed drifts: work begun at time t costs its nominal
    nanoseconds times 1 + DRIFT * t / span (capped at the span), and time moves only by work."""

    def __init__(self, span_s: float, drift: float = DRIFT) -> None:
        self.now_ns = 0.0
        self.span_ns = span_s * 1e9
        self.drift = drift

    def __call__(self) -> int:
        return round(self.now_ns)

    def work(self, nominal_ns: float) -> None:
        self.now_ns += nominal_ns * (1 + self.drift * min(self.now_ns / self.span_ns, 1.0))


class Op:
    """A variant whose every call costs `nominal_ns` on the machine."""

    def __init__(self, label: str, nominal_ns: float, machine: DriftingMachine) -> None:
        self.label = label
        self.nominal_ns = nominal_ns
        self.machine = machine

    def __call__(self) -> None:
        self.machine.work(self.nominal_ns)


class LoggingTimer(CpuTimer):
    """The CPU timer on the fake clock, logging each timed region as (label, calls)."""

    def __init__(self, machine: DriftingMachine) -> None:
        super().__init__(machine)
        self.log: list[tuple[str, int]] = []

    def time_block(self, fn: Any, iterations: int, lead: Any = None) -> BlockTiming:
        self.log.append((fn.label, iterations))
        return super().time_block(fn, iterations, lead)


class FakeProbe:
    def start(self) -> None:
        pass

    def stop(self) -> Contention:
        return Contention(wall_s=1.0, others_cpu_s=0.0, cores=2, cores_needed=1, load_avg=0.1)


def interleave(ops: list[Op], machine: DriftingMachine, setups: dict[str, Any] | None = None):
    timer = LoggingTimer(machine)
    setups = setups or {}
    arms = [Arm(op, setups.get(op.label)) for op in ops]
    return measure_interleaved(arms, timer, POLICY, machine, FakeProbe()), timer


def test_round_order_is_abba_for_two_and_rotated_mirrors_for_more() -> None:
    assert [round_order(2, r) for r in range(3)] == [(0, 1, 1, 0)] * 3
    assert [round_order(3, r) for r in range(4)] == [
        (0, 1, 2, 2, 1, 0),
        (1, 2, 0, 0, 2, 1),
        (2, 0, 1, 1, 0, 2),
        (0, 1, 2, 2, 1, 0),
    ]
    assert round_order(1, 5) == (0,)


def test_rounds_run_abba_block_by_block_after_every_warmup() -> None:
    machine = DriftingMachine(span_s=0.5)
    result, timer = interleave([Op("A", A_NS, machine), Op("B", B_NS, machine)], machine)
    warmups = sum(1 + arm.warmup.iterations for arm in result.arms)
    assert all(calls == 1 for _, calls in timer.log[:warmups])
    assert [label for label, _ in timer.log[:warmups]] == (
        ["A"] * (1 + result.arms[0].warmup.iterations)
        + ["B"] * (1 + result.arms[1].warmup.iterations)
    )
    rounds = timer.log[warmups:]
    assert "".join(label for label, _ in rounds) == "ABBA" * result.rounds
    sizes = {label: calls for label, calls in rounds}
    assert [calls for label, calls in rounds] == [sizes[label] for label, _ in rounds]  # fixed
    # ~1.25 ms blocks: the 0.5 s budget over 100 rounds of 4 blocks, at 10 and 20 us a call
    assert (sizes["A"], sizes["B"]) == (125, 63)
    assert [arm.calls_per_block for arm in result.arms] == [125, 63]
    assert 80 <= result.rounds <= 100  # 100 planned; the machine slows 15% on average
    for arm in result.arms:
        assert len(arm.samples_ms) == 2 * result.rounds
        assert len(arm.round_medians_ms) == result.rounds


def test_three_arms_rotate_and_mirror_each_round() -> None:
    machine = DriftingMachine(span_s=0.75)
    ops = [Op("A", A_NS, machine), Op("B", B_NS, machine), Op("C", A_NS, machine)]
    result, timer = interleave(ops, machine)
    blocks = "".join(label for label, calls in timer.log if calls > 1)
    expected = "".join("".join("ABC"[i] for i in round_order(3, r)) for r in range(result.rounds))
    assert blocks == expected and blocks.startswith("ABCCBABCAACBCABBAC")


def test_with_a_setup_hook_every_call_is_timed_alone_after_its_setup() -> None:
    machine = DriftingMachine(span_s=0.5)
    events: list[str] = []
    ops = [Op("A", A_NS, machine), Op("B", B_NS, machine)]

    def setup_a() -> None:
        events.append("setup")

    timer_result, timer = interleave(ops, machine, {"A": setup_a})
    a_calls = [calls for label, calls in timer.log if label == "A"]
    assert set(a_calls) == {1}  # never a timed region of several calls
    a_timed = len(a_calls)
    assert len(events) == a_timed  # one setup before each, none inside the timing
    arm = timer_result.arms[0]
    assert arm.calls_per_block > 1  # a block still holds many (separately timed) calls
    assert a_timed == 1 + arm.warmup.iterations + 2 * timer_result.rounds * arm.calls_per_block


def test_paired_ratio_cancels_drift_that_biases_one_after_the_other_medians() -> None:
    # interleaved: both variants share every round of the drifting half second
    machine = DriftingMachine(span_s=0.5)
    result, _ = interleave([Op("A", A_NS, machine), Op("B", B_NS, machine)], machine)
    a, b = result.arms
    slower = compare_rounds("A", b.round_medians_ms, a.round_medians_ms)
    assert slower.ratio == pytest.approx(2.0, rel=0.01)
    assert slower.ci_low is not None and slower.ci_high is not None
    assert slower.ci_low <= 2.0 * 1.01 and slower.ci_high >= 2.0 * 0.99
    assert (slower.verdict, slower.rounds) == ("slower", result.rounds)
    faster = compare_rounds("B", a.round_medians_ms, b.round_medians_ms)
    assert faster.ratio == pytest.approx(0.5, rel=0.01)
    assert faster.verdict == "faster"
    # each row's own statistics still come from its samples, with the drift inside them
    assert result.latency(1, POLICY).median_ms == pytest.approx(2 * 1.15 * A_NS / 1e6, rel=0.05)

    # the old way on the same drifting machine: A's budget, then B's, medians divided
    machine = DriftingMachine(span_s=0.5)
    timer = CpuTimer(machine)
    first = measure_latency(Op("A", A_NS, machine), timer, POLICY, machine, probe=FakeProbe())
    second = measure_latency(Op("B", B_NS, machine), timer, POLICY, machine, probe=FakeProbe())
    separate = second.median_ms / first.median_ms
    assert separate > 2.0 * 1.10  # B ran on the slower half of the run


def test_round_limits_follow_the_policy_and_the_pairing_minimum() -> None:
    assert round_limits(2, POLICY) == (6, 5000)  # 10 samples = 5 rounds, but pairs need 6
    assert round_limits(1, POLICY) == (10, 10_000)
    quick = TimingPolicy(min_blocks=3, max_samples=3, budget_s=0.0)
    assert round_limits(2, quick) == (1, 1)  # a smoke test: one round, no interval


def test_too_few_rounds_or_doubts_give_no_verdict_but_keep_the_figures() -> None:
    few = compare_rounds("out_of_place", [1.0] * 3, [2.0] * 3)
    assert (few.verdict, few.ratio, few.rounds) == ("inconclusive", None, 3)
    assert "at least 6" in few.reason
    doubted = compare_rounds("out_of_place", [1.0] * 8, [2.0] * 8, ["`x` contended"])
    assert (doubted.verdict, doubted.reason) == ("inconclusive", "`x` contended")
    assert doubted.ratio == pytest.approx(0.5)
    # the verdict leads: "2.00x faster (... verdict inconclusive)" read as a finding; a ratio
    # whose whole interval is far past the threshold keeps its direction, not its size
    assert doubted.sentence().startswith(
        "faster by an amount not to quote (inconclusive: `x` contended);"
    )
    assert "2.00x faster (95% CI" in doubted.sentence()
    near = compare_rounds("out_of_place", [1.0, 1.1] * 4, [1.0, 1.0] * 4, ["`x` contended"])
    assert near.sentence().startswith("no clear difference (inconclusive: `x` contended);")
    same = compare_rounds("out_of_place", [1.0, 1.01] * 4, [1.0, 1.0] * 4)
    assert same.verdict == "same" and same.threshold == THRESHOLD


def test_comparison_sentence_and_record_round_trip() -> None:
    paired = compare_rounds("out_of_place", [1.0, 1.02, 0.98] * 4, [2.0] * 12)
    assert paired.sentence().startswith("2.00x faster (95% CI ")
    assert "12 interleaved rounds; verdict faster" in paired.sentence()
    assert PairedComparison.from_record(paired.record()) == paired
    assert PairedComparison.from_record({**paired.record(), "later_field": 1}) == paired


def test_cuda_blocks_use_device_time_and_keep_the_host_wall() -> None:
    backend = FakeCudaBackend()
    clock = FakeClock(step_ns=1_000)  # the host clock moves 1 us a read; kernels move none

    class Kernel:
        def __init__(self, label: str, ms: float) -> None:
            self.label, self.ms = label, ms

        def __call__(self) -> None:
            backend.device_time_ms += self.ms

    timer = CudaTimer("cuda:1", backend, clock)
    policy = TimingPolicy(warmup_min_iterations=2, steady_window=0, min_blocks=6, budget_s=0.0)
    refreshed: list[str] = []
    arms = [
        Arm(Kernel("A", 0.01), lambda: refreshed.append("A")),
        Arm(Kernel("B", 0.02), lambda: refreshed.append("B")),
    ]
    result = measure_interleaved(arms, timer, policy, clock, FakeProbe())
    a, b = result.arms
    assert result.rounds == 6  # no budget: the pairing minimum
    assert a.samples_ms == pytest.approx([0.01] * 12) and b.samples_ms == pytest.approx([0.02] * 12)
    assert len(a.wall_samples_ms) == len(a.samples_ms)  # the synchronized host wall, per block
    assert compare_rounds("A", b.round_medians_ms, a.round_medians_ms).ratio == pytest.approx(2)
    assert ("synchronize", "cuda:1") in backend.log
    # the cold call refreshes once; each warmup call and each of the two 1-call blocks a round
    # twice: before its untimed lead call, and after it, before the timed call
    assert refreshed.count("A") == 1 + 2 * (2 + 2 * 6)
