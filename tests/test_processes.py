"""`--processes N`: samples pooled from N worker processes, the interval resampled where the
variance lives (processes, then blocks), and the record that keeps the processes apart."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench.compare import SideCase, compare_samples
from bench.measure.processes import pooled
from bench.records import CaseKey, LatencyStats
from bench.records.latency import latency_from_entry
from bench.stats import grouped_block_medians, hierarchical_median_ci, median_ci


def test_groups_follow_each_process_own_block_size() -> None:
    samples = [1.0, 3.0, 2.0, 2.0, 5.0, 7.0, 9.0]
    assert grouped_block_medians(samples, [(4, 2), (3, 1)]) == [[2.0, 2.0], [5.0, 7.0, 9.0]]


def test_a_process_effect_widens_the_interval_that_pooled_blocks_hide() -> None:
    # three processes, each steady at its own level: pooled as if independent, the 60 blocks'
    # interval is [12, 12]; resampling processes shows the level depends on the process
    groups = [[10.0] * 20, [12.0] * 20, [14.0] * 20]
    pooled_blocks = sorted(b for g in groups for b in g)
    assert median_ci(pooled_blocks) == (12.0, 12.0)
    low, high = hierarchical_median_ci(groups) or (0.0, 0.0)
    assert (low, high) == (10.0, 14.0)
    assert hierarchical_median_ci(groups) == (low, high)  # seeded: one record, one interval
    assert hierarchical_median_ci([[1.0, 2.0]]) is None  # one process: not hierarchical


def test_pooled_latency_keeps_each_process_and_round_trips_through_its_entry() -> None:
    first = LatencyStats.from_samples([10.0, 10.2, 9.9, 10.1] * 5, samples_per_block=2)
    second = LatencyStats.from_samples([11.0, 11.1, 10.9] * 4, samples_per_block=3)
    merged = pooled([first, second])
    assert merged.processes == 2
    assert merged.process_sizes == ((20, 2), (12, 3))
    assert merged.blocks == 10 + 4
    entry = {
        "latency_samples_ms": list(merged.samples_ms),
        "samples_per_block": merged.samples_per_block,
        "latency_process_sizes": [list(p) for p in merged.process_sizes],
    }
    again = latency_from_entry(entry)
    assert again is not None
    assert (again.process_sizes, again.block_medians_ms) == (
        merged.process_sizes,
        merged.block_medians_ms,
    )
    assert (again.ci_low_ms, again.ci_high_ms) == (merged.ci_low_ms, merged.ci_high_ms)
    with pytest.raises(ValueError, match="add up"):
        LatencyStats.from_samples([1.0, 2.0], process_sizes=[(1, 1), (2, 1)])


def test_compare_resamples_processes_when_a_side_has_them() -> None:
    rng = np.random.default_rng(3)
    key = CaseKey("model", "m", "cpu", "float32", 1)
    # NEW: four processes at levels 0.9x-1.3x of BASE, ten blocks each of tight samples
    levels = [0.9, 1.3, 1.0, 1.2]
    new_samples = [float(v) for lv in levels for v in 10 * lv * rng.lognormal(0, 0.002, 10)]
    base_samples = [float(v) for v in 10 * rng.lognormal(0, 0.002, 40)]
    base = SideCase(key=key, status="ok", samples_ms=tuple(base_samples))
    flat = SideCase(key=key, status="ok", samples_ms=tuple(new_samples))
    grouped = SideCase(
        key=key,
        status="ok",
        samples_ms=tuple(new_samples),
        process_sizes=((10, 1),) * 4,
    )
    as_independent = compare_samples(base, flat, threshold=0.05)
    by_process = compare_samples(base, grouped, threshold=0.05)
    assert as_independent.ci_low is not None and by_process.ci_low is not None
    assert as_independent.ci_high is not None and by_process.ci_high is not None
    width = by_process.ci_high - by_process.ci_low
    assert width > as_independent.ci_high - as_independent.ci_low
    assert by_process.verdict == "inconclusive"  # four processes cannot pin a 0.9-1.3x level


def test_bench_run_with_two_processes(write_suite, tmp_path: Path, cli) -> None:
    suite = write_suite(
        """
        [suite]
        name = "procs"
        [[models]]
        name = "tiny"
        factory = "bench.zoo:mlp_bn"
        input_shape = [1, 28, 28]
        """
    )
    out = tmp_path / "results"
    done = cli(
        "run", suite, "--out", out, "--processes", "2", "--budget", "0.3s", "--metrics",
        "latency", "--quiet",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    run_dir = next(p for p in out.iterdir() if p.is_dir())
    record = json.loads((run_dir / "run.json").read_text())
    cases = [json.loads(line) for line in (run_dir / "cases.jsonl").read_text().splitlines()]
    entry = (record.get("cases") or cases)[0]
    assert entry["status"] == "ok"
    assert entry["processes"] == 2
    sizes = entry["latency_process_sizes"]
    assert len(sizes) == 2 and sum(n for n, _ in sizes) == len(entry["latency_samples_ms"])
