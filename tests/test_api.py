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


def test_measure_casts_floating_inputs_to_the_dtype_and_hands_the_model_back_unchanged() -> None:
    torch.manual_seed(0)
    model = nn.Linear(8, 4)
    weight = model.weight.detach().clone()
    result = bench.measure(model, torch.randn(2, 8), dtype="bfloat16", **QUICK)
    assert result.status == "ok", result.error  # float32 inputs into bf16 weights failed
    assert result.case.dtype == "bfloat16" and result.macs == 2 * 8 * 4
    assert model.weight.dtype == torch.float32 and torch.equal(model.weight, weight)


def test_measure_defaults_to_the_models_own_dtype() -> None:
    model = nn.Sequential(nn.Embedding(50, 8), nn.Linear(8, 2)).bfloat16()
    result = bench.measure(model, torch.randint(0, 50, (2, 5)), metrics=["params", "flops"])
    assert result.status == "ok", result.error
    assert result.case.dtype == "bfloat16" and result.case.device == "cpu"
    assert model[1].weight.dtype == torch.bfloat16  # it was silently cast to float32


def test_a_training_measurement_leaves_weights_buffers_grads_and_rng_as_they_were() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8), nn.Dropout(0.5))
    model[1].eval()  # a per-module flag the measurement must not flatten
    state = {k: v.clone() for k, v in model.state_dict().items()}
    inputs = torch.randn(4, 8)
    rng = torch.get_rng_state()
    result = bench.measure(model, inputs, mode="train", **QUICK)
    assert result.status == "ok", result.error
    assert result.latency is not None and result.latency.blocks > 0  # steps did run
    after = model.state_dict()
    assert all(torch.equal(state[k], after[k]) for k in state)  # num_batches_tracked too
    assert all(p.grad is None for p in model.parameters())
    assert [m.training for m in model] == [True, False, True]
    assert torch.equal(rng, torch.get_rng_state())


def test_a_measured_model_is_not_kept_alive() -> None:
    import gc
    import weakref

    def measure_one() -> weakref.ref[nn.Module]:
        model = nn.Sequential(nn.Linear(8, 8))
        result = bench.measure(model, torch.randn(2, 8), metrics=["params", "flops"])
        assert result.counting is not None and result.counting.layers  # torchinfo's table ran
        return weakref.ref(model)

    held = measure_one()
    gc.collect()
    assert held() is None  # torchinfo's module-level cache held it by its class name


def test_measure_refuses_settings_a_suite_would_refuse_before_running() -> None:
    import signal

    handlers = signal.getsignal(signal.SIGALRM), signal.getsignal(signal.SIGINT)
    bad_settings = [
        {"timeout": -3}, {"timeout": 0}, {"budget": -1}, {"budget": float("nan")},
        {"precision": -0.5}, {"precision": 2}, {"threads": 0}, {"compile": "fast"},
    ]  # fmt: skip
    for bad in bad_settings:
        name = next(iter(bad))
        with pytest.raises(ValueError, match=name):
            bench.measure(nn.Linear(2, 2), torch.randn(3, 2), **bad)
    from bench.measure.watchdog import case_guard

    with pytest.raises(ValueError, match="timeout"), case_guard(-3.0):
        pass  # the guard itself refuses before arming anything
    assert (signal.getsignal(signal.SIGALRM), signal.getsignal(signal.SIGINT)) == handlers


def test_measure_labels_what_it_was_given() -> None:
    conv = nn.Conv2d(3, 8, 3).to(memory_format=torch.channels_last)
    image = torch.randn(2, 3, 16, 16).to(memory_format=torch.channels_last)
    result = bench.measure(conv, image, metrics="params")  # one metric, as a plain string
    assert result.status == "ok" and result.case.memory_format == "channels_last"
    assert result.params == 3 * 8 * 9 + 8
    assert not any("meta device" in note for note in result.notes)  # nothing to build on meta


def test_a_keyword_input_may_share_a_name_with_torchinfos_arguments() -> None:
    class Named(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.proj(x)

    result = bench.measure(Named(), {"x": torch.randn(2, 4)}, metrics=["params", "flops"])
    assert result.status == "ok" and result.macs == 2 * 4 * 4
    assert result.counting is not None and result.counting.layers
    assert not any("torchinfo" in note for note in result.notes)


def test_frames_type_each_column_by_its_declared_kind_whatever_the_rows_hold() -> None:
    from bench.records import COLUMNS
    from bench.records.frames import frame_of

    frame = frame_of([{"params": 178, "noisy": True}, {"params": None, "error": ""}], COLUMNS)
    dtypes = frame.dtypes.astype(str)
    assert dtypes["params"] == "Int64" and list(frame.params.astype(object)) == [178, pd.NA]
    assert dtypes["latency_median_ms"] == "Float64" and dtypes["noisy"] == "boolean"
    assert dtypes["error"] == "string" and frame.error.isna().all()
    fraction = frame_of([{"params": 1.5}], ["params"])  # never fails to load a record
    assert str(fraction.params.dtype) == "Float64" and fraction.params[0] == 1.5
    counts_only = bench.measure(nn.Linear(2, 2), torch.randn(1, 2), metrics=["params"])
    both = pd.concat([counts_only.to_frame(), bench.load(REFERENCE)])
    assert str(both["latency_median_ms"].dtype) == "Float64"  # was object: string + Float64


def test_the_frame_carries_each_rows_notes_and_a_compiled_model_says_what_it_is() -> None:
    compiled = torch.compile(nn.Linear(2, 2))  # compiled lazily: a params-only case never runs it
    result = bench.measure(compiled, torch.randn(1, 2), metrics=["params"])
    assert result.status == "ok" and result.params == 6
    assert any("compiled by the caller" in note for note in result.notes)
    frame = result.to_frame()
    assert "compiled by the caller" in frame.loc[0, "notes"]
    assert list(bench.load(REFERENCE).columns)[-1] == "notes"


def test_a_training_step_of_a_model_without_parameters_is_a_skipped_row_with_the_reason() -> None:
    class Attention(nn.Module):
        def forward(self, q: torch.Tensor) -> torch.Tensor:
            return nn.functional.scaled_dot_product_attention(q, q, q)

    result = bench.measure(Attention(), torch.randn(2, 4, 8, 16), mode="train", metrics=["flops"])
    assert result.status == "skipped" and "no trainable parameter" in result.error


def test_measure_shows_its_own_signature_to_a_notebook() -> None:
    import inspect

    parameters = inspect.signature(bench.measure).parameters
    assert list(parameters)[:2] == ["model", "inputs"]
    assert {"device", "dtype", "mode", "metrics", "budget", "compile"} <= set(parameters)


class PerImage(nn.Module):
    """A detection-style model: a list of images, each its own size."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, images: list[torch.Tensor]) -> torch.Tensor:
        return torch.stack([self.conv(image.unsqueeze(0)).mean() for image in images])


def test_a_list_of_images_is_a_batch_of_its_length_and_constants_pass_as_given() -> None:
    images = [torch.rand(3, 8, 8), torch.rand(3, 6, 10), torch.rand(3, 4, 4)]
    result = bench.measure(PerImage(), (images,), metrics=["params", "flops"])
    assert result.status == "ok", result.error
    assert result.case.batch_size == 3 and result.case.model.batch_as_list
    assert result.macs == 3 * 4 * (64 + 60 + 16)  # a 1x1 conv: in x out channels per pixel
    keyword = bench.measure(
        nn.Linear(4, 4), {"input": torch.randn(2, 4)}, metrics=["params"]
    )  # a keyword tensor still carries the batch
    assert keyword.case.batch_size == 2

    class Scaled(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = nn.Linear(4, 4)

        def forward(self, x: torch.Tensor, use_cache: bool = True, t: torch.Tensor | None = None):
            assert use_cache is False and t is not None and t.dim() == 0
            return self.proj(x) * t

    given = {"x": torch.randn(2, 4), "use_cache": False, "t": torch.tensor(0.5)}
    scaled = bench.measure(Scaled(), given, metrics=["params", "flops"])
    assert scaled.status == "ok", scaled.error
    assert scaled.case.batch_size == 2 and scaled.macs == 2 * 4 * 4
    with pytest.raises(ValueError, match="positional input"):
        bench.measure(Scaled(), (torch.randn(2, 4), False))

    class Positions(nn.Module):
        def forward(self, x: torch.Tensor, position_ids: torch.Tensor) -> torch.Tensor:
            return x + position_ids  # (1, L) broadcasts over the batch

    given = {"x": torch.randn(3, 5), "position_ids": torch.arange(5.0).unsqueeze(0)}
    broadcast = bench.measure(Positions(), given, metrics=["params"])
    assert broadcast.status == "ok" and broadcast.case.batch_size == 3
    with pytest.raises(ValueError, match="disagree"):  # positional: no broadcast is assumed
        bench.measure(Positions(), (torch.randn(3, 5), torch.randn(1, 5)))


def test_a_sequence_first_model_names_its_batch_dimension() -> None:
    """nn.LSTM without batch_first takes (seq, batch, features): read from the first dimension,
    a (50, 4, 16) input was batch 50, and its throughput 12.5x too high."""
    lstm, sequence = nn.LSTM(16, 32), torch.randn(50, 4, 16)
    first = bench.measure(lstm, sequence, metrics=["params", "flops"])
    named = bench.measure(lstm, sequence, metrics=["params", "flops"], batch_dim=1)
    assert (first.case.batch_size, named.case.batch_size) == (50, 4)
    assert named.macs == first.macs == 50 * 4 * 4 * 32 * (16 + 32)  # the same work, counted
    assert any("dimension 1 of each input" in note for note in named.notes)
    with pytest.raises(ValueError, match="batch_dim"):
        bench.measure(lstm, sequence, batch_dim=-1)
