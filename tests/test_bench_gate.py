"""The pytest plugin's `--bench-gate PCT`: the judging on hand-built pytest-benchmark rows, and
the wiring (options, exit codes, the summary table) through a few tiny inner pytest runs.

No inner run times real work: the baseline is a saved JSON file with crafted `stats.data`, and
the current run's benchmark advances a fake clock (`--benchmark-timer`) by a seeded amount per
round, so every verdict here is the same on any machine, however busy.
"""

from __future__ import annotations

import json
import random
import textwrap
from pathlib import Path
from typing import Any

import pytest

# imported here, not first inside an inner run: pytester restores sys.modules after each run,
# and torch and numpy do not import twice into one process
from bench.compare.sources import side_case_of_benchmark
from bench.pytest_plugin.gate import GateCase, GateOutcome, judge_benchmarks, verdict_line
from bench.pytest_plugin.machine import torch_machine_info

pytest_plugins = ["pytester"]
# the crafted baseline records only the torch side of machine_info: pytest-benchmark says so
pytestmark = pytest.mark.filterwarnings("ignore:Benchmark machine_info is different")

ROUND_S = 0.001  # the crafted median round: 1 ms
ROUNDS = 40


def seeded_rounds(
    seed: int, scale: float = 1.0, spread: float = 0.02, rounds: int = ROUNDS
) -> list[float]:
    """`rounds` round times in seconds, ROUND_S * scale, each off by up to +-spread."""
    rng = random.Random(seed)
    return [ROUND_S * scale * (1 + rng.uniform(-spread, spread)) for _ in range(rounds)]


def row(name: str, data: list[float] | None) -> dict[str, Any]:
    """A pytest-benchmark row as its JSON holds it (data None: saved without raw samples)."""
    stats: dict[str, Any] = {"median": 0.0}
    if data is not None:
        stats["data"] = data
    return {"name": name, "fullname": f"test_timed.py::{name}", "extra_info": {}, "stats": stats}


def judge(base: list[float] | None, new: list[float], name: str = "test_steady") -> GateOutcome:
    return judge_benchmarks([row("test_steady", base)], [row(name, new)], threshold=0.10)


def test_rounds_are_judged_in_about_ten_blocks() -> None:
    """Consecutive rounds share the machine's momentary state: blocks of them are the unit."""
    assert side_case_of_benchmark(row("a", seeded_rounds(1))).samples_per_block == 4
    assert side_case_of_benchmark(row("a", seeded_rounds(1)[:7])).samples_per_block == 1


def test_jittery_single_rounds_do_not_veto_a_clear_slowdown() -> None:
    """Sub-millisecond rounds spread +-30% on a shared machine (IQR/median 0.3, `noisy` by the
    rounds); blocks of 40 consecutive rounds do not. Judged noisy by rounds, a 2.5x slowdown was
    `inconclusive` and, with --bench-gate-allow-inconclusive, passed."""
    base = seeded_rounds(1, spread=0.3, rounds=400)
    assert not side_case_of_benchmark(row("a", base)).noisy
    slower = judge(base, seeded_rounds(2, scale=2.5, spread=0.3, rounds=400))
    assert slower.cases[0].timing.verdict == "slower" and slower.exit_code(False) == 1
    unchanged = judge(base, seeded_rounds(3, spread=0.3, rounds=400))
    assert unchanged.cases[0].timing.verdict == "same" and unchanged.exit_code(False) == 0


def test_unchanged_code_with_noise_passes() -> None:
    outcome = judge(seeded_rounds(1), seeded_rounds(2))
    (case,) = outcome.cases
    assert case.timing.verdict == "same"
    assert outcome.exit_code(allow_inconclusive=False) == 0


def test_half_again_slower_fails_with_exit_1() -> None:
    outcome = judge(seeded_rounds(1), seeded_rounds(2, scale=1.5))
    (case,) = outcome.cases
    assert case.timing.verdict == "slower"
    assert case.timing.ci_low is not None and case.timing.ci_low > 1.10
    assert outcome.regressions == (case,)
    assert outcome.exit_code(allow_inconclusive=False) == 1
    assert outcome.exit_code(allow_inconclusive=True) == 1


def test_no_benchmark_in_the_baseline_is_exit_3_even_when_inconclusive_is_allowed() -> None:
    outcome = judge(seeded_rounds(1), seeded_rounds(2), name="test_renamed")
    assert outcome.cases == () and outcome.unmatched == ("test_renamed",)
    assert outcome.exit_code(allow_inconclusive=False) == 3
    assert outcome.exit_code(allow_inconclusive=True) == 3
    assert "no benchmark matched the baseline" in outcome.unjudged(allow_inconclusive=True)


def test_all_inconclusive_is_exit_3_unless_allowed() -> None:
    # exactly 10% slower with +-10% noise: the interval straddles the threshold
    base = seeded_rounds(1, spread=0.10)
    outcome = judge(base, [1.10 * s for s in reversed(base)])
    (case,) = outcome.cases
    assert case.timing.verdict == "inconclusive"
    assert outcome.exit_code(allow_inconclusive=False) == 3
    assert outcome.exit_code(allow_inconclusive=True) == 0


def test_a_case_shown_not_slower_passes_though_its_verdict_is_inconclusive() -> None:
    """9% faster with a tight interval reaching past 1/1.1 is `inconclusive` against a 10%
    threshold (neither `same` nor `faster`), but it answers the gate's question: not slower.
    Unchanged code, after the machine's speed moved between runs, was exit 3 in 2 of 3 tries."""
    base = seeded_rounds(1, spread=0.01)
    outcome = judge(base, [0.91 * s for s in seeded_rounds(2, spread=0.01)])
    (case,) = outcome.cases
    assert case.timing.verdict == "inconclusive" and case.timing.judged
    assert case.timing.ci_high is not None and case.timing.ci_high < 1.0
    assert outcome.exit_code(allow_inconclusive=False) == 0


def test_one_judged_case_is_enough_to_pass_beside_inconclusive_ones() -> None:
    steady = GateCase("a", judge(seeded_rounds(1), seeded_rounds(2)).cases[0].timing)
    unsure = GateCase("b", judge(None, seeded_rounds(2)).cases[0].timing)
    outcome = GateOutcome(0.10, "", (steady, unsure), ())
    assert outcome.exit_code(allow_inconclusive=False) == 0


def test_an_inconclusive_case_slower_than_the_gate_by_its_median_is_not_a_pass() -> None:
    steady = GateCase("a", judge(seeded_rounds(1), seeded_rounds(2)).cases[0].timing)
    contended_new = row("test_steady", seeded_rounds(3, scale=2.5))
    contended_new["extra_info"] = {"contended": True}
    timing = judge_benchmarks([row("test_steady", seeded_rounds(1))], [contended_new], 0.10)
    slow = GateCase("b", timing.cases[0].timing)
    assert slow.timing.verdict == "inconclusive" and "NEW ran contended" in slow.timing.reason
    outcome = GateOutcome(0.10, "", (steady, slow), ())
    assert outcome.exit_code(allow_inconclusive=False) == 3
    assert "`b` 2.5x (NEW ran contended)" in outcome.unjudged(allow_inconclusive=False)
    assert outcome.exit_code(allow_inconclusive=True) == 0
    passed = verdict_line(outcome, allow_inconclusive=True)
    assert passed.startswith("bench gate passed") and "1 inconclusive, not judged: b" in passed


def test_a_baseline_without_raw_samples_is_inconclusive_and_says_how_to_fix_it() -> None:
    (case,) = judge(None, seeded_rounds(2)).cases
    assert case.timing.verdict == "inconclusive"
    assert "--benchmark-save-data" in case.timing.reason


# --- the plugin's wiring, through inner pytest runs --------------------------------------------

FAKE_CLOCK = '''\
"""A clock only the benchmarked function moves: a round lasts exactly what it adds."""
import os
import random

_now = 0.0


def clock():
    return _now


def one_round_maker(seed):
    rng = random.Random(seed)
    round_s = float(os.environ["GATE_ROUND_S"])

    def one_round():
        global _now
        _now += round_s * (1 + rng.uniform(-0.02, 0.02))

    return one_round
'''

TIMED_TESTS = f"""\
from fakeclock import one_round_maker


def test_steady(benchmark):
    benchmark.pedantic(one_round_maker(2), rounds={ROUNDS})


def test_new(benchmark):
    benchmark.pedantic(one_round_maker(3), rounds={ROUNDS})
"""


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    quiet = ("-W", "ignore::pytest.PytestAssertRewriteWarning")
    return pytester.runpytest("-p", "no:cacheprovider", *quiet, *args)


def baseline_file(path: Path, names: list[str]) -> None:
    """A saved run as pytest-benchmark writes it (its own Stats fill the summary fields), each
    benchmark with the same crafted 1 ms rounds."""
    from pytest_benchmark.stats import Stats

    rows = []
    for name in names:
        stats = Stats()
        for seconds in seeded_rounds(1):
            stats.update(seconds)
        row = {"group": None, "name": name, "fullname": f"test_timed.py::{name}", "params": None}
        row |= {"param": None, "extra_info": {}, "options": {}}
        rows.append({**row, "stats": {**stats.as_dict(), "data": stats.data, "iterations": 1}})
    record = {"machine_info": torch_machine_info(), "commit_info": {}, "benchmarks": rows}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**record, "datetime": "2024-01-01", "version": "5.1.0"}))


@pytest.fixture
def timed(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A folder with the fake-clock tests and a baseline of `test_steady` in ./store."""
    pytester.syspathinsert()  # so --benchmark-timer can import the clock
    (pytester.path / "fakeclock.py").write_text(FAKE_CLOCK)
    (pytester.path / "test_timed.py").write_text(textwrap.dedent(TIMED_TESTS))
    baseline_file(pytester.path / "store" / "0001_baseline.json", ["test_steady"])
    monkeypatch.setenv("GATE_ROUND_S", str(ROUND_S))
    return pytester


GATED = ("--benchmark-storage=store", "--benchmark-timer=fakeclock.clock", "--benchmark-compare")


def gate_summary(result: pytest.RunResult) -> list[str]:
    lines = result.outlines
    start = next(i for i, line in enumerate(lines) if "bench gate" in line and "---" in line)
    return lines[start + 1 :]


def test_the_gate_passes_unchanged_code_and_names_what_it_did_not_judge(
    timed: pytest.Pytester,
) -> None:
    result = run(timed, *GATED, "--bench-gate", "10%")
    assert result.ret == pytest.ExitCode.OK
    summary = gate_summary(result)
    (steady,) = (line for line in summary if line.startswith("test_steady"))
    assert steady.split()[-4:-2] == ["same", "interval"]
    assert "not in the baseline (not judged): test_new" in summary
    assert any(
        line.startswith("rule: slower (exit 1) when") and "1.1 (+10%)" in line for line in summary
    )
    assert any(line.startswith("bench gate passed") for line in summary)


def test_the_gate_fails_a_benchmark_half_again_slower(
    timed: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATE_ROUND_S", str(1.5 * ROUND_S))
    result = run(timed, *GATED, "--bench-gate", "10", "-k", "steady")
    assert result.ret == 1
    result.assert_outcomes(passed=1)  # the test passed; the gate failed the session
    summary = gate_summary(result)
    assert summary[1].split()[:6] == ["benchmark", "baseline", "current", "ratio", "95%", "CI"]
    name, base, _, _, _, ratio, interval, verdict = summary[2].split()[:8]
    # the crafted baseline, as the median of its block medians
    assert (name, base, verdict) == ("test_steady", "0.9994", "slower")
    assert float(ratio) > float(interval.split("-")[0]) > 1.10
    assert "bench gate FAILED: confidently slower than +10%: test_steady" in summary


def test_the_gate_cannot_judge_a_run_with_nothing_in_the_baseline(timed: pytest.Pytester) -> None:
    result = run(timed, *GATED, "--bench-gate", "10", "-k", "new")
    assert result.ret == 3
    assert any("COULD NOT JUDGE (exit 3): no benchmark matched" in x for x in result.outlines)


@pytest.mark.filterwarnings("ignore:Can't compare. No benchmark files")  # pytest-benchmark's own
def test_the_gate_without_a_baseline_is_a_one_line_usage_error(
    timed: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    def usage_error(*args: str) -> str:
        capsys.readouterr()
        result = run(timed, *args)
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        # pytest prints a usage error before pytester's capture of the inner run starts
        return capsys.readouterr().err + result.stderr.str()

    missing = usage_error("--bench-gate", "10")
    assert "ERROR: --bench-gate needs a baseline: add --benchmark-compare" in missing
    empty = usage_error("--benchmark-storage=nothing-here", "--benchmark-compare", "--bench-gate=5")
    assert "ERROR: --bench-gate: no saved run in" in empty
    # a storage outside the working directory: pytest-benchmark's relative location raised
    elsewhere = timed.path.parent / f"{timed.path.name}-elsewhere"
    outside = usage_error(
        f"--benchmark-storage={elsewhere}", "--benchmark-compare", "--bench-gate=5"
    )
    assert f"ERROR: --bench-gate: no saved run in {elsewhere}" in outside
    assert "Traceback" not in missing + empty + outside and "INTERNALERROR" not in outside
    assert "expected a percentage" in usage_error(*GATED, "--bench-gate", "ten")
    both = usage_error(*GATED, "--bench-gate", "10", "--benchmark-compare-fail=median:5%")
    assert "--bench-gate and --benchmark-compare-fail are two gates" in both
