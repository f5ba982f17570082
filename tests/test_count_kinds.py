"""Counting the models plain FLOP counters get wrong: quantized (packed int8 weights, quantized::
kernels), data-dependent (nonzero, NMS), and a counts-only run that never builds the real model
when the meta device can count it."""

from __future__ import annotations

import argparse
import functools
import importlib
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from bench.cli import build_parser
from bench.measure.case import RunOptions, measure_case
from bench.measure.counting.meta import build_on_meta
from bench.measure.counting.ops import count_ops, count_params
from bench.measure.counting.probe import count_case, count_without_running
from bench.model.factory import build_model
from bench.model.inputs import make_input
from bench.records import Case, ModelSpec
from bench.report.summary import flags
from bench.report.summary import warnings as report_warnings

COUNTS = RunOptions(metrics=frozenset({"params", "flops"}))


def case_for(factory: str, shape: tuple[int, ...], batch: int = 1, **kwargs: object) -> Case:
    spec = ModelSpec(name=factory.split(":")[-1], factory=factory, input_shape=shape,
                     batch_sizes=(batch,), kwargs=kwargs)  # fmt: skip
    return Case(suite="s", model=spec, device="cpu", dtype="float32", batch_size=batch,
                base_dir=Path())  # fmt: skip


pytestmark = pytest.mark.usefixtures("restore_quantized_engine")  # from conftest.py


# --- quantized -------------------------------------------------------------------------------


def test_int8_resnet18_is_counted_never_zero() -> None:
    """Params from the packed weights, MACs of the quantized kernels equal to the float
    model's (BN folding changes params, never the convolutions' multiplies)."""
    case = case_for("torchvision.models.quantization:resnet18", (3, 64, 64), quantize=True)
    result = measure_case(case, COUNTS)
    assert result.status == "ok", result.error
    float_model = build_on_meta(torchvision.models.quantization.resnet18, {}).eval()
    folded = sum(m.num_features for m in float_model.modules() if isinstance(m, nn.BatchNorm2d))
    with torch.inference_mode():
        float_macs = count_ops(lambda: float_model(torch.empty(1, 3, 64, 64, device="meta"))).macs
    assert result.params == 11_689_512 - folded and result.trainable_params == 0
    assert result.macs == float_macs > 0
    row = result.row()
    assert row["weight_dtypes"] == "qint8+float32"
    assert row["flops_counted_on"] == "real" and row["count_data_dependent"] is False
    assert any(n.startswith("quantized: ") for n in result.notes)
    assert result.counting is not None and result.counting.model_size_bytes > result.params


class DynamicInt8(nn.Module):
    """A dynamically quantized Linear and bidirectional two-layer LSTM (int8 weights, float
    activations), as `quantize_dynamic` makes for text models."""

    def __init__(self, quantize: bool = True) -> None:
        super().__init__()
        body = nn.Sequential(nn.Linear(8, 4), nn.LSTM(4, 6, num_layers=2, bidirectional=True))
        if quantize:
            body = torch.ao.quantization.quantize_dynamic(body, {nn.Linear, nn.LSTM})
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)[0]


def test_dynamic_int8_linear_and_lstm_count_as_their_float_model() -> None:
    x = torch.randn(5, 3, 8)
    torch.manual_seed(0)
    float_model, int8_model = DynamicInt8(quantize=False).eval(), DynamicInt8().eval()
    with torch.inference_mode():
        float_count, int8_count = (
            count_ops(lambda: float_model(x)),
            count_ops(lambda: int8_model(x)),
        )
    # 15 tokens: Linear 8->4, then per direction 4*6*(4+6) (layer 1) and 4*6*(12+6) (layer 2)
    expected = 15 * (8 * 4 + 2 * 4 * 6 * (4 + 6) + 2 * 4 * 6 * (12 + 6))
    assert float_count.macs == int8_count.macs == expected
    assert set(int8_count.macs_by_op) == {"aten.quantized_lstm", "quantized.linear_dynamic"}
    assert count_params(int8_model) == (count_params(float_model)[0], 0)


def test_float16_dynamic_quantization_reports_float16_weights() -> None:
    """float16 packed weights unpack as float32 tensors: the column said `float32`."""
    from bench.measure.counting.quantized import packed_weights, weight_dtypes

    model = torch.ao.quantization.quantize_dynamic(
        nn.Sequential(nn.Linear(8, 4)), {nn.Linear}, dtype=torch.float16
    )
    assert weight_dtypes(model, packed_weights(model)) == "float16+float32"  # weight, bias
    int8 = DynamicInt8()
    assert weight_dtypes(int8, packed_weights(int8)).startswith("qint8")


class QuantizedMatmul(nn.Module):
    """Multiplies with a quantized kernel that has no formula here."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = torch.quantize_per_tensor(x, 0.1, 0, torch.quint8)
        return torch.ops.quantized.matmul(q, q.transpose(-1, -2).contiguous(), 0.1, 0).dequantize()


def test_a_quantized_op_without_formula_leaves_an_empty_cell_not_zero() -> None:
    result = measure_case(case_for("tests.test_count_kinds:QuantizedMatmul", (4, 4)), COUNTS)
    assert result.status == "ok", result.error
    assert result.macs is None and result.row()["flops"] is None
    op = str(torch.ops.quantized.matmul)  # the op the model calls, as the counter names ops
    assert any(op in n and "left empty" in n for n in result.notes)


# --- data-dependent --------------------------------------------------------------------------


class KeepsPositiveRows(nn.Module):
    """Projects only the rows whose sum is positive: how many depends on the values."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        keep = torch.nonzero(x.sum(-1) > 0).squeeze(-1)
        return self.linear(x[keep])


class MasksRows(nn.Module):
    """The same with a boolean mask index (`x[mask]`)."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x[x.sum(-1) > 0])


@pytest.mark.parametrize(
    ("factory", "op"),
    [("KeepsPositiveRows", "aten.nonzero"), ("MasksRows", "aten.index (bool mask)")],
)
def test_data_dependent_count_is_flagged_and_repeats(factory: str, op: str) -> None:
    case = case_for(f"tests.test_count_kinds:{factory}", (6,), batch=16)
    first, second = measure_case(case, COUNTS), measure_case(case, COUNTS)
    assert first.status == "ok", first.error
    kept = int((make_input(case).args[0].sum(-1) > 0).sum())
    assert 0 < kept < 16 and first.macs == kept * 6 * 3 == second.macs  # seeded input: repeats
    assert first.row()["count_data_dependent"] is True
    assert first.counting is not None and op in first.counting.data_dependent_ops
    assert any(n.startswith("count may depend on the data: ") for n in first.notes)
    assert any("another, differently seeded input gave" in n for n in first.notes)
    assert "count may depend on data" in flags(first)
    (warning,) = [w for w in report_warnings([first]) if w.startswith("MACs may depend")]
    assert f"`{case.label}`" in warning


class TopKExperts(nn.Module):
    """A mixture of experts with top-2 routing over 4 experts, each expert run on the rows
    routed to it (found with nonzero, as transformers' eager MoE does): which rows each expert
    gets depends on the data, the total (every row through 2 experts) does not."""

    def __init__(self) -> None:
        super().__init__()
        self.router = nn.Linear(8, 4, bias=False)
        self.experts = nn.ModuleList(nn.Linear(8, 8, bias=False) for _ in range(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        chosen = self.router(x).topk(2, dim=-1).indices
        out = torch.zeros_like(x)
        for index, expert in enumerate(self.experts):
            rows = torch.nonzero((chosen == index).any(-1)).squeeze(-1)
            out = out.index_add(0, rows, expert(x[rows]))
        return out


def test_a_top_k_router_is_not_flagged_its_total_is_fixed() -> None:
    case = case_for("tests.test_count_kinds:TopKExperts", (8,), batch=16)
    result = measure_case(case, COUNTS)
    assert result.status == "ok", result.error
    assert result.macs == 16 * 8 * 4 + 16 * 2 * 8 * 8  # the router, then 2 experts per row
    assert result.counting is not None and "aten.nonzero" in result.counting.data_dependent_ops
    assert result.row()["count_data_dependent"] is False
    assert "count may depend on data" not in flags(result)
    assert any("the total looks fixed, as top-k routing keeps it" in n for n in result.notes)


def test_shape_only_model_is_not_flagged() -> None:
    result = measure_case(case_for("bench.zoo:mnist_cnn", (1, 28, 28)), COUNTS)
    assert result.row()["count_data_dependent"] is False
    assert not any(n.startswith("count may depend on the data") for n in result.notes)
    assert "count may depend on data" not in flags(result)


def small_detector() -> nn.Module:
    """The mobile 320 px Faster R-CNN with no weights to download (random, seeded by the harness),
    its transform kept at the test's 96x128 input rather than resizing it to 320x427: RPN,
    nonzero and NMS run the same, on an eleventh of the backbone's work."""
    from torchvision.models.detection import fasterrcnn_mobilenet_v3_large_320_fpn

    return fasterrcnn_mobilenet_v3_large_320_fpn(
        weights=None, weights_backbone=None, min_size=96, max_size=128
    )


def test_detection_model_count_is_flagged_and_repeats() -> None:
    case = case_for("tests.test_count_kinds:small_detector", (3, 96, 128))
    # fvcore's cross-check (a traced forward of the whole R-CNN: a third of the time) is not what
    # this checks; test_any_model_suite runs it over RetinaNet as a user's run does
    options = RunOptions(metrics=COUNTS.metrics, crosscheck=False)
    first, second = measure_case(case, options), measure_case(case, options)
    assert first.status == "ok", first.error
    assert first.macs is not None and first.macs == second.macs  # weights and input seeded
    assert first.row()["count_data_dependent"] is True
    assert first.counting is not None
    assert {"aten.nonzero", "torchvision.nms"} <= set(first.counting.data_dependent_ops)


# --- counts only: meta first, the real model only when needed --------------------------------

REAL_BUILDS: list[str] = []


def real_builds() -> list[str]:
    """REAL_BUILDS as the factory sees it: pytest imports this file under another module name
    than the factory string's `tests.test_count_kinds`, so each has its own list."""
    return importlib.import_module("tests.test_count_kinds").REAL_BUILDS


def recorded_cnn() -> nn.Module:
    """mnist_cnn, recording each build with real (not meta) parameters."""
    from bench.zoo import mnist_cnn

    model = mnist_cnn()
    if not next(model.parameters()).is_meta:
        REAL_BUILDS.append("cnn")
    return model


def test_counts_only_never_builds_the_real_model_when_meta_counts() -> None:
    real_builds().clear()
    case = case_for("tests.test_count_kinds:recorded_cnn", (1, 28, 28), batch=2)
    result = measure_case(case, COUNTS)
    assert result.status == "ok" and real_builds() == []
    assert result.counting is not None and result.counting.counted_on == "meta"
    assert result.counting.fvcore_macs is None and "--crosscheck" in result.counting.fvcore_note
    # the same numbers as counting beside a real model
    full = count_case(case, build_model(case), make_input(case), COUNTS.metrics, crosscheck=False)
    assert (result.params, result.trainable_params, result.macs) == (
        full.params,
        full.trainable_params,
        full.macs,
    )
    assert result.counting.buffers == full.details.buffers
    assert result.counting.model_size_bytes == full.details.model_size_bytes
    assert result.counting.layers == full.details.layers


def test_crosscheck_builds_the_real_model_once_for_fvcore() -> None:
    real_builds().clear()
    case = case_for("tests.test_count_kinds:recorded_cnn", (1, 28, 28), batch=2)
    result = measure_case(case, RunOptions(metrics=COUNTS.metrics, crosscheck=True))
    assert real_builds() == ["cnn"]
    assert result.counting is not None and result.counting.fvcore_macs is not None


def test_count_without_running_calls_real_only_on_fallback() -> None:
    calls: list[int] = []
    case = case_for("tests.test_count_probe:ReadsItsInput", (6,))

    @functools.cache
    def real() -> tuple[nn.Module, torch.Tensor]:
        calls.append(1)
        return build_model(case), make_input(case)

    outcome = count_without_running(case, real, COUNTS.metrics)
    assert outcome.details.counted_on == "real" and outcome.macs == 6 * 3 and calls == [1]


class AsksItsMaskUnlessFake(nn.Module):
    """As transformers' masking does: reads an all-ones mask (`bool(mask.all())`, an error on
    meta) unless the mask is a fake tensor, where it takes the tracing path."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from torch._subclasses.fake_tensor import FakeTensor

        mask = torch.ones(x.shape[0], device=x.device, dtype=torch.bool)
        if not isinstance(mask, FakeTensor) and bool(mask.all()):
            return self.linear(x)
        return self.linear(x * mask[:, None])


def test_a_forward_that_reads_a_mask_on_meta_is_counted_on_fake_tensors() -> None:
    calls: list[int] = []
    case = case_for("tests.test_count_kinds:AsksItsMaskUnlessFake", (6,), batch=2)

    def real() -> tuple[nn.Module, torch.Tensor]:
        calls.append(1)
        return build_model(case), make_input(case)

    outcome = count_without_running(case, real, COUNTS.metrics)
    assert outcome.details.counted_on == "meta" and outcome.macs == 2 * 6 * 3
    assert outcome.params == 6 * 3 + 3 and calls == []  # no real model, no fvcore pass
    assert any("Linear" in row.layer for row in outcome.details.layers)


class BrokenForward(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise ValueError("this model is broken")


def test_counts_only_model_that_cannot_run_is_an_error_row() -> None:
    result = measure_case(case_for("tests.test_count_kinds:BrokenForward", (6,)), COUNTS)
    assert result.status == "error" and result.error is not None
    assert result.error.startswith("ValueError")


@pytest.mark.parametrize(
    ("flags", "expected"), [([], None), (["--crosscheck"], True), (["--no-crosscheck"], False)]
)
def test_crosscheck_flags(flags: list[str], expected: bool | None) -> None:
    args: argparse.Namespace = build_parser().parse_args(["run", "suite.toml", *flags])
    assert args.crosscheck is expected
