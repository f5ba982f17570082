"""The matmul-family ops FlopCounterMode counts as 0, each against a hand count; and a model whose
contraction has no formula gets empty MACs with the reason, never an `ok` undercount."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch import nn

from bench.measure.case import RunOptions, measure_case
from bench.measure.counting import ops
from bench.measure.counting.ops import count_ops, multiplies_and_accumulates
from bench.records import Case, ModelSpec

torch.manual_seed(0)


def bf16(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, dtype=torch.bfloat16)


def groups(*ends: int) -> torch.Tensor:
    return torch.tensor(ends, dtype=torch.int32)


HAND_COUNTS: dict[str, tuple[Callable[[], object], int]] = {
    # (m, n) @ (n,): m*n; `x @ w` with a 1-D w is aten.mv
    "mv": (lambda: torch.randn(4, 8) @ torch.randn(8), 4 * 8),
    "addmv": (lambda: torch.addmv(torch.randn(4), torch.randn(4, 8), torch.randn(8)), 4 * 8),
    "dot": (lambda: torch.randn(8) @ torch.randn(8), 8),
    "vdot": (lambda: torch.vdot(torch.randn(8), torch.randn(8)), 8),
    # sum over b of (3, 4) @ (4, 5)
    "addbmm": (
        lambda: torch.addbmm(torch.randn(3, 5), torch.randn(2, 3, 4), torch.randn(2, 4, 5)),
        2 * 3 * 4 * 5,
    ),
    # nn.Bilinear(8, 6, 3) at batch 5: B * out * in1 * in2 (the bias add is not a MAC)
    "bilinear": (lambda: nn.Bilinear(8, 6, 3)(torch.randn(5, 8), torch.randn(5, 6)), 5 * 3 * 8 * 6),
    # every pair of 7 and 9 points in 8 dimensions, twice over the batch
    "cdist": (lambda: torch.cdist(torch.randn(2, 7, 8), torch.randn(2, 9, 8)), 2 * 7 * 9 * 8),
    "cdist_p1": (
        lambda: torch.cdist(torch.randn(2, 7, 8), torch.randn(2, 9, 8), p=1),
        2 * 7 * 9 * 8,
    ),
    # T=5, B=2, 3 -> 4 channels, kernel 3: T_out 3, each output sums 3 x 3 products
    "conv_tbc": (
        lambda: torch.conv_tbc(torch.randn(5, 2, 3), torch.randn(3, 3, 4), torch.randn(4)),
        3 * 2 * 4 * 3 * 3,
    ),
    # Mixture-of-Experts: rows of a split among 3 experts (16 -> 8 each): every row meets one
    "grouped_mm_2d_3d": (
        lambda: torch._grouped_mm(bf16(6, 16), bf16(3, 16, 8), offs=groups(2, 4, 6)),
        6 * 16 * 8,
    ),
    "grouped_mm_3d_3d": (lambda: torch._grouped_mm(bf16(4, 3, 16), bf16(4, 16, 8)), 4 * 3 * 16 * 8),
    # K split in 3 groups, out (3, 8, 8): 8 * 24 * 8 in all, not 3 times that
    "grouped_mm_2d_2d": (
        lambda: torch._grouped_mm(bf16(8, 24), bf16(8, 24).t(), offs=groups(8, 16, 24)),
        8 * 24 * 8,
    ),
    # these decompose into counted mm/bmm: the sweep keeps them honest too
    "einsum": (lambda: torch.einsum("ij,j->i", torch.randn(4, 8), torch.randn(8)), 4 * 8),
    "tensordot": (
        lambda: torch.tensordot(torch.randn(3, 4, 5), torch.randn(4, 5, 6), dims=2),
        3 * 4 * 5 * 6,
    ),
}


@pytest.mark.parametrize("name", sorted(HAND_COUNTS))
def test_each_contraction_counts_its_hand_count(name: str) -> None:
    run, macs = HAND_COUNTS[name]
    with torch.no_grad():
        counted = count_ops(run)
    assert counted.macs == macs
    assert not [op for op in counted.uncounted_ops if multiplies_and_accumulates(op)]


def test_contractions_are_told_apart_from_elementwise_ops() -> None:
    for op in (
        "aten.mv",
        "aten._grouped_mm",
        "aten._trilinear",
        "aten.cudnn_convolution",
        "aten._scaled_dot_product_flash_attention",
        "aten.mkldnn_rnn_layer",
    ):
        assert multiplies_and_accumulates(op), op
    for op in (
        "aten.add",
        "aten.relu",
        "aten.native_layer_norm",
        "aten.max_pool2d",
        "aten._convert_indices_from_coo_to_csr",
        "aten.mean",
        "aten.mul",
    ):
        assert not multiplies_and_accumulates(op), op


class AttentionPooling(nn.Module):
    """A head that scores tokens with `x @ w` (w 1-D): aten.mv, which counted as 0."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(16, 16)
        self.score = nn.Parameter(torch.randn(16))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.proj(x)
        return h @ self.score


def pooling_case() -> Case:
    spec = ModelSpec(
        name="pool",
        factory="tests.test_count_formulas:AttentionPooling",
        input_shape=(16,),
        batch_sizes=(4,),
    )
    return Case(suite="s", model=spec, device="cpu", dtype="float32", batch_size=4, base_dir=Path())


COUNTS = RunOptions(metrics=frozenset({"params", "flops"}), crosscheck=False)


def test_a_model_with_a_matrix_vector_head_counts_it() -> None:
    result = measure_case(pooling_case(), COUNTS)
    assert result.status == "ok", result.error
    assert result.macs == 4 * 16 * 16 + 4 * 16  # the projection, then the scores


def test_a_contraction_without_a_formula_empties_the_macs_and_says_why(monkeypatch) -> None:
    """Without a formula the head's MACs were a silent 0 inside an `ok` total."""
    without_mv = {op: f for op, f in ops.FORMULAS.items() if str(op) != "aten.mv"}
    monkeypatch.setattr(ops, "FORMULAS", without_mv)
    result = measure_case(pooling_case(), COUNTS)
    assert result.status == "ok" and result.macs is None
    assert result.params == 16 * 16 + 16 + 16
    assert any(
        "multiply and accumulate ran without a formula (aten.mv)" in note for note in result.notes
    )


def test_allow_partial_counts_keeps_a_flagged_total_that_names_the_missing_op(monkeypatch) -> None:
    without_mv = {op: f for op, f in ops.FORMULAS.items() if str(op) != "aten.mv"}
    monkeypatch.setattr(ops, "FORMULAS", without_mv)
    result = measure_case(pooling_case(), replace(COUNTS, allow_partial_counts=True))
    assert result.status == "ok"
    assert result.macs == 4 * 16 * 16  # the projection only: the scores' mv is left out
    assert result.counting is not None and dict(result.counting.partial_ops) == {"aten.mv": 1}
    assert result.row()["count_partial"] is True
    assert any("PARTIAL count" in note and "aten.mv" in note for note in result.notes)
    monkeypatch.undo()  # every op has its formula again: a complete count is not partial
    assert measure_case(pooling_case(), COUNTS).row()["count_partial"] is False


@pytest.mark.parametrize(
    ("shape", "layout", "dtype"),
    [
        ((2, 8, 5, 5), torch.contiguous_format, torch.float32),
        ((2, 8, 5, 5), torch.channels_last, torch.float32),
        ((2, 8, 5, 5), torch.contiguous_format, torch.float16),
        ((1, 8, 1, 1), torch.channels_last, torch.bfloat16),
        ((2, 8, 3, 4, 5), torch.channels_last_3d, torch.bfloat16),
        ((4, 8), torch.contiguous_format, torch.float32),
        ((2, 8, 7), torch.contiguous_format, torch.float64),
    ],
)
def test_meta_shortcuts_give_what_the_meta_kernels_give(
    shape: tuple[int, ...], layout: torch.memory_format, dtype: torch.dtype
) -> None:
    """Every shortcut against the op's own meta kernel: shapes, strides, dtypes, and for an
    in-place op the very input tensor."""
    stats_dtype = torch.float64 if dtype == torch.float64 else torch.float32
    for op, shortcut in ops.META_SHORTCUTS.items():
        x = torch.empty(shape, device="meta", dtype=dtype).contiguous(memory_format=layout)
        if "batch_norm" in str(op):
            stat = torch.empty(shape[1], device="meta", dtype=stats_dtype)
            expected = op(x, stat, stat, stat, stat, 0.1, 1e-5)
        else:
            expected = op(x)
        got = shortcut(x)
        pairs = zip(expected, got, strict=True) if isinstance(got, tuple) else [(expected, got)]
        for want, have in pairs:
            assert (have.shape, have.stride(), have.dtype) == (
                want.shape,
                want.stride(),
                want.dtype,
            )
            assert have.is_meta
        if str(op).endswith("_.default"):
            assert got is x and expected is x


def test_meta_shortcuts_leave_the_count_unchanged() -> None:
    """mobilenet_v3_small runs all four shortcut ops (batch norm, hardswish and hardsigmoid,
    in place and not): its count on meta equals the count on real tensors, op for op."""
    import torchvision

    from bench.measure.counting.meta import build_on_meta

    torch.manual_seed(0)
    on_meta = build_on_meta(torchvision.models.mobilenet_v3_small, {}).eval()
    on_real = torchvision.models.mobilenet_v3_small().eval()
    with torch.inference_mode():
        fast = count_ops(lambda: on_meta(torch.empty(1, 3, 64, 64, device="meta")))
        real = count_ops(lambda: on_real(torch.zeros(1, 3, 64, 64)))
    assert fast.macs == real.macs > 0
    assert fast.uncounted_ops == real.uncounted_ops
