import torch
from torch import nn

from bench.memory import cpu_peak_bytes, cuda_peak_bytes, resident_bytes
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


def test_cpu_peak_of_a_view_adds_nothing() -> None:
    x = torch.randn(1024)
    peak = cpu_peak_bytes(lambda: x.view(32, 32), resident=x.nbytes)
    assert peak == x.nbytes


def test_cuda_peak_resets_on_the_case_device_and_reads_after_sync() -> None:
    backend = FakeCudaBackend()
    backend.allocate(1000)  # resident weights

    def step() -> None:
        backend.log.append(("step",))
        backend.allocate(500)
        backend.free(500)

    assert cuda_peak_bytes(step, "cuda:1", backend) == 1500
    assert backend.log == [
        ("synchronize", "cuda:1"),
        ("reset_peak_memory_stats", "cuda:1"),
        ("step",),
        ("synchronize", "cuda:1"),
        ("max_memory_allocated", "cuda:1"),
    ]
