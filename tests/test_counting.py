"""Counts against exact hand values and against torchvision's own weight metadata."""

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from bench import zoo
from bench.measure.counting.formulas import (
    FORMULAS,
    native_multi_head_attention,
    sdpa_backward,
    sdpa_forward,
    transformer_encoder_layer,
)
from bench.measure.counting.ops import (
    OpCount,
    count_buffers,
    count_macs,
    count_ops,
    count_params,
    model_size_bytes,
)


def forward(model: nn.Module, example: torch.Tensor) -> int:
    """MACs of one inference forward pass."""
    with torch.inference_mode():
        return count_macs(lambda: model(example))


def test_linear_params_exact() -> None:
    assert count_params(nn.Linear(10, 5)) == (55, 55)


def test_frozen_layers_are_not_trainable() -> None:
    model = nn.Sequential(nn.Linear(10, 5), nn.Linear(5, 2))
    for parameter in model[0].parameters():
        parameter.requires_grad_(False)
    assert count_params(model) == (55 + 12, 12)


def test_shared_parameters_count_once() -> None:
    layer = nn.Linear(4, 4)
    assert count_params(nn.Sequential(layer, layer)) == (20, 20)


class MatMul(nn.Module):
    def __init__(self, k: int, n: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(k, n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight


def test_matmul_macs_are_m_n_k() -> None:
    m, k, n = 7, 11, 13
    macs = forward(MatMul(k, n), torch.randn(m, k))
    assert macs == m * n * k  # FLOPs = 2 * M * N * K


def test_linear_macs_scale_with_batch() -> None:
    assert forward(nn.Linear(10, 5), torch.randn(8, 10)) == 8 * 10 * 5


# (builder, weights enum, builder kwargs of the pretrained configuration)
ORACLE = [
    ("resnet18", "ResNet18_Weights", {}),
    ("resnet50", "ResNet50_Weights", {}),
    ("mobilenet_v3_small", "MobileNet_V3_Small_Weights", {}),
    ("squeezenet1_1", "SqueezeNet1_1_Weights", {}),
    ("googlenet", "GoogLeNet_Weights", {"aux_logits": False, "init_weights": False}),
]


@pytest.mark.parametrize(("builder", "weights", "kwargs"), ORACLE, ids=[o[0] for o in ORACLE])
def test_counts_match_torchvision_metadata(builder: str, weights: str, kwargs: dict) -> None:
    meta = getattr(torchvision.models, weights).IMAGENET1K_V1.meta
    crop = getattr(torchvision.models, weights).IMAGENET1K_V1.transforms().crop_size[0]
    model = getattr(torchvision.models, builder)(weights=None, **kwargs).eval()
    total, trainable = count_params(model)
    assert total == trainable == meta["num_params"]
    macs = forward(model, torch.randn(1, 3, crop, crop))
    assert round(macs / 1e9, 3) == meta["_ops"]


def test_resnet18_is_exactly_torchvisions_figure() -> None:
    model = torchvision.models.resnet18(weights=None).eval()
    assert count_params(model) == (11_689_512, 11_689_512)
    assert round(forward(model, torch.randn(1, 3, 224, 224)) / 1e9, 3) == 1.814


def test_zoo_resnet_matches_torchvision_layout() -> None:
    for depth, builder in ((18, "resnet18"), (50, "resnet50")):
        ours = zoo.resnet(depth=depth)
        theirs = getattr(torchvision.models, builder)(weights=None)
        assert count_params(ours) == count_params(theirs)


def test_training_step_counts_forward_and_backward() -> None:
    """Backward of a linear layer is two matmuls (input and weight gradients): 3x the forward."""
    layer = nn.Linear(10, 5, bias=False)
    x = torch.randn(8, 10, requires_grad=True)
    assert count_macs(lambda: layer(x).sum().backward()) == 3 * 8 * 10 * 5


# --- attention whatever path runs, fused transformer paths, grouped conv backward ---

B, H, L, S, D = 2, 3, 5, 7, 4  # batch, heads, query length, key length, head dim


def counted_by(counted: OpCount, formula: object) -> dict[str, int]:
    """The part of `macs_by_op` that bench's own `formula` counted. Which kernel torch runs (e.g.
    the private `aten._scaled_dot_product_flash_attention_for_cpu`) is torch's choice and name;
    the names are taken from bench's formula table, as the counter keys them."""
    names = {str(op) for op, f in FORMULAS.items() if f is formula}
    return {name: macs for name, macs in counted.macs_by_op.items() if name in names}


def test_cpu_sdpa_kernel_is_counted() -> None:
    """On CPU, SDPA runs `_scaled_dot_product_flash_attention_for_cpu`, which torch leaves at 0."""
    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(B, H, n, D, generator=generator) for n in (L, S, S))
    with torch.inference_mode():
        counted = count_ops(lambda: F.scaled_dot_product_attention(q, k, v))
    # one op, counted by bench's SDPA formula
    assert counted.macs_by_op == counted_by(counted, sdpa_forward)
    assert list(counted.macs_by_op.values()) == [B * H * L * S * 2 * D]
    assert counted.macs == B * H * L * S * D * 2  # QK^T and PV


def test_cpu_sdpa_backward_is_twice_the_forward() -> None:
    """Gradients of scores, V, Q, K: four matmuls; the flash kernel's recompute is not counted,
    so the count equals the math path's."""
    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(B, H, n, D, generator=generator, requires_grad=True) for n in (L, S, S))
    counted = count_ops(lambda: F.scaled_dot_product_attention(q, k, v).sum().backward())
    forward = B * H * L * S * D * 2
    assert counted.macs == 3 * forward
    assert counted_by(counted, sdpa_backward)  # the CPU kernel's backward, by bench's formula


def _mha_macs(batch: int, length: int, embed: int) -> int:
    projections = 4 * batch * length * embed * embed  # Q, K, V and output
    return projections + 2 * batch * length * length * embed  # attention over all heads


@pytest.mark.parametrize("context", [torch.inference_mode, torch.no_grad, torch.enable_grad])
def test_multi_head_attention_counts_the_same_on_every_path(context) -> None:
    """no_grad/inference_mode take the fused `_native_multi_head_attention`; grad takes SDPA."""
    torch.manual_seed(0)
    attention = nn.MultiheadAttention(16, 4, batch_first=True).eval()
    x = torch.randn(3, 6, 16)
    with context():
        counted = count_ops(lambda: attention(x, x, x, need_weights=False))
    assert counted.macs == _mha_macs(3, 6, 16)
    fused = bool(counted_by(counted, native_multi_head_attention))
    assert fused == (context is not torch.enable_grad)


@pytest.mark.parametrize("context", [torch.inference_mode, torch.enable_grad])
def test_transformer_encoder_layer_fast_path_is_counted(context) -> None:
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(16, 4, dim_feedforward=24, batch_first=True).eval()
    x = torch.randn(3, 6, 16)
    with context():
        counted = count_ops(lambda: layer(x))
    assert counted.macs == _mha_macs(3, 6, 16) + 2 * 3 * 6 * 16 * 24
    fused = bool(counted_by(counted, transformer_encoder_layer))
    assert fused == (context is torch.inference_mode)


def test_vit_b_16_on_real_cpu_tensors_is_the_metadata_figure() -> None:
    """The fused MHA path on real tensors, not only the meta device's math path."""
    torch.manual_seed(0)
    model = torchvision.models.vit_b_16(weights=None).eval()
    counted_macs = forward(model, torch.randn(1, 3, 224, 224))
    assert round(counted_macs / 1e9, 3) == 17.564


@pytest.mark.parametrize(
    ("conv", "shape"),
    [
        (nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False), (2, 8, 5, 5)),  # depthwise
        (nn.Conv2d(8, 12, 3, stride=2, groups=4, bias=False), (2, 8, 9, 9)),  # grouped
        (nn.ConvTranspose2d(8, 4, 3, stride=2, groups=2, bias=False), (2, 8, 5, 5)),
        (nn.Conv2d(8, 6, 1, bias=False), (2, 8, 5, 5)),  # groups=1 unchanged
    ],
    ids=["depthwise", "grouped", "transposed-grouped", "dense"],
)
def test_conv_backward_costs_twice_the_forward(conv: nn.Module, shape: tuple[int, ...]) -> None:
    """Input and weight gradients each cost the forward's multiplies. torch's own formula
    multiplies the weight gradient by the full channel count, ignoring groups."""
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        forward_macs = count_macs(lambda: conv(x))
    x.requires_grad_(True)
    assert count_macs(lambda: conv(x).sum().backward()) == 3 * forward_macs


def test_depthwise_conv_forward_by_hand() -> None:
    conv = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
    assert forward(conv, torch.randn(2, 8, 5, 5)) == 2 * 8 * 5 * 5 * 3 * 3


def test_uncounted_ops_are_named_with_call_counts() -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Flatten(), nn.Linear(4, 2), nn.ReLU())
    x = torch.randn(3, 4)
    with torch.inference_mode():
        counted = count_ops(lambda: model(x))
    assert counted.uncounted_ops == {"aten.relu": 2}  # views and copies are not listed
    assert counted.macs_by_op == {"aten.addmm": 3 * 4 * 4 + 3 * 4 * 2}


def test_buffers_and_size_bytes() -> None:
    """BatchNorm1d(4): weight and bias (8 float32), running mean and var (8 float32) and
    num_batches_tracked (1 int64)."""
    norm = nn.BatchNorm1d(4)
    assert count_buffers(norm) == 9
    assert model_size_bytes(norm) == 8 * 4 + 8 * 4 + 8
    assert model_size_bytes(norm.to(torch.float64)) == 16 * 8 + 8


@pytest.mark.parametrize("kernel", ["efficient", "flash"])
def test_cuda_attention_kernels_backward_matches_the_cpu_count(kernel: str) -> None:
    """The CUDA kernels' ops run on meta tensors (shapes only), so their formulas are exercised
    here without a GPU: backward is twice the forward, as on CPU and on the math path."""
    aten = torch.ops.aten
    ops = [
        f"_scaled_dot_product_{kernel}_attention",
        f"_scaled_dot_product_{kernel}_attention_backward",
    ]
    missing = [name for name in ops if not hasattr(aten, name)]
    if missing:  # private kernels: bench's formula table leaves out what a torch build lacks too
        pytest.skip(f"this torch has no aten.{', aten.'.join(missing)}")
    q, k, v = (torch.empty(B, H, n, D, device="meta") for n in (L, S, S))
    forward_macs = B * H * L * S * D * 2

    def run() -> None:
        if kernel == "efficient":
            out, lse, seed, offset = aten._scaled_dot_product_efficient_attention(
                q, k, v, None, True
            )
            aten._scaled_dot_product_efficient_attention_backward(
                out, q, k, v, None, out, lse, seed, offset, 0.0, [True, True, True, False]
            )
        else:
            out, lse, cum_q, cum_k, max_q, max_k, seed, offset, _ = (
                aten._scaled_dot_product_flash_attention(q, k, v)
            )
            aten._scaled_dot_product_flash_attention_backward(
                out, q, k, v, out, lse, cum_q, cum_k, max_q, max_k, 0.0, False, seed, offset
            )

    assert count_macs(run) == 3 * forward_macs
