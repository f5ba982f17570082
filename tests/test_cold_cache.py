"""`cache = "cold"`: the flush's size, its place outside the timed region, the suite key, the
command-line override, the row and the report."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bench.errors import SuiteError
from bench.measure.timing import CudaTimer, TimingPolicy, measure_latency
from bench.measure.timing.conditions import timing_conditions
from bench.measure.timing.flush import (
    FALLBACK_CACHE_BYTES,
    MIN_FLUSH_BYTES,
    buffer_bytes_for,
    cache_flush,
    cpu_last_level_cache_bytes,
    with_flush,
)
from bench.records import COLUMNS, key_of_entry
from bench.suite.load import expand, load_suite, with_variant_overrides
from tests.fakes import FakeClock, FakeCudaBackend

POLICY = TimingPolicy(
    warmup_min_iterations=2, steady_window=0, min_blocks=3, max_samples=6, budget_s=0.0
)


class FakeBuffer:
    def __init__(self, backend: FakeCudaBackend, nbytes: int, flush_ms: float) -> None:
        self.backend, self.nbytes, self.flush_ms = backend, nbytes, flush_ms

    def zero_(self) -> None:
        self.backend.log.append(("flush", self.nbytes))
        self.backend.device_time_ms += self.flush_ms  # device work the timing must not see


def test_buffer_is_twice_the_cache_at_least_a_mebibyte() -> None:
    assert buffer_bytes_for(50 * 2**20) == 100 * 2**20
    assert buffer_bytes_for(None) == 2 * FALLBACK_CACHE_BYTES
    assert buffer_bytes_for(1024) == MIN_FLUSH_BYTES


def test_cpu_cache_size_is_the_largest_level_in_sysfs(tmp_path: Path) -> None:
    for name, level, size in (("index0", 1, "32K"), ("index2", 2, "2048K"), ("index3", 3, "30M")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "level").write_text(f"{level}\n")
        (tmp_path / name / "size").write_text(f"{size}\n")
    assert cpu_last_level_cache_bytes(tmp_path) == 30 * 2**20
    assert cpu_last_level_cache_bytes(tmp_path / "missing") is None


def test_cuda_flush_sized_from_the_l2_and_released() -> None:
    backend = FakeCudaBackend(l2_bytes=60 * 2**20)
    made: list[FakeBuffer] = []

    def make(nbytes: int) -> FakeBuffer:
        made.append(FakeBuffer(backend, nbytes, 0.0))
        return made[-1]

    flush = cache_flush("cuda:0", backend, make)
    assert (flush.cache_bytes, flush.buffer_bytes) == (60 * 2**20, 120 * 2**20)
    flush.flush()
    assert backend.log[-1] == ("flush", 120 * 2**20)
    flush.release()
    assert backend.log[-1] == ("empty_cache",)
    assert "L2" in flush.note() and "120.0 MiB written" in flush.note()


def test_cuda_flush_without_a_stated_l2_uses_the_fallback() -> None:
    backend = FakeCudaBackend(l2_bytes=None)
    flush = cache_flush("cuda", backend, lambda n: FakeBuffer(backend, n, 0.0))
    assert flush.cache_bytes is None
    assert flush.buffer_bytes == 2 * FALLBACK_CACHE_BYTES
    assert "unknown size" in flush.note()


def test_cpu_flush_writes_through_the_cache(tmp_path: Path) -> None:
    (tmp_path / "index3").mkdir()
    (tmp_path / "index3" / "level").write_text("3")
    (tmp_path / "index3" / "size").write_text("1024K")
    buffers: list[torch.Tensor] = []

    def make(nbytes: int) -> torch.Tensor:
        buffers.append(torch.zeros(nbytes, dtype=torch.uint8))
        return buffers[-1]

    flush = cache_flush("cpu", make_buffer=make, cpu_cache_root=tmp_path)
    assert flush.buffer_bytes == 2 * 2**20 == buffers[0].numel()
    flush.flush()
    flush.flush()
    assert int(buffers[0][0]) == int(buffers[0][-1]) == 2  # read and written, not memset
    assert "last-level cache" in flush.note()


def test_setup_runs_before_the_flush() -> None:
    order: list[str] = []
    combined = with_flush(lambda: order.append("setup"), lambda: order.append("flush"))
    assert combined is not None
    combined()
    assert order == ["setup", "flush"]
    assert with_flush(None, None) is None


def test_flush_runs_before_every_timed_call_outside_the_timed_region() -> None:
    """The flush costs 5 ms of device time per call; every sample still reads the 1 ms
    kernel, and the log shows each flush queued before the block's start event."""
    backend = FakeCudaBackend(repeat_ms=1.0)
    flush = cache_flush("cuda:0", backend, lambda n: FakeBuffer(backend, n, 5.0))
    stats = measure_latency(
        backend.run_kernel,
        CudaTimer("cuda:0", backend, FakeClock(step_ns=1000)),
        POLICY,
        FakeClock(step_ns=1000),
        setup=flush.flush,
    )
    assert stats.samples_ms == (1.0,) * len(stats.samples_ms)
    assert stats.iterations_per_sample == 1
    log = [entry[0] for entry in backend.log]
    starts = [i for i, name in enumerate(log) if name == "record"][::2]
    for start in starts[1:]:  # the cold first call has no lead; every later block does
        assert log[start - 1] == "flush"  # the lead call, then its flush, then the start event
        assert log[start + 1] == "kernel" and log[start + 2] == "record"


def test_conditions_release_the_buffer_even_when_timing_fails() -> None:
    backend = FakeCudaBackend()
    released: list[bool] = []

    def make_flush(device: str):
        flush = cache_flush(device, backend, lambda n: FakeBuffer(backend, n, 0.0))
        return type(flush)(
            flush.device,
            flush.cache_bytes,
            flush.buffer_bytes,
            flush.flush,
            lambda: released.append(True),
        )

    with pytest.raises(RuntimeError), timing_conditions("cpu", "cold", None, make_flush=make_flush):
        raise RuntimeError("the model failed mid-timing")
    assert released == [True]
    with timing_conditions("cpu", "warm", None, make_flush=make_flush) as warm:
        assert warm.setup is None and warm.notes == ()


def _suite(tmp_path: Path, header: str, model: str = "") -> Path:
    path = tmp_path / "suite.toml"
    path.write_text(
        f'[suite]\nname = "s"\n{header}\n\n[[models]]\nname = "m"\n'
        f'factory = "torch.nn:Identity"\ninput_shape = [4]\n{model}\n'
    )
    return path


def test_suite_cache_key_one_name_or_a_list(tmp_path: Path) -> None:
    cold = expand(load_suite(_suite(tmp_path, 'cache = "cold"')))
    assert [c.cache for c in cold] == ["cold"]
    both = expand(load_suite(_suite(tmp_path, "", 'cache = ["warm", "cold"]')))
    assert [c.cache for c in both] == ["warm", "cold"]
    assert both[0].key != both[1].key
    assert "cache=cold" in both[1].label and "cache" not in both[0].label


@pytest.mark.parametrize("value", ['"lukewarm"', "[]", "3", '["cold", "cold"]'])
def test_suite_cache_key_refuses_what_it_cannot_do(tmp_path: Path, value: str) -> None:
    with pytest.raises(SuiteError) as caught:
        load_suite(_suite(tmp_path, f"cache = {value}"))
    assert "cache" in str(caught.value)


def test_command_line_cache_overrides_the_suite(tmp_path: Path) -> None:
    suite = load_suite(_suite(tmp_path, "", 'cache = ["warm", "cold"]'))
    assert [c.cache for c in expand(with_variant_overrides(suite, "cold", False))] == ["cold"]
    assert with_variant_overrides(suite, None, False) is suite


def test_row_records_the_cache_and_the_key_reads_it_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bench.measure.case import RunOptions, measure_case
    from bench.records.stages import Result

    monkeypatch.setattr("bench.measure.timing.flush.CPU_CACHE_ROOT", tmp_path / "no-sysfs")
    monkeypatch.setattr("bench.measure.timing.flush.FALLBACK_CACHE_BYTES", 2**20)
    (case,) = expand(load_suite(_suite(tmp_path, 'cache = "cold"')))
    result: Result = measure_case(case, RunOptions(metrics=frozenset({"latency"}), timing=POLICY))
    assert result.status == "ok", result.error
    row = result.row()
    assert "cache" in COLUMNS and row["cache"] == "cold"
    assert any(note.startswith("cache cold:") for note in result.notes)
    text_row = {k: "" if v is None else str(v) for k, v in row.items()}
    assert key_of_entry(text_row)[0] == case.key


def test_bench_ab_flushes_a_cold_case_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import contextlib

    from bench.ab.session import _build

    monkeypatch.setattr("bench.measure.timing.flush.CPU_CACHE_ROOT", tmp_path / "no-sysfs")
    monkeypatch.setattr("bench.measure.timing.flush.FALLBACK_CACHE_BYTES", 2**20)
    flushed: list[int] = []
    real_flush = cache_flush

    def counting_flush(device: str):
        flush = real_flush(device)
        return type(flush)(
            flush.device,
            flush.cache_bytes,
            flush.buffer_bytes,
            lambda: flushed.append(1),
            flush.release,
        )

    monkeypatch.setattr("bench.ab.session.cache_flush", counting_flush)
    (case,) = expand(load_suite(_suite(tmp_path, 'cache = "cold"')))
    with contextlib.ExitStack() as contexts:
        prepared, live = _build(case, contexts, block_time_s=0.01, warmup_budget_s=0.05)
        assert live.setup is not None and prepared.calls == 1
        before = len(flushed)
        live.setup()
        assert len(flushed) == before + 1


def test_a_cold_cuda_case_gets_the_warm_device_the_monitor_and_the_flush() -> None:
    from bench.measure.timing.device_clocks import DeviceWarmup

    backend = FakeCudaBackend()
    setup_calls: list[str] = []
    with timing_conditions(
        "cuda:0",
        "cold",
        lambda: setup_calls.append("zero_grad"),
        warm_device=lambda device: DeviceWarmup(10, 0.1, 1.0, 1.0, True),
        open_monitor=lambda device: (None, "no NVML here"),
        make_flush=lambda device: cache_flush(
            device, backend, lambda n: FakeBuffer(backend, n, 0.0)
        ),
    ) as conditions:
        assert conditions.setup is not None
        conditions.setup()
        assert setup_calls == ["zero_grad"] and backend.log[-1][0] == "flush"
        notes = conditions.notes
        assert len(notes) == 2
        assert notes[0].startswith("clocks not watched (no NVML here)")
        assert notes[1].startswith("cache cold:")
    assert backend.log[-1] == ("empty_cache",)
