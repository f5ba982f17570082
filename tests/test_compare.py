"""`bench compare`: verdicts from raw samples, matching, exact figures, environment, exit codes."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.cli import main
from bench.compare import (
    RunSamples,
    SideCase,
    compare_runs,
    compare_samples,
    load_side,
    regressions_beyond,
    render_comparison,
)
from bench.compare.verdicts import bootstrap_ratio_ci
from bench.errors import BenchError
from bench.records import CaseKey

ENVIRONMENT = {
    "date": "2026-01-01T00:00:00+00:00",
    "torch": "2.15.0",
    "torchvision": "0.30.0",
    "python": "3.11.7",
    "cpu_model": "Test CPU",
    "cpu_count": 2,
    "torch_num_threads": 2,
    "torch_num_interop_threads": 2,
    "cuda_devices": [],
    "cudnn_benchmark": False,
    "tf32_matmul": False,
    "tf32_cudnn": True,
}


def samples(median_ms: float, seed: int, n: int = 60, spread: float = 0.02) -> list[float]:
    """Seeded, right-skewed latency samples around `median_ms` (a floor plus a lognormal tail)."""
    rng = np.random.default_rng(seed)
    return [float(v) for v in median_ms * rng.lognormal(0.0, spread, size=n)]


def side(values: list[float], **fields: Any) -> SideCase:
    key = CaseKey("model", "m", "cpu", "float32", 1)
    return SideCase(key=key, status="ok", samples_ms=tuple(values), **fields)


def entry(model: str, values: list[float], **fields: Any) -> dict[str, Any]:
    row = {
        "suite": "s",
        "model": model,
        "device": "cpu",
        "dtype": "float32",
        "batch_size": 1,
        "input_shape": "1x8",
        "mode": "eval",
        "status": "ok",
        "error": "",
        "params": 100,
        "macs": 800,
        "peak_memory_bytes": 4096,
        "noisy": False,
        "experiment": None,
        "variant": None,
        "latency_samples_ms": values,
    }
    row.update(fields)
    return row


def write_run(path: Path, cases: list[dict[str, Any]], **environment: Any) -> Path:
    path.mkdir(parents=True)
    record = {"suite_name": "s", "environment": {**ENVIRONMENT, **environment}, "cases": cases}
    (path / "run.json").write_text(json.dumps(record), encoding="utf-8")
    return path


@pytest.fixture
def two_runs(tmp_path: Path) -> tuple[Path, Path]:
    """BASE and NEW of three models; `slow` is 3x slower in NEW, the others redrawn."""
    base = write_run(
        tmp_path / "base",
        [entry("fast", samples(1.0, 1)), entry("slow", samples(5.0, 2)), entry("gone", [1.0] * 9)],
    )
    new = write_run(
        tmp_path / "new",
        [entry("fast", samples(1.0, 3)), entry("slow", samples(15.0, 4)), entry("fresh", [1] * 9)],
    )
    return base, new


def test_three_times_slower_is_slower() -> None:
    result = compare_samples(side(samples(5.0, 1)), side(samples(15.0, 2)))
    assert result.verdict == "slower"
    assert result.ratio == pytest.approx(3.0, rel=0.02)
    assert result.ci_low is not None and result.ci_low > 2.8
    assert result.p_value is not None and result.p_value < 1e-6


def test_three_times_faster_is_faster() -> None:
    assert compare_samples(side(samples(15.0, 1)), side(samples(5.0, 2))).verdict == "faster"


def test_redrawn_samples_of_one_distribution_are_same() -> None:
    result = compare_samples(side(samples(5.0, 1)), side(samples(5.0, 2)))
    assert result.verdict == "same"
    assert result.ci_low is not None and result.ci_high is not None
    assert 1 / 1.1 <= result.ci_low <= 1 <= result.ci_high <= 1.1


def test_identical_samples_are_same_even_when_noisy() -> None:
    values = samples(5.0, 1, spread=0.5)
    result = compare_samples(side(values, noisy=True), side(values, noisy=True))
    assert (result.verdict, result.ratio, result.p_value) == ("same", 1.0, 1.0)


def test_small_real_change_is_same_not_slower() -> None:
    """5% slower, measured precisely: significant, but inside the 10% threshold."""
    result = compare_samples(
        side(samples(5.0, 1, spread=0.002)), side(samples(5.25, 2, 200, 0.002))
    )
    assert result.p_value is not None and result.p_value < 0.05
    assert result.verdict == "same"
    assert (
        compare_samples(
            side(samples(5.0, 1, spread=0.002)),
            side(samples(5.25, 2, spread=0.002)),
            threshold=0.02,
        ).verdict
        == "slower"
    )


def test_change_near_the_threshold_with_wide_interval_is_inconclusive() -> None:
    result = compare_samples(side(samples(5.0, 1, 12, 0.15)), side(samples(5.4, 2, 12, 0.15)))
    assert result.verdict == "inconclusive"
    assert result.ci_low is not None and result.ci_high is not None
    assert result.ci_low < 1.1 < result.ci_high or result.ci_low < 1 / 1.1


@pytest.mark.parametrize(
    ("flags", "why"),
    [({"noisy": True}, "noisy"), ({"contended": True}, "contended"), ({"steady": False}, "steady")],
)
def test_noisy_or_contended_side_is_inconclusive_even_when_3x(flags: dict, why: str) -> None:
    result = compare_samples(side(samples(5.0, 1)), side(samples(15.0, 2), **flags))
    assert result.verdict == "inconclusive"
    assert why in result.reason
    assert result.ratio == pytest.approx(3.0, rel=0.02)  # the figures are still shown


@pytest.mark.parametrize(
    ("base_flags", "new_flags", "new_ms", "verdict"),
    [
        ({"contended": True}, {}, 15.0, "slower"),  # BASE slowed: the slowdown is at least this
        ({}, {"contended": True}, 2.0, "faster"),  # NEW slowed: the speed-up is at least this
        ({"throttled": True}, {}, 15.0, "slower"),
        ({}, {"contended": True}, 15.0, "inconclusive"),  # NEW's load may be the slowdown
        ({"contended": True}, {}, 2.0, "inconclusive"),  # BASE's load may be the speed-up
    ],
)
def test_load_on_one_side_only_undoes_the_verdict_it_could_have_caused(
    base_flags: dict, new_flags: dict, new_ms: float, verdict: str
) -> None:
    result = compare_samples(
        side(samples(5.0, 1), **base_flags), side(samples(new_ms, 2), **new_flags)
    )
    assert result.verdict == verdict
    assert ("contended" in result.reason) or ("throttled" in result.reason)


def test_the_gate_cannot_pass_an_inconclusive_case_slower_than_it_by_its_median(
    tmp_path: Path, cli
) -> None:
    """One case 1.9x slower but NEW noisy (inconclusive), the other unchanged: the gate used to
    pass (exit 0) because not every case was inconclusive."""
    base, new = _gate_runs(
        tmp_path, [entry("a", samples(1.9, 3), noisy=True), entry("b", samples(2.0, 4))]
    )
    done = cli("compare", base, new, "--fail-on-regression", "10")
    assert done.returncode == 3, done.stderr
    assert "1 inconclusive case(s) slower than the gate by their medians" in done.stderr
    assert "NEW is noisy" in done.stderr
    allowed = cli("compare", base, new, "--fail-on-regression", "10", "--allow-inconclusive")
    assert allowed.returncode == 0
    fine = _gate_runs(tmp_path / "fine", [entry("a", samples(1.02, 3), noisy=True),
                                          entry("b", samples(2.0, 4))])  # fmt: skip
    assert cli("compare", *fine, "--fail-on-regression", "10").returncode == 0


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
@pytest.mark.parametrize("where", ["BASE", "NEW"])
def test_impossible_samples_are_inconclusive_without_figures(bad: float, where: str) -> None:
    good, broken = samples(5.0, 1), [*samples(5.0, 2)[:-1], bad]
    base, new = (broken, good) if where == "BASE" else (good, broken)
    result = compare_samples(side(base), side(new))
    assert (result.verdict, result.ratio) == ("inconclusive", None)
    assert result.reason == f"{where} has impossible samples (zero, negative or not finite)"


def test_failed_side_is_inconclusive_without_figures() -> None:
    failed = SideCase(key=side([]).key, status="error", error="boom")
    result = compare_samples(side(samples(5.0, 1)), failed)
    assert (result.verdict, result.ratio) == ("inconclusive", None)
    assert "error" in result.reason


def test_bootstrap_is_seeded() -> None:
    base, new = samples(5.0, 1), samples(6.0, 2)
    assert bootstrap_ratio_ci(base, new) == bootstrap_ratio_ci(base, new)


def test_runs_match_by_case_and_list_added_and_removed(two_runs: tuple[Path, Path]) -> None:
    comparison = compare_runs(load_side(two_runs[0]), load_side(two_runs[1]))
    verdicts = {c.key.name: c.verdict for c in comparison.cases}
    assert verdicts == {"fast": "same", "slow": "slower"}
    assert [c.key.name for c in comparison.added] == ["fresh"]
    assert [c.key.name for c in comparison.removed] == ["gone"]
    assert [c.key.name for c in regressions_beyond(comparison, 1.5)] == ["slow"]
    assert regressions_beyond(comparison, 2.5) == []  # 3x is 200% slower: not beyond 250%


def test_cases_differing_in_any_key_field_do_not_match(tmp_path: Path) -> None:
    base = write_run(tmp_path / "a", [entry("m", [1.0] * 9)])
    new = write_run(tmp_path / "b", [entry("m", [1.0] * 9, dtype="bfloat16")])
    comparison = compare_runs(load_side(base), load_side(new))
    assert (len(comparison.cases), len(comparison.added), len(comparison.removed)) == (0, 1, 1)


def test_exact_figures_are_reported_to_the_unit(tmp_path: Path) -> None:
    base = write_run(tmp_path / "a", [entry("m", [1.0] * 9)])
    new = write_run(tmp_path / "b", [entry("m", [1.0] * 9, params=101, peak_memory_bytes=5000)])
    text = render_comparison(compare_runs(load_side(base), load_side(new)))
    assert "| params " in text and " 100 | " in text and " 101 | " in text and "+1 (+1.00%)" in text
    assert "+904 (+22.07%)" in text
    assert "MACs" not in text.split("## Params, MACs and peak memory")[1]  # unchanged: not listed


def test_markdown_puts_regressions_first_and_warns_about_environment(tmp_path: Path) -> None:
    base = write_run(tmp_path / "a", [entry("a", samples(1.0, 1)), entry("b", samples(2.0, 2))])
    new = write_run(
        tmp_path / "b",
        [entry("a", samples(1.0, 3), threads=1, interop_threads=2), entry("b", samples(6.0, 4))],
        torch="2.14.1",
        torch_num_threads=1,
    )
    text = render_comparison(compare_runs(load_side(base), load_side(new)))
    assert text.index("## Warnings") < text.index("## Latency")
    assert "torch differs: 2.15.0 (BASE) vs 2.14.1 (NEW)" in text
    assert "threads (intra-op / inter-op) differs: 2 / 2 (BASE) vs 1 / 2 (NEW)" in text
    assert "ran with: ? (BASE) vs 1/2 (NEW) in 1 of 2 cases: `a cpu float32 b1`" in text
    latency = text.split("## Latency")[1]
    assert latency.index("`b cpu float32 b1`") < latency.index("`a cpu float32 b1`")
    assert (
        "**1 cases matched" not in text and "**2 cases matched: 1 slower, 0 faster, 1 same" in text
    )


def test_the_gate_passes_a_case_shown_not_slower_though_inconclusive(tmp_path: Path, cli) -> None:
    base, new = _gate_runs(tmp_path, [entry("a", samples(0.91, 3)), entry("b", samples(1.82, 4))])
    verdicts = {c.verdict for c in compare_runs(load_side(base), load_side(new)).cases}
    assert verdicts == {"inconclusive"}  # 9% faster: the intervals straddle 1/1.1
    done = cli("compare", base, new, "--fail-on-regression", "10")
    assert done.returncode == 0, done.stderr  # yet shown not slower: the gate passes


def test_different_suites_are_named_and_untimed_rows_raise_no_thread_warning(
    tmp_path: Path,
) -> None:
    base = write_run(tmp_path / "a", [entry("a", samples(1.0, 1)), entry("c", [], threads=2)])
    new = write_run(tmp_path / "b", [entry("a", samples(1.0, 2)), entry("c", [], threads=1)])
    record = json.loads((new / "run.json").read_text())
    (new / "run.json").write_text(json.dumps({**record, "suite_name": "other"}))
    text = render_comparison(compare_runs(load_side(base), load_side(new)))
    assert "different suites: `s` (BASE) vs `other` (NEW)" in text
    assert "ran with:" not in text  # `c` was only counted: threads shape no figure of it


def test_cli_a_against_a_is_all_same(two_runs: tuple[Path, Path], cli) -> None:
    done = cli("compare", two_runs[0], two_runs[0], "--fail-on-regression", "0")
    assert done.returncode == 0, done.stderr
    assert "3 cases matched: 0 slower, 0 faster, 3 same, 0 inconclusive" in done.stdout


def test_cli_gate_exits_1_on_a_confident_regression(
    two_runs: tuple[Path, Path], tmp_path: Path, cli
) -> None:
    out = tmp_path / "cmp" / "compare.md"
    done = cli("compare", *two_runs, "--fail-on-regression", "50", "--out", out)
    assert done.returncode == 1, done.stderr
    assert out.read_text(encoding="utf-8") == done.stdout
    assert "**slower**" in done.stdout
    assert cli("compare", *two_runs).returncode == 0  # no gate: a report, not a failure
    assert cli("compare", *two_runs, "--fail-on-regression", "300%").returncode == 0


def test_cli_refuses_different_hardware_unless_forced(tmp_path: Path, cli) -> None:
    base = write_run(tmp_path / "a", [entry("m", samples(1.0, 1))])
    new = write_run(tmp_path / "b", [entry("m", samples(1.0, 2))], cpu_model="Other CPU")
    refused = cli("compare", base, new)
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.startswith("error: ") and refused.stderr.count("\n") == 1
    assert "--force" in refused.stderr and "Other CPU" in refused.stderr
    forced = cli("compare", base, new, "--force")
    assert forced.returncode == 0
    assert "different hardware, compared with --force" in forced.stdout


@pytest.mark.parametrize("make", ["missing", "empty_dir", "not_json", "foreign_json"])
def test_cli_bad_input_is_one_error_line(tmp_path: Path, make: str, cli) -> None:
    target = tmp_path / "x"
    if make == "empty_dir":
        target.mkdir()
    elif make == "not_json":
        target.write_text("{", encoding="utf-8")
    elif make == "foreign_json":
        target.write_text('{"a": 1}', encoding="utf-8")
    done = cli("compare", target, target)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(f"error: {target}") and done.stderr.count("\n") == 1


def test_bad_threshold_is_a_usage_error(
    two_runs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["compare", *map(str, two_runs), "--threshold", "ten"])
    assert exited.value.code == 2
    assert capsys.readouterr().err.startswith("error: argument --threshold")


def _pytest_benchmark_json(tmp_path: Path, name: str, loops: int) -> Path:
    """A real pytest-benchmark JSON file (raw data included), from a real benchmark run."""
    test = tmp_path / f"test_{name}.py"
    test.write_text(
        "def work():\n"
        f"    return sum(i * i for i in range({loops}))\n\n"
        "def test_work(benchmark):\n"
        "    benchmark.pedantic(work, rounds=30, iterations=1)\n",
        encoding="utf-8",
    )
    out = tmp_path / f"{name}.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(test),
            f"--benchmark-json={out}",
            "--rootdir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def test_pytest_benchmark_json_files_compare(tmp_path: Path) -> None:
    base = _pytest_benchmark_json(tmp_path, "base", 20_000)
    loaded = load_side(base)
    assert loaded.kind == "pytest-benchmark"
    assert len(loaded.cases) == 1 and len(loaded.cases[0].samples_ms) == 30
    same = compare_runs(loaded, load_side(base))
    assert [c.verdict for c in same.cases] == ["same"]


def test_pytest_benchmark_json_without_data_is_refused(tmp_path: Path) -> None:
    stripped = tmp_path / "stripped.json"
    record = {
        "machine_info": {"cpu": {"brand_raw": "X"}},
        "benchmarks": [{"name": "test_work", "fullname": "t.py::test_work", "stats": {"min": 1}}],
    }
    stripped.write_text(json.dumps(record), encoding="utf-8")
    with pytest.raises(BenchError, match="--benchmark-save-data"):
        load_side(stripped)


@pytest.mark.parametrize(
    ("slower", "threshold", "gate", "fails"),
    [(1.08, 0.10, 0.05, True), (1.20, 0.50, 0.10, True), (1.08, 0.10, 0.10, False)],
)
def test_the_regression_gate_does_not_depend_on_the_threshold(
    slower: float, threshold: float, gate: float, fails: bool
) -> None:
    base = side(samples(5.0, 1, n=200, spread=0.005))
    new = side(samples(5.0 * slower, 2, n=200, spread=0.005))
    runs = [RunSamples("x", "run", "t", "d", {}, {}, (case,)) for case in (base, new)]
    comparison = compare_runs(*runs, threshold=threshold)
    if fails:  # the threshold did not call it slower: a gate on the verdict let it pass
        assert comparison.cases[0].verdict != "slower"
    assert bool(regressions_beyond(comparison, gate)) is fails


def drifting_samples(median_ms: float, seed: int, shift: float, n: int = 200) -> list[float]:
    """Samples whose level moves by `shift` (a fraction) halfway through, as a VM's does."""
    values = samples(median_ms, seed, n=n, spread=0.005)
    return [v * (1 + shift if i >= n // 2 else 1) for i, v in enumerate(values)]


def test_blocks_are_the_unit_so_in_run_drift_widens_the_interval() -> None:
    # 200 samples in 20 blocks of 10; NEW's second half ran 20% slower. Per sample the interval
    # would be tight around a shifted median; per block it spans the drift.
    base = side(samples(5.0, 1, n=200, spread=0.005), samples_per_block=10)
    new = side(drifting_samples(5.0, 2, 0.20), samples_per_block=10)
    result = compare_samples(base, new)
    assert result.ci_low is not None and result.ci_high is not None
    assert result.ci_high - result.ci_low > 0.10  # the per-sample bootstrap gave < 0.02
    assert result.verdict == "inconclusive"


def test_a_drifting_side_is_inconclusive_even_when_the_ratio_is_large() -> None:
    result = compare_samples(
        side(samples(5.0, 1)), side(samples(15.0, 2), drifting=True), threshold=0.10
    )
    assert (result.verdict, result.reason) == (
        "inconclusive",
        "NEW drifted during its run (its halves disagree)",
    )


def test_too_few_blocks_give_no_verdict() -> None:
    base = side(samples(5.0, 1, n=50), samples_per_block=10)  # 5 blocks
    new = side(samples(15.0, 2, n=50), samples_per_block=10)
    result = compare_samples(base, new)
    assert result.verdict == "inconclusive"
    assert result.reason == "BASE has 5 blocks; an interval needs 6"
    assert result.ci_low is None


@pytest.mark.parametrize(
    ("floor", "verdict"), [(0.0, "slower"), (0.10, "slower"), (0.25, "inconclusive")]
)
def test_no_change_below_the_noise_floor_is_called(floor: float, verdict: str) -> None:
    base = side(samples(5.0, 1, n=200, spread=0.005))
    new = side(samples(5.0 * 1.18, 2, n=200, spread=0.005))  # 18% slower, tight interval
    result = compare_samples(base, new, threshold=0.05, noise_floor=floor)
    assert result.verdict == verdict
    if verdict == "inconclusive":
        assert "noise floor" in result.reason


def test_the_runs_recorded_floor_reaches_verdicts_gate_and_footnote(tmp_path: Path) -> None:
    floor = {"fraction": 0.25, "workload": "256x256 matmul", "date": "2026-12-01"}
    base = write_run(tmp_path / "b", [entry("m", samples(5.0, 1, n=200, spread=0.005))])
    new = write_run(
        tmp_path / "n",
        [entry("m", samples(5.0 * 1.18, 2, n=200, spread=0.005))],
        noise_floor=floor,
    )
    comparison = compare_runs(load_side(base), load_side(new), threshold=0.05)
    assert comparison.noise_floor == 0.25
    assert comparison.cases[0].verdict == "inconclusive"
    assert regressions_beyond(comparison, 0.05) == []  # 18% is below the 25% floor
    assert "noise floor" in render_comparison(comparison) and "25.0%" in render_comparison(
        comparison
    )
    assert "from `bench doctor`: 256x256 matmul, 2026-12-01)" in render_comparison(comparison)


def test_a_floor_from_a_quick_doctor_run_says_so() -> None:
    from bench.compare.sources import floor_source

    quick = {"fraction": 0.039, "workload": "256x256 matmul", "repeats": 4, "quick": True}
    said = floor_source(quick)
    assert said.startswith("`bench doctor --quick`: 256x256 matmul, 4 repeats")
    assert "run `bench doctor` for a firmer one" in said
    assert floor_source(None) == "" and floor_source(0.2) == ""


def _gate_runs(tmp_path: Path, new_cases: list[dict[str, Any]]) -> tuple[Path, Path]:
    base = write_run(tmp_path / "base", [entry("a", samples(1.0, 1)), entry("b", samples(2.0, 2))])
    return base, write_run(tmp_path / "new", new_cases)


@pytest.mark.parametrize(
    ("new_cases", "why"),
    [
        (
            [entry("a", samples(1.0, 3)), entry("b", [], status="error", error="boom")],
            "NEW has 1 failed case(s)",
        ),
        ([entry("other", samples(1.0, 3))], "no case of NEW matches"),
        (
            [entry("a", samples(1.0, 3), noisy=True), entry("b", samples(2.0, 4), noisy=True)],
            "all 2 matched cases are inconclusive",
        ),
    ],
)
def test_the_gate_has_its_own_exit_code_when_it_cannot_judge(
    tmp_path: Path, cli, new_cases: list[dict[str, Any]], why: str
) -> None:
    base, new = _gate_runs(tmp_path, new_cases)
    done = cli("compare", base, new, "--fail-on-regression", "10")
    assert done.returncode == 3, done.stderr
    assert why in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert (
        cli("compare", base, new, "--fail-on-regression", "10", "--allow-inconclusive").returncode
        == 0
    )
    assert cli("compare", base, new).returncode == 0  # no gate asked: a report only


def test_an_unwritable_out_is_one_line_and_exit_2(
    two_runs: tuple[Path, Path], tmp_path: Path, cli
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    done = cli("compare", *two_runs, "--out", blocker / "sub" / "c.md")
    assert done.returncode == 2
    assert done.stderr.startswith("error: --out") and len(done.stderr.strip().splitlines()) == 1
    assert done.stdout == ""  # nothing half-written to the terminal either


def test_a_saved_floor_belongs_to_its_machine(tmp_path: Path, monkeypatch) -> None:
    from bench.noise_floor import NoiseFloor, load_floor, save_floor

    monkeypatch.setenv("BENCH_NOISE_FLOOR_FILE", str(tmp_path / "floors.json"))
    assert load_floor() is None
    save_floor(NoiseFloor(0.18, "256x256 matmul", 10, "2026-12-04T00:00:00+00:00"))
    assert load_floor() == NoiseFloor(0.18, "256x256 matmul", 10, "2026-12-04T00:00:00+00:00")
    monkeypatch.setattr("bench.noise_floor.machine_id", lambda: "another|cpu|64")
    assert load_floor() is None  # another machine's floor is not this one's


def _history_run(path: Path, median: float, seed: int, commit: str = "abc123") -> Path:
    case = entry("conv", samples(median, seed, n=200, spread=0.003), definition={"f": "m"})
    return write_run(path, [case], git_commit=commit)


def test_other_runs_of_the_same_code_set_a_case_floor(tmp_path: Path, cli) -> None:
    """Six runs of unchanged code: some processes land at 8 ms, some at 12 ms, each with a tight
    interval. Compared alone, 8 vs 12 is a confident 1.5x; beside the other runs of that code,
    it is the case's A/A spread, and no verdict is called."""
    from bench.compare.history import aa_floors

    runs = tmp_path / "results"
    dirs = [
        _history_run(runs / f"run{i}", median, i)
        for i, median in enumerate((8.0, 12.0, 8.2, 12.1, 8.1, 8.3))
    ]
    base, new = load_side(dirs[0]), load_side(dirs[1])
    assert compare_runs(base, new).cases[0].verdict == "slower"  # alone: a false 1.5x
    floors = aa_floors(base, new)
    (floor,) = floors.values()
    # at least the runs' spread, 12.1 / 8.0; with five runs in a group, the 99% prediction
    # bound for two runs' ratio from their log medians' spread, which is wider here
    others = [8.2, 12.1, 8.1, 8.3]  # the four other runs; BASE's own is 8.0, NEW's 12.0
    bound = max(
        math.expm1(2.576 * math.sqrt(2) * float(np.std(np.log([own, *others]), ddof=1)))
        for own in (8.0, 12.0)
    )
    assert floor.runs == 4 and floor.fraction > 12.1 / 8.0 - 1
    assert floor.fraction == pytest.approx(bound, rel=0.02)
    judged = compare_runs(base, new, case_floors=floors).cases[0]
    assert judged.verdict == "inconclusive"
    assert "4 other run(s) of the same code" in judged.timing.reason
    done = cli("compare", dirs[0], dirs[1], "--fail-on-regression", "10")
    assert "A/A history" in done.stdout and "**slower**" not in done.stdout
    assert done.returncode == 3  # the only case is inconclusive: the gate cannot judge


def test_history_never_mixes_code_or_counts_the_compared_runs(tmp_path: Path) -> None:
    from bench.compare.history import aa_floors

    runs = tmp_path / "results"
    base = _history_run(runs / "a", 8.0, 1)
    new = _history_run(runs / "b", 12.0, 2)
    # another commit, a dirty tree and another definition are not the same code
    _history_run(runs / "c", 12.0, 3, commit="other")
    _history_run(runs / "d", 12.0, 4, commit="abc123+dirty")
    changed = entry("conv", samples(12.0, 5, n=200, spread=0.003), definition={"f": "n"})
    write_run(runs / "e", [changed], git_commit="abc123")
    assert aa_floors(load_side(base), load_side(new)) == {}  # A vs B never explain each other
