"""The Python API: `bench.measure` on a model in hand, `bench.run_suite`, and runs and
comparisons as typed pandas DataFrames."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from torch import nn

import bench
import bench.measure.case  # binds bench.measure to the package: it must still be callable

REFERENCE = Path(__file__).resolve().parent.parent / "results" / "example-default"
QUICK = {"budget": 0.2}


def test_measure_counts_times_and_remembers_a_linear_layer_exactly() -> None:
    torch.manual_seed(0)
    model = nn.Linear(10, 5)
    result = bench.measure(model, torch.randn(4, 10), **QUICK)
    assert (result.status, result.params, result.macs) == ("ok", 55, 4 * 10 * 5)
    assert result.case.input_shape_text == "4x10" and result.case.batch_size == 4
    assert result.latency is not None and result.latency.blocks >= 10
    assert result.peak_memory_bytes is not None and result.peak_memory_bytes > 0
    text = repr(result)
    assert text.startswith("Result(Linear cpu float32 b4: ok; params 55; MACs 200; latency")
    frame = result.to_frame()
    assert len(frame) == 1 and frame.loc[0, "params"] == 55
    assert str(frame["params"].dtype) == "Int64" and str(frame["noisy"].dtype) == "boolean"
    assert str(frame["latency_median_ms"].dtype) == "Float64"


class TokensAndMask(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(100, 8)
        self.proj = nn.Linear(8, 2)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        seen = []  # the given values reach the model: ids stay the user's, not redrawn
        seen.append(int(ids.max()))
        assert seen[0] == 99
        hidden = self.embed(ids)
        if mask is not None:
            hidden = hidden * mask.unsqueeze(-1)
        return self.proj(hidden)


def test_measure_takes_keyword_and_integer_inputs_as_given() -> None:
    ids = torch.full((2, 6), 99, dtype=torch.int64)
    mask = torch.ones(2, 6)
    result = bench.measure(TokensAndMask(), {"ids": ids, "mask": mask}, metrics=["params"])
    assert result.status == "ok", result.error
    assert result.params == 100 * 8 + 8 * 2 + 2
    assert result.case.input_shape_text == "2x6,2x6"


def test_a_failing_model_is_a_row_and_bad_arguments_raise() -> None:
    class Broken(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("boom")

    failed = bench.measure(Broken(), torch.randn(1, 3), **QUICK)
    assert failed.status == "error" and "boom" in failed.error
    with pytest.raises(ValueError, match="dtype"):
        bench.measure(nn.Linear(2, 2), torch.randn(1, 2), dtype="float8")
    with pytest.raises(ValueError, match="batch"):
        bench.measure(nn.Linear(2, 2), (torch.randn(1, 2), torch.randn(3, 2)))
    with pytest.raises(ValueError, match="inputs must be"):
        bench.measure(nn.Linear(2, 2), "x")
    with pytest.raises(ValueError, match="metrics"):
        bench.measure(nn.Linear(2, 2), torch.randn(1, 2), metrics=["speed"])
    with pytest.raises(ValueError, match="cache"):
        bench.measure(nn.Linear(2, 2), torch.randn(1, 2), cache="lukewarm")


def test_measure_times_a_cold_cache_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bench.measure.timing.flush.FALLBACK_CACHE_BYTES", 2**20)
    monkeypatch.setattr("bench.measure.timing.flush.CPU_CACHE_ROOT", Path("/nonexistent"))
    result = bench.measure(nn.Linear(8, 8), torch.randn(2, 8), cache="cold", **QUICK)
    assert result.status == "ok", result.error
    assert result.row()["cache"] == "cold" and result.case.cache == "cold"
    assert any(note.startswith("cache cold:") for note in result.notes)


def test_load_gives_the_run_as_a_typed_frame() -> None:
    frame = bench.load(REFERENCE)
    assert isinstance(frame, pd.DataFrame)
    assert len(frame) == 19 and list(frame.columns)[:3] == ["suite", "model", "device"]
    dtypes = frame.dtypes.astype(str).to_dict()
    assert dtypes["params"] == "Int64" and dtypes["macs"] == "Int64"
    assert dtypes["latency_median_ms"] == "Float64" and dtypes["noisy"] == "boolean"
    assert dtypes["model"] == "string" and dtypes["status"] == "string"
    resnet = frame[(frame.model == "resnet18") & (frame.batch_size == 1)]
    assert set(resnet.params) == {11_689_512} and set(resnet.macs) == {1_814_073_344}


def test_compare_gives_one_row_per_matched_case() -> None:
    frame = bench.compare(REFERENCE, REFERENCE)
    assert len(frame) == 19 and set(frame.verdict) == {"same"}
    assert str(frame["ratio"].dtype) == "Float64"


def test_run_suite_returns_the_run_directory(write_suite, tmp_path: Path) -> None:
    suite = write_suite(
        """
        [suite]
        name = "api"
        [[models]]
        name = "mlp"
        factory = "bench.zoo:mlp_bn"
        input_shape = [1, 28, 28]
        """
    )
    run_dir = bench.run_suite(suite, tmp_path, metrics=["params", "flops"])
    assert run_dir.parent == tmp_path and (run_dir / "results.csv").is_file()
    assert bench.load(run_dir).loc[0, "status"] == "ok"


def test_import_bench_stays_free_of_torch() -> None:
    code = "import sys, bench; print('torch' in sys.modules, callable(bench.measure))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.split() == ["False", "True"], done.stderr
