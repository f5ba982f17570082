"""Profiling: the operator, module and memory tables of a model whose work is known exactly."""

from __future__ import annotations

import ast
import json
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from bench.errors import BenchError
from bench.measure.timing import QUICK_POLICY
from bench.profile import (
    CaseProfile,
    ModuleRow,
    ProfileSettings,
    cuda_memory_snapshot,
    module_table,
    profile_case,
    select_cases,
)
from bench.records import Case
from bench.report.profiles import _overhead_line
from bench.suite.load import expand, load_suite
from tests.fakes import FakeCudaMemory

BATCH, IN, HIDDEN, OUT = 8, 64, 128, 10
STEPS = 3

MODELS = """\
import torch
from torch import nn


class TwoLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 128)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Nested(nn.Module):
    '''A block inside a block, and one layer called twice per forward.'''

    def __init__(self):
        super().__init__()
        self.block = nn.Sequential(nn.Linear(64, 64), nn.Sequential(nn.ReLU(), nn.Linear(64, 64)))
        self.shared = nn.Linear(64, 64)

    def forward(self, x):
        return self.shared(self.shared(self.block(x)))


class Broken(nn.Module):
    def forward(self, x):
        raise RuntimeError("this model always fails")


def two_layer():
    return TwoLayer()


def nested():
    return Nested()


def broken():
    return Broken()
"""

SUITE = """\
[suite]
name = "mine"
batch_sizes = [8]
threads = 1

[[models]]
name = "mlp"
factory = "models.py:two_layer"
input_shape = [64]

[[models]]
name = "nested"
factory = "models.py:nested"
input_shape = [64]

[[models]]
name = "broken"
factory = "models.py:broken"
input_shape = [64]
"""


def write_suite(folder: Path) -> Path:
    (folder / "models.py").write_text(MODELS, encoding="utf-8")
    suite = folder / "suite.toml"
    suite.write_text(textwrap.dedent(SUITE), encoding="utf-8")
    return suite


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Case]:
    suite_path = write_suite(tmp_path_factory.mktemp("suite"))
    return {c.model.name: c for c in expand(load_suite(suite_path))}


def run_profile(case: Case, out: Path) -> CaseProfile:
    return profile_case(case, ProfileSettings(steps=STEPS), out, policy=QUICK_POLICY, threads=1)


@pytest.fixture(scope="module")
def mlp(cases: dict[str, Case], tmp_path_factory: pytest.TempPathFactory) -> CaseProfile:
    profile = run_profile(cases["mlp"], tmp_path_factory.mktemp("profile"))
    assert profile.status == "ok", profile.error
    return profile


def calls(profile: CaseProfile, name: str) -> float:
    """Calls per step of an operator, over all its input-shape groups."""
    return sum(row.calls_per_step for row in profile.ops if row.name == name)


def modules(profile: CaseProfile) -> dict[str, ModuleRow]:
    return {row.name: row for row in profile.modules}


def test_op_table_counts_the_calls_the_model_makes(mlp: CaseProfile) -> None:
    assert mlp.steps == STEPS
    assert calls(mlp, "aten::linear") == 2
    assert calls(mlp, "aten::addmm") == 2
    assert calls(mlp, "aten::relu") == 1
    # grouped by input shape: one addmm row per layer, each called once a step. How the
    # profiler records addmm's scalar arguments (beta, alpha: `[]` today) is torch's choice, so
    # only the tensors' shapes (bias, input, weight) are compared.
    addmm = [r for r in mlp.ops if r.name == "aten::addmm"]
    shapes = sorted([s for s in ast.literal_eval(r.input_shapes) if s] for r in addmm)
    assert shapes == sorted(
        [[[HIDDEN], [BATCH, IN], [IN, HIDDEN]],
         [[OUT], [BATCH, HIDDEN], [HIDDEN, OUT]]]
    )  # fmt: skip
    assert all(r.self_device_ms is None for r in mlp.ops)  # no CUDA ran: no device column
    assert [r.self_cpu_ms for r in mlp.ops] == sorted(
        (r.self_cpu_ms for r in mlp.ops), reverse=True
    )
    assert not any(r.name.startswith(("ProfilerStep", "module::")) for r in mlp.ops)


def test_module_table_names_the_layers_with_their_flops(mlp: CaseProfile) -> None:
    rows = modules(mlp)
    assert list(rows) == ["TwoLayer", "fc1", "act", "fc2"]
    assert [rows[n].depth for n in rows] == [0, 1, 1, 1]
    assert all(row.calls_per_step == 1 for row in rows.values())
    assert rows["fc1"].flops == 2 * BATCH * IN * HIDDEN
    assert rows["fc2"].flops == 2 * BATCH * HIDDEN * OUT
    assert rows["TwoLayer"].flops == rows["fc1"].flops + rows["fc2"].flops
    assert rows["act"].flops is None and rows["act"].gflops_per_s is None
    assert rows["fc1"].gflops_per_s == pytest.approx(rows["fc1"].flops / rows["fc1"].cpu_ms / 1e6)


def test_module_times_add_up_within_the_step(mlp: CaseProfile) -> None:
    rows = modules(mlp)
    children = sum(rows[n].cpu_ms for n in ("fc1", "act", "fc2"))
    assert 0 < children <= rows["TwoLayer"].cpu_ms
    assert 0 < rows["TwoLayer"].percent_of_step <= 100.0
    assert sum(rows[n].percent_of_step for n in ("fc1", "act", "fc2")) <= 100.0


def test_nested_modules_add_up_and_a_shared_layer_counts_each_call(
    cases: dict[str, Case], tmp_path: Path
) -> None:
    profile = run_profile(cases["nested"], tmp_path)
    assert profile.status == "ok", profile.error
    rows = modules(profile)
    assert list(rows) == [
        "Nested",
        "block",
        "block.0",
        "block.1",
        "block.1.0",
        "block.1.1",
        "shared",
    ]
    assert [rows[n].depth for n in rows] == [0, 1, 2, 2, 3, 3, 1]
    assert rows["shared"].calls_per_step == 2
    assert calls(profile, "aten::linear") == 4
    parents = {"Nested": ["block", "shared"], "block": ["block.0", "block.1"],
               "block.1": ["block.1.0", "block.1.1"]}  # fmt: skip
    for parent, kids in parents.items():
        assert sum(rows[k].cpu_ms for k in kids) <= rows[parent].cpu_ms, parent
        assert sum(rows[k].flops or 0 for k in kids) == rows[parent].flops, parent
    assert rows["shared"].flops == 2 * (2 * BATCH * 64 * 64)
    # report.md shows two levels; the CSV keeps every module
    shown = module_table(profile.modules, on_device=False)
    assert "`block.1`" in shown and "`block.1.0`" not in shown
    # a Sequential's children are `0`, `1`: the class says what they are
    assert [rows[n].kind for n in ("Nested", "block", "block.0", "shared")] == [
        "Nested", "Sequential", "Linear", "Linear"]  # fmt: skip
    assert "`block.0` Linear" in shown and "`Nested` Nested" not in shown


def test_memory_table_has_the_exact_bytes_each_op_allocates(mlp: CaseProfile) -> None:
    allocated = {row.name: row.allocated_bytes for row in mlp.memory}
    float_bytes = 4
    assert allocated == {
        "aten::relu": BATCH * HIDDEN * float_bytes,
        "aten::linear": (BATCH * HIDDEN + BATCH * OUT) * float_bytes,
    }
    assert {row.name: row.calls_per_step for row in mlp.memory} == {
        "aten::relu": 1,
        "aten::linear": 2,
    }


def test_trace_is_valid_json_with_the_ops_and_module_ranges(mlp: CaseProfile) -> None:
    assert mlp.trace is not None and mlp.trace.name.endswith(".trace.json")
    trace = json.loads(mlp.trace.read_text(encoding="utf-8"))
    names = {event.get("name") for event in trace["traceEvents"]}
    assert {"aten::addmm", "aten::relu", "module::fc1", "module::fc2"} <= names
    steps = [n for n in names if isinstance(n, str) and n.startswith("ProfilerStep#")]
    assert len(steps) == STEPS  # only the active steps of the schedule are recorded


def test_the_headline_and_overhead_use_the_tables_statistic_the_mean(mlp: CaseProfile) -> None:
    """The headline was a median (1.616 ms) while the module table's shares were of the mean
    step (7.208 ms = "99% of step"): one statistic now, the mean per step."""
    assert len(mlp.step_times_ms) == STEPS
    assert mlp.profiled_step_ms == pytest.approx(sum(mlp.step_times_ms) / STEPS)
    assert mlp.bench_mean_ms is not None and mlp.bench_mean_ms > 0
    if not mlp.uneven:
        assert mlp.overhead == pytest.approx(mlp.profiled_step_ms / mlp.bench_mean_ms - 1)


def test_uneven_profiled_steps_state_no_overhead() -> None:
    """One step slowed by a neighbour made the "profiler overhead" a contention figure."""
    steps = (1.6, 1.7, 30.0, 1.6, 1.65)
    profile = CaseProfile(
        label="m",
        mode="eval",
        device="cpu",
        status="ok",
        steps=len(steps),
        bench_median_ms=1.5,
        bench_mean_ms=1.55,
        profiled_step_ms=sum(steps) / len(steps),
        step_times_ms=steps,
    )
    assert profile.uneven and profile.overhead is None
    line = _overhead_line(profile)
    assert "1.600-30.000 ms" in line and "too uneven" in line
    even = replace(profile, step_times_ms=(1.6, 1.7, 1.6), profiled_step_ms=1.6333)
    assert even.overhead == pytest.approx(1.6333 / 1.55 - 1)
    assert "profiler overhead +5.4%" in _overhead_line(even)


def test_a_failing_model_is_a_profile_that_says_why(cases: dict[str, Case], tmp_path: Path) -> None:
    profile = run_profile(cases["broken"], tmp_path)
    assert profile.status == "error"
    assert profile.error.startswith("RuntimeError: ")
    assert profile.ops == () and profile.modules == ()


def test_train_mode_profiles_the_backward_too(cases: dict[str, Case], tmp_path: Path) -> None:
    from dataclasses import replace

    profile = run_profile(replace(cases["mlp"], mode="train"), tmp_path)
    assert profile.status == "ok", profile.error
    assert calls(profile, "aten::addmm") == 2  # forward
    assert calls(profile, "aten::mm") >= 2  # weight gradients of both layers
    assert {"fc1", "fc2"} <= set(modules(profile))


def test_cuda_case_is_skipped_where_there_is_no_gpu(cases: dict[str, Case], tmp_path: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("a CUDA device exists here")
    from dataclasses import replace

    profile = run_profile(replace(cases["mlp"], device="cuda"), tmp_path)
    assert profile.status == "skipped" and profile.trace is None


def test_select_cases_by_model_and_mode(cases: dict[str, Case], tmp_path: Path) -> None:
    everything = list(cases.values())
    chosen = select_cases(tmp_path, everything, "mlp", "train")
    assert [(c.model.name, c.mode) for c in chosen] == [("mlp", "train")]
    assert len(select_cases(tmp_path, everything, None, None)) == 3
    with pytest.raises(BenchError, match="--model 'nope': no such model"):
        select_cases(tmp_path, everything, "nope", None)


def test_cuda_snapshot_records_one_step_then_turns_history_off(tmp_path: Path) -> None:
    memory = FakeCudaMemory()
    path = cuda_memory_snapshot(lambda: memory.log.append(("step",)), tmp_path / "s.pickle", memory)
    assert path.read_bytes() == b"fake snapshot"
    assert [entry[0] for entry in memory.log] == [
        "record_memory_history", "step", "dump_snapshot", "record_memory_history",
    ]  # fmt: skip
    assert memory.log[0][1] == "all" and memory.log[-1][1] is None


def test_cuda_snapshot_turns_history_off_when_the_step_fails(tmp_path: Path) -> None:
    memory = FakeCudaMemory()

    def failing_step() -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        cuda_memory_snapshot(failing_step, tmp_path / "s.pickle", memory)
    assert [entry[0] for entry in memory.log] == ["record_memory_history"] * 2
    assert memory.log[-1][1] is None and not (tmp_path / "s.pickle").exists()


@pytest.mark.cuda
def test_cuda_profile_has_kernel_time_and_a_memory_snapshot(
    cases: dict[str, Case], tmp_path: Path
) -> None:
    from dataclasses import replace

    profile = run_profile(replace(cases["mlp"], device="cuda"), tmp_path)
    assert profile.status == "ok", profile.error
    assert calls(profile, "aten::addmm") == 2
    addmm = [r for r in profile.ops if r.name == "aten::addmm"]
    assert all(r.self_device_ms is not None and r.self_device_ms > 0 for r in addmm)
    rows = modules(profile)
    assert rows["fc1"].device_ms is not None and rows["fc1"].device_ms > 0
    assert profile.memory_snapshot is not None and profile.memory_snapshot.stat().st_size > 0


def test_cases_whose_labels_share_a_slug_get_folders_of_their_own(cases: dict[str, Case]) -> None:
    """`net/a` and `net_a` made one trace folder, the second profile overwriting the first."""
    from bench.profile.session import case_slug

    base = next(iter(cases.values()))
    a = replace(base, model=replace(base.model, name="net/a"))
    b = replace(base, model=replace(base.model, name="net_a"))
    long = replace(base, model=replace(base.model, name="n" * 300))
    assert case_slug(a) != case_slug(b)
    assert case_slug(a).startswith("net_a")  # still reads as the case
    assert len(case_slug(long)) < 60


def test_a_model_that_changes_directory_while_profiled_does_not_move_the_run(
    tmp_path: Path,
) -> None:
    """The run restored the working directory between cases, but not around a profile: a model
    that chdir'd there sent the next profile's relative paths elsewhere."""
    import os

    from bench.measure.case import RunOptions
    from bench.profile.run import profile_cases
    from bench.records import ModelSpec

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    spec = ModelSpec(
        name="meddler",
        factory="tests.failing_models:changes_settings",
        input_shape=(4,),
        batch_sizes=(1,),
        kwargs={"cwd": str(elsewhere)},
    )
    case = Case(suite="s", model=spec, device="cpu", dtype="float32", batch_size=1, base_dir=Path())
    before = (os.getcwd(), torch.get_num_threads(), torch.get_default_dtype())
    precision = torch.get_float32_matmul_precision()
    try:
        (profile,) = profile_cases(
            [case], tmp_path / "run", ProfileSettings(), RunOptions(timing=QUICK_POLICY)
        )
        after = (os.getcwd(), torch.get_num_threads(), torch.get_default_dtype())
    finally:
        os.chdir(before[0])
        torch.set_num_threads(before[1])
        torch.set_default_dtype(before[2])
        torch.set_float32_matmul_precision(precision)
    assert profile.status == "ok", profile.error
    assert after == before


def test_profile_csvs_on_a_full_disk_are_one_error_and_no_partial_file(tmp_path: Path) -> None:
    """A full disk gave a traceback and a 0-byte CSV."""
    import errno
    from unittest import mock

    from bench.errors import WriteError
    from bench.profile.render import write_profile_csvs

    def full(self: Path, *args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    with mock.patch.object(Path, "write_text", full), pytest.raises(WriteError) as caught:
        write_profile_csvs([], tmp_path)
    assert "No space left on device" in str(caught.value)
    assert list(tmp_path.iterdir()) == []  # no CSV, empty or half written, and no temp file


def test_an_amp_case_is_profiled_under_autocast_and_says_what_it_does_not_apply(
    cases: dict[str, Case], tmp_path: Path
) -> None:
    amp = replace(cases["mlp"], dtype="amp_bfloat16", compile="default", cache="cold")
    profile = run_profile(amp, tmp_path)
    assert profile.status == "ok", profile.error
    # under CPU autocast the linear layers run in bfloat16: a cast of the input first
    assert calls(profile, "aten::_to_copy") > 0
    assert "profiled eager: bench profile does not apply compile = default" in profile.notes
    assert any(note.startswith("profiled warm") for note in profile.notes)
