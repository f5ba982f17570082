"""`bench ab`: the controller driven by in-process fake workers on a drifting fake clock (order,
stopping, verdicts, failures, contention, the gate), then once through real worker processes on
two commits of a throwaway repository."""

from __future__ import annotations

import csv
import json
import math
import random
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from bench.ab.controller import RANDOM, AbSettings, pair_min_rounds, run_ab
from bench.ab.outcome import AbRun
from bench.ab.protocol import (
    BlockReading,
    CaseFailed,
    CaseInfo,
    Listing,
    NoAnswer,
    Prepared,
    decode,
    encode,
    reading_from_json,
    reading_to_json,
)
from bench.ab.render import SideDescription, render_csv, render_json, render_markdown
from bench.cli.ab import exit_code
from bench.records.keys import MODEL, CaseKey
from bench.records.latency import Contention
from bench.stats import paired_ratio, paired_ratio_grouped

RUN_S = 12.0  # the fake machine's drift spans this much fake time
DRIFT = 0.30


class DriftingClock:
    """Fake seconds, and the fake machine's speed at each moment: 30% slower by the end of
    RUN_S, with a 5% wobble every 0.7 s on top (this VM's half-second windows)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def slowdown(self) -> float:
        ramp = DRIFT * min(self.now / RUN_S, 1.0)
        return 1.0 + ramp + 0.05 * math.sin(2 * math.pi * self.now / 0.7)


def key(name: str) -> CaseKey:
    return CaseKey(MODEL, name, "cpu", "float32", 1)


class FakeWorker:
    """One side in process: each call takes `per_call_ms[case]` times the machine's slowdown,
    the current process's speed factor and 2% seeded noise, and advances the shared clock by
    what it ran. `process_speeds` holds each process's factor in start order (the first
    process, then one per restart; 1.0 past the end): what a real process keeps for its life."""

    def __init__(
        self,
        name: str,
        clock: DriftingClock,
        per_call_ms: dict[str, float],
        log: list[tuple[str, str]],
        seed: int = 0,
        fail_prepare: frozenset[str] = frozenset(),
        fail_block_after: dict[str, int] | None = None,
        others_cpu_share: float = 0.0,
        process_speeds: Sequence[float] = (),
    ) -> None:
        self.name, self.clock, self.per_call_ms, self.log = name, clock, per_call_ms, log
        self.process_speeds = process_speeds
        self.processes = 1  # started so far
        self.rng = random.Random(f"{seed}:{name}")
        self.fail_prepare = fail_prepare
        self.fail_block_after = fail_block_after or {}
        self.others_cpu_share = others_cpu_share
        self.case: str | None = None
        self.blocks = 0

    def list_cases(self) -> Listing:
        cases = tuple(CaseInfo(key(n), f"{n} cpu float32 b1", None) for n in self.per_call_ms)
        return Listing("3.11.0", "2.15.0", "/fake/bench", cases)

    def _call_ms(self) -> float:
        assert self.case is not None
        process = self.processes - 1
        speed = self.process_speeds[process] if process < len(self.process_speeds) else 1.0
        slowdown = self.clock.slowdown() * speed
        return self.per_call_ms[self.case] * slowdown * self.rng.lognormvariate(0, 0.02)

    def ready(self) -> None:
        self.log.append((self.name, "ready"))

    def restart(self) -> None:
        self.log.append((self.name, "restart"))
        self.processes += 1
        self.case = None

    def prepare(
        self, case: CaseKey, block_time_s: float, warmup_budget_s: float, timeout_s: float
    ) -> Prepared:
        self.log.append((self.name, f"prepare {case.name}"))
        if case.name in self.fail_prepare:
            raise CaseFailed("RuntimeError: the model would not build")
        self.case, self.blocks = case.name, 0
        self.clock.now += 0.05
        return Prepared(self._call_ms(), 10, 5.0, True)

    def block(self, samples: int, timeout_s: float) -> BlockReading:
        assert self.case is not None
        self.log.append((self.name, "block"))
        if self.blocks >= self.fail_block_after.get(self.case, 10**9):
            raise NoAnswer("no answer within 0.1 s; worker killed")
        self.blocks += 1
        start = self.clock.now
        per_call = []
        for _ in range(samples):
            per_call.append(self._call_ms())
            self.clock.now += 10 * per_call[-1] / 1000
        wall_s = self.clock.now - start
        contention = Contention(wall_s, 1.0 * wall_s + self.others_cpu_share * wall_s, 2, 1, None)
        return BlockReading(tuple(per_call), contention)

    def release(self, timeout_s: float) -> None:
        self.log.append((self.name, f"release {self.case}"))
        self.case = None

    def close(self) -> None:
        self.log.append((self.name, "close"))


def measure(
    base_ms: dict[str, float],
    new_ms: dict[str, float],
    settings: AbSettings | None = None,
    seed: int = 0,
    base_speeds: Sequence[float] = (),
    **new_options: object,
) -> tuple[AbRun, list[tuple[str, str]]]:
    clock = DriftingClock()
    log: list[tuple[str, str]] = []
    base = FakeWorker("BASE", clock, base_ms, log, seed, process_speeds=base_speeds)
    new = FakeWorker("NEW", clock, new_ms, log, seed, **new_options)  # type: ignore[arg-type]
    listings = (base.list_cases(), new.list_cases())
    run = run_ab(base, new, listings, settings or AbSettings(), clock=clock)
    return run, log


def test_abba_order_is_exact_and_both_sides_prepare_first_and_release_last() -> None:
    run, log = measure({"m": 0.1}, {"m": 0.1})
    case = run.cases[0]
    assert len(case.rounds) >= 10
    assert [r.order for r in case.rounds] == [
        "AB" if i % 2 == 0 else "BA" for i in range(len(case.rounds))
    ]
    blocks = [name for name, what in log if what == "block"]
    expected = []
    for i in range(len(case.rounds)):
        expected += ["BASE", "NEW"] if i % 2 == 0 else ["NEW", "BASE"]
    assert blocks == expected
    assert log[:4] == [
        ("BASE", "ready"),
        ("NEW", "ready"),
        ("BASE", "prepare m"),
        ("NEW", "prepare m"),
    ]
    assert sorted(log[-2:]) == [("BASE", "release m"), ("NEW", "release m")]
    # each side's block lasts about --block-time at its own pace: 0.1 s / (10 calls x ~0.1 ms)
    for side in (case.base, case.new):
        assert side.prepared is not None
        assert side.samples == round(100 / (10 * side.prepared.per_call_ms))
        assert 90 <= side.samples <= 110


def test_rounds_stop_once_the_budget_is_spent_and_the_minimum_is_met() -> None:
    one = AbSettings(budget_s=0.0, min_rounds=7, processes=1)
    short, _ = measure({"m": 0.1}, {"m": 0.1}, one)
    assert len(short.cases[0].rounds) == 7
    long, _ = measure({"m": 0.1}, {"m": 0.1}, AbSettings(budget_s=4.0, processes=1))
    rounds = len(long.cases[0].rounds)
    assert 15 <= rounds <= 21  # two ~0.1-0.13 s blocks a round, until 4 s are spent
    # two worker pairs: each spends half the budget, so about as many rounds in all
    pairs, _ = measure({"m": 0.1}, {"m": 0.1}, AbSettings(budget_s=4.0, processes=2))
    per_pair = [sum(r.pair == p for r in pairs.cases[0].rounds) for p in (1, 2)]
    assert all(8 <= n <= 11 for n in per_pair)


@pytest.mark.parametrize(
    ("min_rounds", "processes", "expected"),
    [(10, 1, 10), (2, 1, 2), (10, 2, 5), (10, 3, 4), (20, 3, 7), (10, 4, 3), (2, 2, 3)],
)
def test_each_pair_runs_its_share_of_the_minimum_and_never_fewer_than_three(
    min_rounds: int, processes: int, expected: int
) -> None:
    assert pair_min_rounds(AbSettings(min_rounds=min_rounds, processes=processes)) == expected


def test_each_worker_pair_is_fresh_prepares_once_and_runs_its_rounds() -> None:
    settings = AbSettings(budget_s=0.0, min_rounds=10, processes=3)  # 4 rounds a pair
    run, log = measure({"a": 0.1, "b": 0.1}, {"a": 0.1, "b": 0.1}, settings)

    def pair(name: str, fresh: bool) -> list[tuple[str, str]]:
        restart = [("BASE", "restart"), ("NEW", "restart")] if fresh else []
        blocks = [(side, "block") for _ in range(2) for side in ("BASE", "NEW", "NEW", "BASE")]
        return [
            *restart,
            ("BASE", "ready"),
            ("NEW", "ready"),
            ("BASE", f"prepare {name}"),
            ("NEW", f"prepare {name}"),
            *blocks,
            ("BASE", f"release {name}"),
            ("NEW", f"release {name}"),
        ]

    # the first pair of a case is whichever workers the last case left; then fresh ones
    expected = [*pair("a", False), *pair("a", True), *pair("a", True)]
    expected += [*pair("b", False), *pair("b", True), *pair("b", True)]
    assert log == expected
    for case in run.cases:
        assert [r.pair for r in case.rounds] == [1] * 4 + [2] * 4 + [3] * 4
        assert [r.order for r in case.rounds] == ["AB", "BA"] * 6  # ABBA runs on across pairs
        assert case.pairs == 3
        assert len(case.base.pairs) == len(case.new.pairs) == 3  # a calibration per pair
        assert case.base.prepared == case.base.pairs[0][0]
        assert case.judgement.verdict in ("same", "inconclusive")


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize(("slow", "false_verdict"), [("BASE", "faster"), ("NEW", "slower")])
def test_a_process_stuck_slow_is_a_confident_false_verdict_with_one_pair_and_not_with_three(
    seed: int, slow: str, false_verdict: str
) -> None:
    """Identical code; one side's first worker process runs 1.5x slow for its whole life (as
    one of six processes of a small conv net did here: 12.1 ms against 8.0-8.5 ms). Rounds
    cannot cancel that: with one pair it is a tight, false verdict. With three, the pairs
    disagree and the interval, resampling pairs first, spans them."""
    speeds = {"base_speeds": (1.5,) if slow == "BASE" else ()}
    speeds["process_speeds"] = (1.5,) if slow == "NEW" else ()  # NEW's
    one, _ = measure({"m": 0.1}, {"m": 0.1}, AbSettings(processes=1), seed, **speeds)
    judgement = one.cases[0].judgement
    assert judgement.verdict == false_verdict
    assert judgement.ci_low is not None and judgement.ci_high is not None
    assert judgement.ci_high / judgement.ci_low < 1.05  # confidently so
    three, _ = measure({"m": 0.1}, {"m": 0.1}, AbSettings(processes=3), seed, **speeds)
    judgement = three.cases[0].judgement
    assert judgement.verdict in ("same", "inconclusive")
    assert judgement.ci_low is not None and judgement.ci_high is not None
    assert judgement.ci_high / judgement.ci_low > 1.3  # from the stuck pair's level to the rest


def test_processes_defaults_to_two_worker_pairs() -> None:
    from bench.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["ab", "s.toml", "--base", "main"]).processes == 2
    assert parser.parse_args(["ab", "s.toml", "--processes", "1"]).processes == 1
    assert AbSettings().processes == 2  # as the CLI's
    with pytest.raises(SystemExit):
        parser.parse_args(["ab", "s.toml", "--processes", "0"])


def test_random_order_is_seeded() -> None:
    settings = AbSettings(order=RANDOM, seed=7, budget_s=0.0, min_rounds=40)
    first, _ = measure({"m": 0.1}, {"m": 0.1}, settings)
    again, _ = measure({"m": 0.1}, {"m": 0.1}, settings)
    other, _ = measure(
        {"m": 0.1}, {"m": 0.1}, AbSettings(order=RANDOM, seed=8, budget_s=0.0, min_rounds=40)
    )
    orders = [r.order for r in first.cases[0].rounds]
    assert orders == [r.order for r in again.cases[0].rounds]
    assert orders != [r.order for r in other.cases[0].rounds]
    assert {"AB", "BA"} == set(orders)


@pytest.mark.parametrize("processes", [1, 2])
def test_a_fifteen_percent_slowdown_is_slower_despite_thirty_percent_drift(processes: int) -> None:
    settings = AbSettings(budget_s=RUN_S, processes=processes)
    run, _ = measure({"m": 0.1}, {"m": 0.115}, settings)
    case = run.cases[0]
    base = [r.base_ms for r in case.rounds]
    assert max(base) / min(base) > 1.2  # the machine drifted more than the change itself
    assert case.judgement.verdict == "slower"
    assert case.judgement.ci_low is not None and case.judgement.ci_low > 1.05
    assert case.judgement.ci_high is not None and case.judgement.ci_high < 1.25
    assert case.judgement.ratio == pytest.approx(1.15, rel=0.02)


def test_a_speedup_is_faster() -> None:
    run, _ = measure({"m": 0.1}, {"m": 0.08})
    assert run.cases[0].judgement.verdict == "faster"


@pytest.mark.parametrize("seed", range(5))
def test_identical_sides_are_never_called_faster_or_slower(seed: int) -> None:
    run, _ = measure({"m": 0.1}, {"m": 0.1}, AbSettings(budget_s=RUN_S), seed=seed)
    assert run.cases[0].judgement.verdict in ("same", "inconclusive")


def test_a_failing_side_is_an_error_row_and_the_run_goes_on() -> None:
    run, log = measure(
        {"bad": 0.1, "mid": 0.1, "good": 0.1},
        {"bad": 0.1, "mid": 0.1, "good": 0.1},
        fail_prepare=frozenset({"bad"}),
        fail_block_after={"mid": 3},
    )
    bad, mid, good = run.cases
    assert bad.errored and bad.new.error is not None and bad.base.error is None
    assert bad.judgement.verdict == "inconclusive"
    assert bad.judgement.reason == "NEW failed: RuntimeError: the model would not build"
    assert ("BASE", "release bad") in log  # the side that prepared is released
    assert mid.errored
    assert mid.judgement.reason == (
        "NEW failed: no answer within the case's limit of 10 min (--timeout); worker killed"
    )
    assert len(mid.rounds) == 3  # the rounds before the failure stay on record
    assert not good.errored and good.judgement.verdict in ("same", "inconclusive")
    assert good.judgement.ratio is not None


def test_contention_forces_inconclusive_with_the_reason() -> None:
    run, _ = measure({"m": 0.1}, {"m": 0.13}, others_cpu_share=0.5)
    judgement = run.cases[0].judgement
    assert judgement.verdict == "inconclusive"
    assert judgement.reason == "NEW ran contended (others took 50% of its cores)"
    assert judgement.ci_low is not None and judgement.ci_low > 1.1  # the figures are kept


def test_too_few_rounds_and_impossible_times_are_inconclusive() -> None:
    one = AbSettings(budget_s=0.0, min_rounds=5, processes=1)
    few, _ = measure({"m": 0.1}, {"m": 0.2}, one)
    assert few.cases[0].judgement.verdict == "inconclusive"
    assert few.cases[0].judgement.reason == "5 paired rounds; at least 6 are needed"
    broken, _ = measure({"m": 0.1}, {"m": 0.0})
    assert broken.cases[0].judgement.verdict == "inconclusive"
    assert "impossible" in broken.cases[0].judgement.reason


def test_cases_on_one_side_only_are_added_or_removed() -> None:
    run, _ = measure({"both": 0.1, "old": 0.1}, {"both": 0.1, "fresh": 0.1})
    assert [c.key.name for c in run.cases] == ["both"]
    assert [k.name for k in run.added] == ["fresh"]
    assert [k.name for k in run.removed] == ["old"]


@pytest.mark.parametrize(
    ("base", "new", "gate", "allow", "expected"),
    [
        ({"m": 0.1}, {"m": 0.115}, 0.05, False, 1),  # confidently 15% slower, gate at 5%
        ({"m": 0.1}, {"m": 0.115}, 0.20, False, 0),  # ... but the gate allows 20%
        ({"m": 0.1}, {"m": 0.115}, None, False, 0),  # no gate: a slowdown alone is exit 0
        ({"m": 0.1}, {"m": 0.1}, 0.05, False, 0),
        ({"a": 0.1}, {"b": 0.1}, 0.05, False, 3),  # no case matched
        ({"a": 0.1}, {"b": 0.1}, 0.05, True, 0),
    ],
)
def test_gate_exit_codes(
    base: dict[str, float], new: dict[str, float], gate: float | None, allow: bool, expected: int
) -> None:
    run, _ = measure(base, new, AbSettings(budget_s=RUN_S))
    assert exit_code(run, gate, allow) == expected


def test_gate_cannot_judge_new_errors_or_an_all_inconclusive_run() -> None:
    failed, _ = measure({"m": 0.1, "n": 0.1}, {"m": 0.1, "n": 0.1}, fail_prepare=frozenset({"m"}))
    assert exit_code(failed, 0.05, False) == 3
    assert exit_code(failed, 0.05, True) == 0
    assert exit_code(failed, None, False) == 1  # without the gate: a failed case is exit 1
    contended, _ = measure({"m": 0.1}, {"m": 0.2}, others_cpu_share=0.5)
    assert exit_code(contended, 0.05, False) == 3  # contended: no regression is claimed
    assert exit_code(contended, 0.05, True) == 0


def test_gate_cannot_pass_an_inconclusive_case_slower_than_it_beside_a_judged_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Not every case inconclusive, but the one 2x slower is: a pass would hide it."""
    run, _ = measure({"m": 0.1, "n": 0.1}, {"m": 0.2, "n": 0.1}, AbSettings(budget_s=RUN_S))
    slow = next(c for c in run.cases if c.key.name == "m")
    run = replace(
        run, cases=tuple(replace(c, judgement=replace(c.judgement, verdict="inconclusive",
                     reason="NEW ran contended", judged=False)) if c is slow else c
                     for c in run.cases),
    )  # fmt: skip
    assert exit_code(run, 0.05, False) == 3
    assert "1 inconclusive case(s) slower than the gate" in capsys.readouterr().err
    assert exit_code(run, 0.05, True) == 0


def _rounds(seed: int, count: int, ratio: float) -> tuple[list[float], list[float]]:
    """`count` rounds of BASE and NEW block medians, NEW `ratio` times BASE, 2% noise."""
    rng = random.Random(seed)
    base = [rng.lognormvariate(0, 0.02) for _ in range(count)]
    return base, [ratio * rng.lognormvariate(0, 0.02) for _ in range(count)]


def test_one_group_of_rounds_is_the_plain_paired_ratio() -> None:
    base, new = _rounds(1, 12, 1.1)
    assert paired_ratio_grouped([base], [new]) == paired_ratio(base, new)
    assert paired_ratio_grouped([base, []], [new, []]) == paired_ratio(base, new)  # no rounds
    with pytest.raises(ValueError, match="5 paired rounds; at least 6"):
        paired_ratio_grouped([base[:2], base[2:5]], [new[:2], new[2:5]])
    with pytest.raises(ValueError, match="3 BASE rounds vs 2 NEW rounds"):
        paired_ratio_grouped([base[:3], base[3:]], [new[:2], new[3:]])


def test_pairs_that_disagree_widen_the_interval_and_pairs_that_agree_do_not() -> None:
    base_1, new_1 = _rounds(2, 8, 1.0)
    base_2, new_2 = _rounds(3, 8, 1.0)
    base_3, new_3 = _rounds(4, 8, 1.3)  # one pair's processes landed in different states
    pooled = paired_ratio(base_1 + base_2 + base_3, new_1 + new_2 + new_3)
    grouped = paired_ratio_grouped([base_1, base_2, base_3], [new_1, new_2, new_3])
    assert grouped.ratio == pytest.approx(pooled.ratio)  # the geometric mean over all rounds
    assert grouped.p_value == pooled.p_value  # Wilcoxon over all rounds
    assert grouped.rounds == 24
    assert grouped.ci_high - grouped.ci_low > 2 * (pooled.ci_high - pooled.ci_low)
    assert grouped.ci_low < 1.01 and grouped.ci_high > 1.2  # from one pair's level to the other's
    agreeing = paired_ratio_grouped([base_1, base_2], [new_1, new_2])
    flat = paired_ratio(base_1 + base_2, new_1 + new_2)
    assert agreeing.ci_high - agreeing.ci_low < 2 * (flat.ci_high - flat.ci_low)
    assert agreeing == paired_ratio_grouped([base_1, base_2], [new_1, new_2])  # seeded


SIDES = (
    SideDescription("BASE", "HEAD~1", "revision", "/tmp/b", "/py", "a" * 40, "3.11.0", "2.15.0"),
    SideDescription("NEW", ".", "directory", "/repo", "/py", None, "3.11.0", "2.15.0"),
)


def test_the_comparison_files_hold_the_table_the_rule_and_the_rounds() -> None:
    settings = AbSettings()
    run, _ = measure({"m": 0.1, "x": 0.1}, {"m": 0.13, "x": 0.1}, fail_prepare=frozenset({"x"}))
    markdown = render_markdown(run, SIDES, settings)
    assert "| `m cpu float32 b1`" in markdown and "**slower**" in markdown
    assert "NEW failed: RuntimeError: the model would not build" in markdown
    assert "slower when the CI's low end > 1 + t; faster when its high end < 1/(1 + t)" in markdown
    assert (
        "CI: bootstrap of the mean log ratio resampling the worker pairs (2 per case, each its "
        "own BASE and NEW processes), then the rounds within each (paired, interleaved ABBA)."
    ) in markdown
    header = next(line for line in markdown.splitlines() if line.startswith("| Case"))
    assert [cell.strip() for cell in header.split("|")][7:10] == ["Rounds", "Pairs", "Verdict"]
    one = render_markdown(run, SIDES, AbSettings(processes=1))
    assert "CI: bootstrap over rounds of the mean log ratio (paired, interleaved ABBA)." in one
    assert "- BASE: revision `HEAD~1` (/tmp/b, commit aaaaaaaaaaaa)" in markdown
    rows = list(csv.DictReader(render_csv(run).splitlines()))
    assert [r["case"] for r in rows] == ["m cpu float32 b1", "x cpu float32 b1"]
    assert rows[0]["verdict"] == "slower" and rows[0]["status"] == "ok"
    assert rows[0]["pairs"] == "2" and rows[1]["pairs"] == "0"  # x failed before any round
    assert rows[1]["status"] == "error" and rows[1]["ratio"] == ""
    document = json.loads(render_json(run, SIDES, settings, "suite.toml", "2024-06-01T00:00:00"))
    case = document["cases"][0]
    assert len(case["base"]["block_medians_ms"]) == len(case["order"]) == case["rounds"]
    assert case["order"][:3] == ["AB", "BA", "AB"]
    assert case["pairs"] == 2 and len(case["pair"]) == case["rounds"]
    assert case["pair"] == sorted(case["pair"]) and set(case["pair"]) == {1, 2}
    calibrations = case["new"]["pair_calibrations"]
    assert len(calibrations) == 2 and calibrations[0]["samples_per_block"] > 0
    assert {
        **case["new"]["calibration"],
        "samples_per_block": case["new"]["samples_per_block"],
    } == (calibrations[0])
    assert document["sides"]["base"]["torch_version"] == "2.15.0"


def test_block_readings_survive_the_wire_nan_included() -> None:
    reading = BlockReading((0.5, math.nan), Contention(0.1, 0.0, 2, 1, None))
    back = reading_from_json(decode(encode(reading_to_json(reading))))
    assert back.per_call_ms[0] == 0.5 and math.isnan(back.per_call_ms[1])
    assert back.contention == reading.contention


def test_a_session_builds_calibrates_and_times_blocks_as_bench_run_does(
    write_suite: Callable[..., Path],
) -> None:
    from bench.ab.session import CaseSession

    suite = write_suite(
        """\
        [suite]
        name = "session"
        threads = 1

        [[models]]
        name = "linear"
        factory = "torch.nn:Linear"
        kwargs = { in_features = 16, out_features = 4 }
        input_shape = [16]
        modes = ["eval", "train"]
        """
    )
    session = CaseSession(suite, threads=None)
    listing = session.listing()
    eval_key, train_key = (c.key for c in listing.cases)
    assert (eval_key.mode, train_key.mode) == ("eval", "train")
    fast = session.prepare(eval_key, block_time_s=0.01, warmup_budget_s=0.2)
    assert fast.per_call_ms > 0 and fast.calls > 1  # microseconds a call: many calls a sample
    reading = session.block(3)
    assert len(reading.per_call_ms) == 3 and all(v > 0 for v in reading.per_call_ms)
    assert reading.contention is not None and reading.contention.cores_needed == 1
    step = session.prepare(train_key, block_time_s=0.01, warmup_budget_s=0.2)
    assert step.calls == 1  # gradients are cleared before every step, outside the timing
    assert len(session.block(2).per_call_ms) == 2
    session.release()
    with pytest.raises(CaseFailed, match="block before prepare"):
        session.block(1)
    with pytest.raises(CaseFailed, match="no case"):
        session.prepare(key("missing"), 0.01, 0.2)


# --- through real worker processes ------------------------------------------------------------

MODEL_V1 = """\
import os

import torch


def make():
    print("built on stdout in", os.getpid())  # must not reach the protocol
    os.write(1, b"and raw bytes on fd 1\\n")
    return torch.nn.Linear(32, 32)


def broken():
    return torch.nn.Linear(32, 32)


def hangs():
    return torch.nn.Linear(32, 32)
"""
MODEL_V2 = """\
import os
import time

import torch


def make():
    print("built on stdout in", os.getpid())  # must not reach the protocol
    os.write(1, b"and raw bytes on fd 1\\n")
    return torch.nn.Sequential(torch.nn.Linear(32, 32), torch.nn.Linear(32, 32))


def broken():
    raise RuntimeError("no good")


class Hangs(torch.nn.Module):
    def forward(self, x):
        time.sleep(600)  # a model stuck (in C, say): only killing its worker ends it
        return x


def hangs():
    return Hangs()
"""
SUITE = """\
[suite]
name = "ab"
threads = 1

[[models]]
name = "lin"
factory = "mymodel.py:make"
input_shape = [32]

[[models]]
name = "broken"
factory = "mymodel.py:broken"
input_shape = [32]

[[models]]
name = "hangs"
factory = "mymodel.py:hangs"
input_shape = [32]
"""


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=ab@example.com", "-c", "user.name=ab", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def two_commits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "suite.toml").write_text(SUITE)
    (repo / "mymodel.py").write_text(MODEL_V1)
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "one linear layer")
    (repo / "mymodel.py").write_text(MODEL_V2)
    _git(repo, "commit", "-qam", "two linear layers; broken breaks")
    monkeypatch.chdir(repo)
    return repo


def test_two_commits_measured_through_worker_processes(
    two_commits: Path, cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    out = two_commits / "out"
    args = ["--budget", "0.1s", "--block-time", "20ms", "--min-rounds", "6", "--timeout", "4s"]
    done = cli("ab", "suite.toml", "--base", "HEAD~1", "--new", "HEAD", *args, "--out", out)
    assert done.returncode == 1, done.stderr  # NEW failed `broken` and `hangs`
    assert "| `lin cpu float32 b1`" in done.stdout
    assert "NEW failed: RuntimeError: no good" in done.stdout
    stuck = "NEW failed: no answer within the case's limit of 4 s (--timeout); worker killed"
    assert stuck in done.stdout
    assert sorted(p.name for p in out.iterdir()) == [
        "comparison.csv",
        "comparison.json",
        "comparison.md",
        "worker-base.log",
        "worker-new.log",
    ]
    assert (out / "comparison.md").read_text() == done.stdout
    for side in ("base", "new"):  # lin built in two worker pairs, each its own process
        log = (out / f"worker-{side}.log").read_text()
        built = [line.split()[-1] for line in log.splitlines() if "built on stdout" in line]
        assert len(built) == len(set(built)) == 2, log
    document = json.loads((out / "comparison.json").read_text())
    lin = document["cases"][0]
    assert lin["label"] == "lin cpu float32 b1" and lin["rounds"] >= 6
    assert lin["order"][:2] == ["AB", "BA"]
    assert lin["pairs"] == 2 and lin["pair"] == sorted(lin["pair"]) and lin["pair"][-1] == 2
    assert document["cases"][1]["pairs"] == 0  # NEW failed to build in the first pair
    assert all(v > 0 for v in lin["base"]["block_medians_ms"] + lin["new"]["block_medians_ms"])
    assert document["sides"]["base"]["kind"] == "revision"
    worktrees = subprocess.run(["git", "worktree", "list"], capture_output=True, text=True)
    assert len(worktrees.stdout.splitlines()) == 1  # the temporary checkouts are gone


def test_a_bad_side_is_one_line_and_exit_2(
    two_commits: Path, cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    done = cli("ab", "suite.toml", "--base", "no-such-rev")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith(
        "error: --base no-such-rev: no such directory, and not a revision"
    )
    missing = cli("ab", "suite.toml", "--base", "HEAD", "--new-python", "./no/python")
    assert missing.returncode == 2
    assert missing.stderr == "error: --new-python ./no/python: no such interpreter\n"
    failing = two_commits / "failing-python"
    failing.write_text("#!/bin/sh\necho 'cannot start' >&2\nexit 1\n")
    failing.chmod(0o755)
    broken = cli("ab", "suite.toml", "--base-python", failing)
    assert broken.returncode == 2
    assert broken.stderr == f"error: --base-python {failing}: does not run (cannot start)\n"
    no_base = cli("ab", "suite.toml")
    assert no_base.returncode == 2 and no_base.stderr.startswith("error: give --base SIDE")
    old_bench = two_commits / "old"
    (old_bench / "bench").mkdir(parents=True)
    (old_bench / "bench" / "__init__.py").write_text("")
    older = cli("ab", "suite.toml", "--base", old_bench)
    assert older.returncode == 2 and "without bench.ab.worker" in older.stderr
    assert (
        subprocess.run(["git", "worktree", "list"], capture_output=True, text=True).stdout.count(
            "\n"
        )
        == 1
    )
