"""Variants as suite axes: precision (cast or autocast), memory format and torch.compile."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from bench.errors import SuiteError
from bench.measure.case import RunOptions, measure_case
from bench.measure.timing.engine import QUICK_POLICY
from bench.model import variants
from bench.model.factory import build_model
from bench.model.inputs import make_input
from bench.model.workload import make_workload
from bench.records import COLUMNS, Case, ModelSpec, axes
from bench.suite import expand, load_suite

COUNTS = RunOptions(metrics=frozenset({"params", "flops"}), crosscheck=False)
TIMED = RunOptions(metrics=frozenset({"params", "flops", "latency"}), timing=QUICK_POLICY)


def test_torch_knows_every_name_a_suite_may_choose() -> None:
    """The names live in bench.records.axes (no torch, for validating suites); every one of them
    has its torch meaning here, and nothing torch maps is a name a suite cannot choose."""
    assert tuple(variants.AUTOCAST_DTYPES) == axes.AMP_DTYPES
    assert tuple(variants.TORCH_MEMORY_FORMATS) == axes.MEMORY_FORMATS
    for name in axes.CAST_DTYPES:
        assert isinstance(variants.storage_dtype(name), torch.dtype)


def case(
    factory: str = "bench.zoo:mlp_relu",
    shape: tuple[int, ...] = (16,),
    kwargs: dict | None = None,
    **fields: object,
) -> Case:
    spec = ModelSpec(
        name="m",
        factory=factory,
        input_shape=shape,
        batch_sizes=(2,),
        kwargs=kwargs if kwargs is not None else {"in_features": 16, "hidden": (8,)},
    )
    values = {"dtype": "float32", "device": "cpu", **fields}
    return Case(suite="s", model=spec, batch_size=2, base_dir=Path(), **values)


# --- suite axes ---------------------------------------------------------------------------


def test_variant_axes_expand_and_a_model_overrides_the_suite(write_suite) -> None:
    path = write_suite(
        """\
        [suite]
        name = "s"
        dtypes = ["float32", "amp_bfloat16"]
        memory_formats = ["contiguous", "channels_last"]
        compile = ["eager", "default"]

        [[models]]
        name = "a"
        factory = "torch.nn:Identity"
        input_shape = [3, 8, 8]

        [[models]]
        name = "b"
        factory = "torch.nn:Identity"
        input_shape = [4]
        dtypes = ["bfloat16"]
        memory_formats = ["contiguous"]
        compile = ["eager"]
        """
    )
    cases = expand(load_suite(path))
    assert len(cases) == 2 * 2 * 2 + 1
    assert {(c.dtype, c.memory_format, c.compile) for c in cases if c.model.name == "a"} == {
        (d, m, c)
        for d in ("float32", "amp_bfloat16")
        for m in ("contiguous", "channels_last")
        for c in ("eager", "default")
    }
    (b,) = [c for c in cases if c.model.name == "b"]
    assert (b.dtype, b.memory_format, b.compile) == ("bfloat16", "contiguous", "eager")
    assert len({c.key for c in cases}) == len(cases)  # --resume tells every variant apart


@pytest.mark.parametrize(
    ("line", "entry", "allowed"),
    [
        ('memory_formats = ["nhwc"]', "[suite] memory_formats", "channels_last"),
        ('compile = ["inductor"]', "[suite] compile", "reduce-overhead"),
        ('compile = ["eager", "eager"]', "[suite] compile", "repeats"),
        ('dtypes = ["amp_float8"]', "[suite] dtypes", "amp_bfloat16"),
        ("memory_formats = []", "[suite] memory_formats", "non-empty"),
    ],
)
def test_variant_values_are_validated(write_suite, line: str, entry: str, allowed: str) -> None:
    path = write_suite(
        f'[suite]\nname = "s"\n{line}\n\n[[models]]\nname = "a"\n'
        'factory = "torch.nn:Identity"\ninput_shape = [4]\n'
    )
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    assert info.value.entry == entry
    assert allowed in info.value.problem


def test_a_model_entry_variant_is_validated_too(write_suite) -> None:
    path = write_suite(
        '[suite]\nname = "s"\n\n[[models]]\nname = "a"\nfactory = "torch.nn:Identity"\n'
        'input_shape = [4]\ncompile = ["fast"]\n'
    )
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    assert info.value.entry == "models[0] (a) compile"


def test_autocast_precisions_do_not_apply_to_experiments(write_suite) -> None:
    path = write_suite(
        '[suite]\nname = "s"\ndtypes = ["amp_float16"]\n\n'
        '[[experiments]]\nname = "e"\nkind = "view"\n'
    )
    with pytest.raises(SuiteError, match="applies to models"):
        load_suite(path)


def test_new_columns_are_appended_at_the_end() -> None:
    start = COLUMNS.index("memory_format")  # appended after the earlier extensions, in order
    assert COLUMNS[start : start + 4] == ("memory_format", "compile", "compile_ms", "graph_breaks")


# --- precision ------------------------------------------------------------------------------


def test_amp_keeps_float32_weights_and_runs_the_forward_under_autocast() -> None:
    amp = case(dtype="amp_bfloat16")
    model, example = build_model(amp), make_input(amp)
    assert model[1].weight.dtype == torch.float32 and example.args[0].dtype == torch.float32
    seen: list[torch.dtype] = []
    model[1].register_forward_hook(lambda module, args, output: seen.append(output.dtype))
    workload = make_workload(model, example, "eval", variants.autocast("amp_bfloat16", "cpu"))
    with workload.context():
        workload.run()
    assert seen == [torch.bfloat16]


def test_amp_row_counts_the_same_params_and_macs_as_float32() -> None:
    rows = [measure_case(case(dtype=d), COUNTS) for d in ("float32", "amp_bfloat16", "bfloat16")]
    assert [r.status for r in rows] == ["ok"] * 3
    assert len({(r.params, r.macs) for r in rows}) == 1
    assert rows[0].macs == 2 * (16 * 8 + 8 * 10)  # two linears at batch 2


class NoHalfKernel(nn.Module):
    """Stands in for an op without a float16 CPU kernel: raises as torch does for one."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.float16:
            raise RuntimeError("\"fake_op_cpu\" not implemented for 'Half'")
        return x * self.scale


def test_a_dtype_without_a_kernel_is_a_skipped_row() -> None:
    factory = f"{__name__}:NoHalfKernel"
    result = measure_case(case(factory, (4,), {}, dtype="float16"), COUNTS)
    assert result.status == "skipped"
    assert result.error.startswith("float16: an op of this model has no float16 kernel on cpu")
    assert measure_case(case(factory, (4,), {}, dtype="float32"), COUNTS).status == "ok"


# --- memory format --------------------------------------------------------------------------


def test_channels_last_on_a_2d_input_is_a_skipped_row_with_the_reason() -> None:
    result = measure_case(case(memory_format="channels_last"), COUNTS)
    assert result.status == "skipped"
    assert result.error == (
        "memory_format channels_last needs a 4-D input (N, C, H, W); "
        "this case's input is 2-D (2x16)"
    )


def test_channels_last_applies_to_model_and_input() -> None:
    cl = case("bench.zoo:cifar10_net", (3, 32, 32), {}, memory_format="channels_last")
    model, example = build_model(cl), make_input(cl)
    assert example.args[0].is_contiguous(memory_format=torch.channels_last)
    assert model[0].weight.is_contiguous(memory_format=torch.channels_last)
    result = measure_case(cl, COUNTS)
    assert result.status == "ok" and result.row()["memory_format"] == "channels_last"


def test_channels_last_3d_needs_a_5d_input() -> None:
    assert variants.memory_format_problem("channels_last_3d", (1, 3, 4, 8, 8)) is None
    problem = variants.memory_format_problem("channels_last_3d", (1, 3, 8, 8))
    assert problem is not None and "needs a 5-D input" in problem


# --- compile --------------------------------------------------------------------------------


def test_compile_warmup_times_only_the_calls_that_compiled() -> None:
    """Fake clock and fake dynamo frame counter: calls 1 and 2 compile, call 3 does not."""
    counters = variants._counters()  # dynamo's, found where bench finds them (a private module)
    times = iter([0.0, 5.0, 5.0, 5.5, 5.5, 5.501])
    calls = []

    def run() -> None:
        calls.append(1)
        if len(calls) <= 2:
            counters["frames"]["total"] += 1

    counters.clear()
    try:
        warm = variants.warm_compiled(run, None, lambda: None, clock=lambda: next(times))
    finally:
        counters.clear()
    assert warm.compile_ms == pytest.approx(5500.0)
    assert (warm.calls, warm.steady, len(calls)) == (2, True, 3)


def test_compile_warmup_counts_the_cuda_graph_recording_call() -> None:
    counters = variants._counters()
    times = iter([0.0, 4.0, 4.0, 4.25, 4.25, 4.2501])
    calls = []

    def run() -> None:
        calls.append(1)
        if len(calls) == 1:
            counters["frames"]["total"] += 1

    counters.clear()
    try:
        warm = variants.warm_compiled(
            run, None, lambda: None, min_calls=2, clock=lambda: next(times)
        )
    finally:
        counters.clear()
    assert warm.compile_ms == pytest.approx(4250.0)
    assert warm.calls == 2


def test_compile_without_a_cpp_compiler_is_a_skipped_row(monkeypatch) -> None:
    monkeypatch.setattr(variants, "_cpp_compiler", lambda: None)
    result = measure_case(case(compile="default"), TIMED)
    assert result.status == "skipped"
    assert result.error.startswith("compile: no C++ compiler found for inductor on the CPU")


@pytest.mark.slow
def test_compiled_tiny_mlp_reports_compile_time_apart_from_latency() -> None:
    """Inductor on the CPU, for real: compile time is its own column, never in the latency."""
    compiled = case(compile="default")
    result = measure_case(compiled, TIMED)
    assert result.status == "ok", result.error
    assert result.compile_ms is not None and result.compile_ms > 0
    assert result.graph_breaks == 0
    assert any(note.startswith("compile: 1 call(s) until steady") for note in result.notes)
    latency = result.latency
    assert latency is not None
    # compiling takes seconds; a compiled call of this MLP, milliseconds at most
    assert max(latency.samples_ms) < result.compile_ms / 10
    assert latency.first_call_ms < result.compile_ms / 10
    row = result.row()
    assert (row["compile"], row["compile_ms"]) == ("default", result.compile_ms)
    assert measure_case(case(), TIMED).compile_ms is None  # eager: no compile time


# --- CUDA -----------------------------------------------------------------------------------


CUDA_CASES = {
    "reduce_overhead": lambda: case(compile="reduce-overhead", device="cuda"),
    "amp_float16": lambda: case(
        "bench.zoo:cifar10_net", (3, 32, 32), {}, dtype="amp_float16", device="cuda"
    ),
}
"""The cases the CUDA tests below measure, built here so their construction runs everywhere:
a test that only runs on a GPU must not be the first place its set-up is ever executed (both
of these raised TypeError on every machine, and no CPU-only run could notice)."""


@pytest.mark.parametrize("name", sorted(CUDA_CASES))
def test_the_cuda_tests_cases_build_on_any_machine(name: str) -> None:
    built = CUDA_CASES[name]()
    assert built.device == "cuda"
    reason = measure_case(built, TIMED).error if not torch.cuda.is_available() else None
    assert reason in (None, "no CUDA device on this machine")


@pytest.mark.cuda
def test_reduce_overhead_records_cuda_graphs_before_timing() -> None:
    result = measure_case(CUDA_CASES["reduce_overhead"](), TIMED)
    assert result.status == "ok", result.error
    assert result.compile_ms is not None and result.compile_ms > 0
    assert any(note.startswith("compile: 2 call(s) until steady") for note in result.notes)


@pytest.mark.cuda
def test_amp_float16_on_cuda_keeps_float32_weights() -> None:
    options = RunOptions(metrics=frozenset({"params", "latency", "memory"}), timing=QUICK_POLICY)
    result = measure_case(CUDA_CASES["amp_float16"](), options)
    assert result.status == "ok", result.error
    assert result.memory is not None
    assert set(result.memory.param_bytes_by_dtype) == {"float32"}
    assert result.row()["dtype"] == "amp_float16"
