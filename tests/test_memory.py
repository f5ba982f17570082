import pytest
import torch
from torch import nn

from bench.measure.memory.probes import (
    cpu_allocation_peak,
    cpu_peak_bytes,
    cuda_peaks,
    replay_peak,
    resident_bytes,
)
from tests.fakes import FakeCudaBackend

MIB = 1024 * 1024


class CloneThenSum(nn.Module):
    """Allocates a known intermediate: a clone of its input, then returns a scalar."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clone().sum()


def test_resident_counts_each_storage_once() -> None:
    layer = nn.Linear(4, 4)  # 16 + 4 floats
    x = torch.zeros(10)
    view = x[2:5]
    assert resident_bytes(layer, x, view) == (20 + 10) * 4


def test_replay_orders_by_time_and_keeps_report_order_on_ties() -> None:
    # reported out of time order: the 100-byte free happens at t=3, after the 50-byte alloc
    assert replay_peak([(1, 100), (3, -100), (2, 50)]) == 150
    # same time stamp: allocation reported first counts before the free
    assert replay_peak([(1, 10), (2, 30), (2, -30), (2, 5)]) == 40
    assert replay_peak([]) == 0


def test_cpu_peak_accounts_for_a_known_intermediate_and_repeats() -> None:
    x = torch.randn(8 * MIB // 4)  # 8 MiB of float32
    model = CloneThenSum()
    resident = resident_bytes(model, x)
    with torch.inference_mode():
        peaks = [cpu_peak_bytes(lambda: model(x), resident) for _ in range(3)]
    assert resident == 8 * MIB
    # the clone (8 MiB) plus the scalar result and the reduction's tiny temporaries
    assert 16 * MIB <= peaks[0] <= 16 * MIB + 4096
    assert peaks[0] == peaks[1] == peaks[2]


def test_cpu_peak_sees_a_temporary_freed_inside_the_call() -> None:
    x = torch.randn(MIB // 4)  # 1 MiB

    def temporary_then_small() -> torch.Tensor:
        return (x * 2).sum()  # the 1 MiB product is freed before the call returns

    with torch.inference_mode():
        assert MIB <= cpu_allocation_peak(temporary_then_small) <= MIB + 4096


def test_cpu_peak_of_a_view_adds_nothing() -> None:
    x = torch.randn(1024)
    peak = cpu_peak_bytes(lambda: x.view(32, 32), resident=x.nbytes)
    assert peak == x.nbytes


def test_cuda_peaks_reset_on_the_case_device_and_read_after_sync() -> None:
    backend = FakeCudaBackend()
    backend.allocate(1000)  # resident weights
    backend.allocate(3000)  # an earlier step grew the pool to 4000 ...
    backend.free(3000)  # ... and gave the tensors back; the pool stays reserved

    def step() -> None:
        backend.log.append(("step",))
        backend.allocate(500)
        backend.free(500)

    peaks = cuda_peaks(step, "cuda:1", backend)
    assert (peaks.allocated_before, peaks.peak_allocated, peaks.peak_reserved) == (1000, 1500, 4000)
    assert backend.log == [
        ("synchronize", "cuda:1"),
        ("reset_peak_memory_stats", "cuda:1"),
        ("memory_allocated", "cuda:1"),
        ("step",),
        ("synchronize", "cuda:1"),
        ("max_memory_allocated", "cuda:1"),
        ("max_memory_reserved", "cuda:1"),
    ]


@pytest.mark.cuda
def test_cuda_peaks_of_a_known_allocation_on_a_real_device() -> None:
    device = torch.device("cuda")
    x = torch.randn(8 * MIB // 4, device=device)  # 8 MiB
    torch.cuda.synchronize(device)
    peaks = cuda_peaks(lambda: x.clone(), device)
    assert peaks.allocated_before >= 8 * MIB
    # the clone is 8 MiB exactly (a multiple of the allocator's 512-byte rounding)
    assert peaks.peak_allocated - peaks.allocated_before == 8 * MIB
    assert peaks.peak_reserved >= peaks.peak_allocated
