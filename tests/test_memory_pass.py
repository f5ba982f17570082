"""The memory pass: known allocations, train-mode resident state, in-place ReLU, the CUDA seam."""

import sys
from dataclasses import replace

import pytest
import torch
from torch import nn

from bench.measure.memory.step import bytes_by_dtype, measure_memory
from bench.model.workload import Workload, make_workload
from bench.records import MemoryStats
from bench.zoo import mnist_cnn
from tests.fakes import FakeCudaBackend

MIB = 1024 * 1024
CPU = torch.device("cpu")
F32 = 4  # bytes per float32 element


class CloneThenSum(nn.Module):
    """Allocates a known intermediate: a clone of its input, then returns a scalar."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clone().sum()


def memory_of(model: nn.Module, example: torch.Tensor, mode: str) -> MemoryStats:
    workload = make_workload(model, example, mode)
    with workload.context():
        return measure_memory(workload, model, [example], example.device)


def deterministic(stats: MemoryStats) -> MemoryStats:
    """The figures that must repeat exactly: drop wall time and process RSS."""
    return replace(stats, pass_s=None, rss_peak_bytes=None)


def test_a_32_mib_clone_is_the_activation_peak_every_time() -> None:
    x = torch.randn(32 * MIB // F32)
    runs = [memory_of(CloneThenSum(), x, "eval") for _ in range(3)]
    first = runs[0]
    assert first.source == "profiler"
    assert first.resident_bytes == 32 * MIB  # the input; the module has no weights
    # the clone, plus the 4-byte sum and the reduction's few-byte temporaries (12 B seen here)
    assert 32 * MIB <= first.activation_peak_bytes <= 32 * MIB + 1024
    assert first.peak_allocated_bytes == first.resident_bytes + first.activation_peak_bytes
    assert deterministic(runs[1]) == deterministic(first) == deterministic(runs[2])
    assert first.pass_s is not None and first.pass_s > 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM is Linux's")
def test_rss_high_water_is_a_coarser_upper_figure() -> None:
    stats = memory_of(CloneThenSum(), torch.randn(8 * MIB // F32), "eval")
    # the whole process (interpreter, libraries) is resident too, so RSS is above the tensor peak
    assert stats.rss_peak_bytes is not None
    assert stats.rss_peak_bytes > stats.peak_allocated_bytes


def test_train_resident_state_includes_optimizer_state_and_the_step_makes_gradients() -> None:
    torch.manual_seed(0)
    model = nn.Linear(256, 256)
    param_bytes = (256 * 256 + 256) * F32
    stats = memory_of(model, torch.randn(8, 256), "train")
    assert dict(stats.resident_by_kind) == {
        "params": param_bytes,
        "buffers": 0,
        "inputs": 8 * 256 * F32,
        "optimizer_state": param_bytes,  # SGD momentum buffers, made by the warm step
        "gradients": 0,  # cleared by zero_grad(set_to_none=True) before the measured step
    }
    assert stats.resident_bytes == 2 * param_bytes + 8 * 256 * F32
    # the step's own peak holds at least the fresh gradients (as big as the parameters)
    assert stats.activation_peak_bytes >= param_bytes
    assert stats.param_bytes_by_dtype == {"float32": param_bytes}
    assert stats.buffer_bytes == 0


def test_the_memory_pass_does_not_depend_on_what_ran_before() -> None:
    def fresh() -> tuple[nn.Module, torch.Tensor]:
        torch.manual_seed(0)
        return mnist_cnn(), torch.randn(4, 1, 28, 28)

    model, example = fresh()
    cold = memory_of(model, example, "train")
    model, example = fresh()
    workload = make_workload(model, example, "train")
    with workload.context():
        for _ in range(3):  # as the latency pass would have
            workload.setup()
            workload.run()
        warm = measure_memory(workload, model, [example], CPU)
    assert deterministic(cold) == deterministic(warm)


def test_params_and_buffers_by_dtype() -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4)).to(torch.float64)
    model[0].half()
    assert bytes_by_dtype(model.parameters()) == {"float16": 20 * 2, "float64": 8 * 8}
    # running mean and var (float64) and the batch counter (int64)
    assert bytes_by_dtype(model.buffers()) == {"float64": 8 * 8, "int64": 8}


def test_in_place_relu_does_not_lower_the_train_peak_of_the_mnist_cnn() -> None:
    """The seed notes say in-place ReLU "saves memory"; for a whole training step it does not here.

    ReLU saves its *output* for backward either way, and the out-of-place variant frees the
    pre-activation as soon as ReLU returns, so the two variants hold the same tensors everywhere
    except for one activation inside the forward, at each ReLU. The step's peak is in the backward
    (conv2's weight/input gradients, measured), where both hold exactly the same tensors, and even
    in the forward the CPU convolution (oneDNN, NCHW) already holds two activations at once while
    it reorders its output. So the expected saving at the peak is 0 bytes, exactly.
    """
    stats = []
    for inplace in (False, True):
        torch.manual_seed(0)
        stats.append(memory_of(mnist_cnn(inplace=inplace), torch.randn(8, 1, 28, 28), "train"))
    out_of_place, in_place = stats
    assert out_of_place.resident_bytes == in_place.resident_bytes
    assert out_of_place.activation_peak_bytes == in_place.activation_peak_bytes


class FrozenStemNet(nn.Sequential):
    """A frozen convolution stem (feature extraction) and a trainable linear head, channels-last.

    Frozen: the stem needs no gradients, so its ReLU is not recorded and nothing of the stem is
    kept for backward, which is then small. Channels-last: oneDNN writes the convolution's output
    directly, without the reorder buffer it uses for NCHW. What is left is the forward at the
    stem's ReLU, where the in-place choice decides the step's peak.
    """

    def __init__(self, inplace: bool) -> None:
        super().__init__(
            nn.Conv2d(3, 16, kernel_size=3, padding=1),
            nn.ReLU(inplace=inplace),
            nn.MaxPool2d(4),
            nn.Flatten(),
            nn.Linear(16 * 8 * 8, 10),
        )
        self[0].requires_grad_(False)
        self.to(memory_format=torch.channels_last)


def test_in_place_relu_lowers_a_frozen_stem_train_peak_by_what_the_shapes_say() -> None:
    batch = 4
    activation = batch * 16 * 32 * 32 * F32  # the stem's conv output: 256 KiB
    pooled = batch * 16 * 8 * 8 * F32  # MaxPool2d(4) output: 16 KiB
    indices = batch * 16 * 8 * 8 * 8  # its int64 indices: 32 KiB
    # out of place: the conv output and the ReLU output are live together at the ReLU
    expected_out_of_place = 2 * activation
    # in place: one activation; the peak moves to the pool: its input, output and indices
    expected_in_place = activation + pooled + indices
    stats = []
    for inplace in (False, True):
        torch.manual_seed(0)
        example = torch.randn(batch, 3, 32, 32).contiguous(memory_format=torch.channels_last)
        stats.append(memory_of(FrozenStemNet(inplace), example, "train"))
    out_of_place, in_place = stats
    # Tolerance 1 KiB: the only allocations the shape model leaves out are scalars (the loss)
    # and the head's 10-wide outputs, each under 200 bytes; the saving is 208 KiB.
    assert out_of_place.activation_peak_bytes == pytest.approx(expected_out_of_place, abs=1024)
    assert in_place.activation_peak_bytes == pytest.approx(expected_in_place, abs=1024)
    saving = out_of_place.peak_allocated_bytes - in_place.peak_allocated_bytes
    assert saving == pytest.approx(activation - pooled - indices, abs=1024)  # 212,992 bytes
    assert out_of_place.resident_bytes == in_place.resident_bytes


def _fake_cuda_workload(backend: FakeCudaBackend) -> Workload:
    """A train-like step through the fake allocator: 300 B of gradients, a 700 B temporary."""

    def setup() -> None:
        backend.log.append(("setup",))
        if backend.allocated > 1000:  # gradients from the previous step
            backend.free(300)

    def step() -> None:
        backend.log.append(("step",))
        backend.allocate(700)
        backend.allocate(300)
        backend.free(700)

    return Workload("train", step, setup, torch.enable_grad)


def test_cuda_pass_warms_up_then_reads_the_allocator_on_the_case_device() -> None:
    backend = FakeCudaBackend()
    backend.allocate(1000)  # weights and input
    model = nn.Linear(2, 2)
    workload = _fake_cuda_workload(backend)
    stats = measure_memory(workload, model, [], torch.device("cuda:1"), cuda_backend=backend)
    assert stats.source == "cuda-allocator"
    assert stats.resident_bytes == 1000  # the allocator's count before the measured step
    assert stats.peak_allocated_bytes == 2000
    assert stats.activation_peak_bytes == 1000
    assert stats.peak_reserved_bytes == 2000
    assert stats.param_bytes_by_dtype == {"float32": 6 * F32}
    device = torch.device("cuda:1")
    assert backend.log == [
        ("setup",),
        ("step",),  # the warm step, before any reset
        ("setup",),
        ("synchronize", device),
        ("reset_peak_memory_stats", device),
        ("memory_allocated", device),
        ("step",),
        ("synchronize", device),
        ("max_memory_allocated", device),
        ("max_memory_reserved", device),
    ]


@pytest.mark.cuda
def test_cuda_pass_reports_a_known_clone_on_a_real_device() -> None:
    device = torch.device("cuda")
    x = torch.randn(32 * MIB // F32, device=device)
    stats = memory_of(CloneThenSum().to(device), x, "eval")
    assert stats.source == "cuda-allocator"
    assert stats.resident_bytes >= 32 * MIB
    # the 32 MiB clone and the sum's result (one 512-byte allocator block) and its workspace
    assert 32 * MIB <= stats.activation_peak_bytes <= 32 * MIB + 64 * 1024
    assert stats.peak_reserved_bytes is not None
    assert stats.peak_reserved_bytes >= stats.peak_allocated_bytes


@pytest.mark.cuda
def test_cuda_train_peak_includes_gradients_on_a_real_device() -> None:
    device = torch.device("cuda")
    torch.manual_seed(0)
    model = nn.Linear(1024, 1024).to(device)
    param_bytes = (1024 * 1024 + 1024) * F32
    stats = memory_of(model, torch.randn(16, 1024, device=device), "train")
    # weights + momentum buffers + input, as the allocator sees them
    assert stats.resident_bytes >= 2 * param_bytes + 16 * 1024 * F32
    assert stats.activation_peak_bytes >= param_bytes  # fresh gradients


def test_runner_memory_figures_are_the_same_with_or_without_latency_first() -> None:
    from pathlib import Path

    from bench.measure.case import RunOptions, measure_case
    from bench.measure.timing.engine import QUICK_POLICY
    from bench.records import Case, ModelSpec

    spec = ModelSpec(
        name="cnn", factory="bench.zoo:mnist_cnn", input_shape=(1, 28, 28), batch_sizes=(4,)
    )
    case = Case("s", spec, "cpu", "float32", 4, Path(), mode="train")
    rows = [
        measure_case(case, RunOptions(metrics=frozenset(metrics), timing=QUICK_POLICY)).row()
        for metrics in ({"memory"}, {"latency", "memory"})
    ]
    memory_columns = [
        "peak_memory_bytes",
        "resident_bytes",
        "activation_peak_bytes",
        "param_bytes",
        "buffer_bytes",
    ]
    assert [rows[0][c] for c in memory_columns] == [rows[1][c] for c in memory_columns]
    param_bytes = 1686568  # mnist_cnn: 421,642 float32 parameters
    assert rows[0]["param_bytes"] == param_bytes
    assert rows[0]["resident_bytes"] == 2 * param_bytes + 4 * 28 * 28 * F32  # + momentum, input
    assert rows[0]["peak_reserved_bytes"] is None  # CPU has no caching pool


def test_the_collector_is_paused_over_the_measured_step_only() -> None:
    import gc

    seen: list[bool] = []
    workload = Workload("eval", lambda: seen.append(gc.isenabled()), None, torch.inference_mode)
    with workload.context():
        measure_memory(workload, nn.Identity(), [], CPU)
    assert seen == [True, False]  # the warm step, then the measured one
    assert gc.isenabled()
