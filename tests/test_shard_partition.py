"""The split of a suite into shards, and reading the shard from a scheduler's environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench import cli
from bench.errors import BenchError
from bench.records import CaseKey
from bench.shard import (
    Shard,
    case_key,
    parse_shard,
    partition,
    select,
    shard_from_environment,
    shard_to_run,
)
from bench.suite.load import expand, load_suite
from tests.conftest import SHARD_SUITE

# the shard tests' suite with a fourth model
SUITE = (
    SHARD_SUITE.replace('name = "sharded"', 'name = "four-models"')
    + """
[[models]]
name = "cnn"
factory = "bench.zoo:mnist_cnn"
input_shape = [1, 28, 28]
"""
)


def keys_for(sizes: list[int]) -> list[CaseKey]:
    """Case keys of models m0, m1, ... with the given numbers of cases (batch sizes 1..n)."""
    return [
        CaseKey("model", f"m{m}", "cpu", "float32", batch)
        for m, size in enumerate(sizes)
        for batch in range(1, size + 1)
    ]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(1, 12), min_size=1, max_size=12), st.integers(1, 20))
def test_parts_are_disjoint_complete_stable_and_balanced(sizes: list[int], count: int) -> None:
    keys = keys_for(sizes)
    parts = partition(keys, count)
    assert len(parts) == count
    flat = [p for part in parts for p in part]
    assert sorted(flat) == list(range(len(keys)))  # every case exactly once
    assert partition(list(keys), count) == parts  # same list, same parts
    assert all(part == sorted(part) for part in parts)  # the suite's order within a shard
    models_of = [{keys[p].name for p in part} for part in parts]
    if count <= len(sizes):  # enough models: no model is split, no shard is empty
        for model in {k.name for k in keys}:
            assert sum(model in models for models in models_of) == 1
        assert all(parts)
    else:  # more shards than models: split, but never leave a shard idle that could work
        assert sum(bool(part) for part in parts) == min(count, len(keys))
    loads = [len(part) for part in parts]
    if count <= len(sizes):  # greedy on the least-loaded shard: spread within one model
        assert max(loads) - min(loads) <= max(sizes)


def test_the_split_of_a_suite_is_whole_models_largest_first(write_suite) -> None:
    cases = expand(load_suite(write_suite(SUITE)))
    names = [[(c.model.name, c.mode, c.batch_size) for c in select(cases, Shard(k, 3))]
             for k in (1, 2, 3)]  # fmt: skip
    assert names == [
        [("lin_a", "eval", 1), ("lin_a", "eval", 2), ("lin_a", "eval", 4)],
        [("lin_b", "eval", 1), ("lin_b", "eval", 2), ("cnn", "eval", 1)],
        [("mlp", "eval", 1), ("mlp", "train", 1)],
    ]
    # more shards than models: the biggest model is cut first; every shard has a case
    eight = [[case_key(c) for c in select(cases, Shard(k, 8))] for k in range(1, 9)]
    assert sorted(len(part) for part in eight) == [1] * 8


def test_one_shard_is_the_whole_suite(write_suite) -> None:
    cases = expand(load_suite(write_suite(SUITE)))
    assert select(cases, Shard(1, 1)) == cases


@pytest.mark.parametrize(
    ("text", "index", "count"), [("1/1", 1, 1), ("2/3", 2, 3), (" 3 / 3 ", 3, 3), ("10/12", 10, 12)]
)
def test_parse_shard(text: str, index: int, count: int) -> None:
    shard = parse_shard(text)
    assert (shard.index, shard.count) == (index, count)


@pytest.mark.parametrize("text", ["0/3", "4/3", "1/0", "3", "a/b", "-1/2", "1/2/3", ""])
def test_parse_shard_refuses(text: str) -> None:
    with pytest.raises(BenchError, match="--shard"):
        parse_shard(text)


@pytest.mark.parametrize(
    ("env", "index", "count"),
    [
        ({"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "4"}, 1, 4),
        # --array=1-3: ids start at SLURM_ARRAY_TASK_MIN, not 0
        ({"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_MIN": "1",
          "SLURM_ARRAY_TASK_COUNT": "3"}, 3, 3),
        # --array=1-7:3 is ids 1, 4, 7
        ({"SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_STEP": "3",
          "SLURM_ARRAY_TASK_COUNT": "3"}, 2, 3),
        ({"JOB_COMPLETION_INDEX": "0", "BENCH_SHARD_COUNT": "5"}, 1, 5),
        ({"JOB_COMPLETION_INDEX": "4", "BENCH_SHARD_COUNT": "5"}, 5, 5),
        ({"BENCH_SHARD_INDEX": "2", "BENCH_SHARD_COUNT": "2"}, 2, 2),
        ({"CI_NODE_INDEX": "1", "CI_NODE_TOTAL": "3"}, 1, 3),
    ],
)  # fmt: skip
def test_shard_from_environment(env: dict[str, str], index: int, count: int) -> None:
    shard = shard_from_environment(env)
    assert (shard.index, shard.count) == (index, count)
    assert shard.source  # run.json says where the shard came from


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({}, "no shard index"),
        ({"BENCH_SHARD_COUNT": "3"}, "no shard index"),
        ({"SLURM_ARRAY_TASK_ID": "2"}, "SLURM_ARRAY_TASK_COUNT is not"),
        ({"JOB_COMPLETION_INDEX": "0"}, "BENCH_SHARD_COUNT is not"),
        ({"JOB_COMPLETION_INDEX": "3", "BENCH_SHARD_COUNT": "3"}, "between 1 and the count"),
        ({"BENCH_SHARD_INDEX": "0", "BENCH_SHARD_COUNT": "3"}, "between 1 and the count"),
        ({"BENCH_SHARD_INDEX": "x", "BENCH_SHARD_COUNT": "3"}, "not an integer"),
        ({"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_STEP": "3",
          "SLURM_ARRAY_TASK_COUNT": "3"}, "not on the array's grid"),
        ({"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "2", "BENCH_SHARD_INDEX": "1",
          "BENCH_SHARD_COUNT": "2"}, "ambiguous"),
    ],
)  # fmt: skip
def test_shard_from_environment_refuses(env: dict[str, str], says: str) -> None:
    with pytest.raises(BenchError, match="--shard auto") as info:
        shard_from_environment(env)
    assert says in str(info.value)


def test_resume_keeps_the_recorded_shard() -> None:
    record = {"shard": {"index": 2, "count": 3, "source": "--shard 2/3"}}
    assert shard_to_run(None, record) == Shard(2, 3, "--shard 2/3")
    assert shard_to_run(Shard(2, 3), record).label == "2/3"
    with pytest.raises(BenchError, match="is shard 2/3"):
        shard_to_run(Shard(1, 3), record)
    with pytest.raises(BenchError, match="not a shard"):
        shard_to_run(Shard(1, 3), {})
    assert shard_to_run(Shard(1, 3), None) == Shard(1, 3)


@pytest.mark.parametrize(
    ("argv", "env", "says"),
    [
        (["--shard", "4/3"], {}, "--shard '4/3'"),
        (["--shard", "auto"], {}, "--shard auto: no shard index"),
        (["--shard", "auto"], {"BENCH_SHARD_INDEX": "1"}, "BENCH_SHARD_COUNT is not;"),
    ],
)
def test_bad_shard_is_one_line_exit_2_nothing_written(
    write_suite, tmp_path: Path, monkeypatch, capsys, argv: list[str], env: dict, says: str
) -> None:
    for name in ("SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX", "BENCH_SHARD_INDEX",
                 "CI_NODE_INDEX", "BENCH_SHARD_COUNT"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "results"
    code = cli.main(["run", str(write_suite(SUITE)), "--out", str(out), *argv])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and says in err
    assert not out.exists()
