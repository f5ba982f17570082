"""FLOP formulas for the ops `FlopCounterMode`'s own registry misses or gets wrong.

Passed to `FlopCounterMode(custom_mapping=FORMULAS)`: each formula receives the op's arguments
with every tensor replaced by its shape (plus `out_shape`) and returns FLOPs (2 per
multiply-add, FlopCounterMode's unit). Bias additions and softmax are not counted, as in
torchvision's `_ops` and in FlopCounterMode's own formulas.

- CPU attention: `scaled_dot_product_attention` on CPU dispatches to
  `_scaled_dot_product_flash_attention_for_cpu` (and its backward), which torch does not count;
  `_scaled_dot_product_fused_attention_overrideable` is the out-of-tree backends' kernel.
- Fused transformer fast paths: under `no_grad`/`inference_mode`, `nn.MultiheadAttention` calls
  `_native_multi_head_attention` and `nn.TransformerEncoderLayer` calls
  `_transformer_encoder_layer_fwd`; each is one opaque op holding the projections, the attention
  and (encoder layer) the feed-forward matmuls.
- Grouped convolution backward: torch's `convolution_backward` formula multiplies the weight
  gradient by the full input channel count, ignoring `groups` (a depthwise conv's weight gradient
  is overcounted by its channel count). Every gradient of a convolution costs exactly the
  multiplies of the forward convolution, so that is what we count.
- CPU LSTM: `nn.LSTM` on CPU runs one opaque `mkldnn_rnn_layer` per layer and direction.
- Attention backward: the four gradient matmuls on every path. torch's formulas for the CUDA
  kernels also count the scores' recomputation (a fifth); the math path (and so the meta
  device) does not recompute, so without this override a count would depend on the kernel.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from math import prod
from typing import Any

import torch

aten = torch.ops.aten
Shape = Sequence[int]


def _attention_flops(query: Shape, key: Shape, value: Shape) -> int:
    """softmax(Q K^T) V: two batched matmuls. Shapes are (..., heads, length, head_dim).

    Grouped-query attention (fewer key/value heads) broadcasts key/value to the query's heads.
    """
    *batch, length_q, dim_qk = query
    length_kv, dim_v = key[-2], value[-1]
    groups = prod(batch)
    return 2 * groups * length_q * length_kv * (dim_qk + dim_v)


def _attention_backward_flops(query: Shape, key: Shape, value: Shape) -> int:
    """Gradients of scores, V, Q and K: four matmuls, twice the forward.

    Fused kernels (flash) also recompute the scores in backward; that recomputation is an
    implementation choice, not part of the gradient, and the math path does not do it. Leaving
    it out gives the same count whichever kernel runs (and on the meta device, which takes the
    math path). torch's own formula for the CUDA kernels counts it (five matmuls).
    """
    return 2 * _attention_flops(query, key, value)


def sdpa_forward(query: Shape, key: Shape, value: Shape, *args: Any, **kwargs: Any) -> int:
    return _attention_flops(query, key, value)


def sdpa_backward(
    grad_out: Shape, query: Shape, key: Shape, value: Shape, *args: Any, **kwargs: Any
) -> int:
    return _attention_backward_flops(query, key, value)


def _tokens(shape: Shape) -> tuple[int, int]:
    """(batch, length) of a (batch, length, embed) input, or an unbatched (length, embed) one."""
    return (shape[0], shape[1]) if len(shape) == 3 else (1, shape[0])


def _multi_head_attention_flops(query: Shape, key: Shape, embed_dim: int, heads: int) -> int:
    """Q, K, V projections, attention over heads, and the output projection."""
    batch, length_q = _tokens(query)
    _, length_kv = _tokens(key)
    head_dim = embed_dim // heads
    projections = 2 * embed_dim * embed_dim * (2 * batch * length_q + 2 * batch * length_kv)
    attention = _attention_flops(
        (batch, heads, length_q, head_dim),
        (batch, heads, length_kv, head_dim),
        (batch, heads, length_kv, head_dim),
    )
    return projections + attention


def native_multi_head_attention(
    query: Shape,
    key: Shape,
    value: Shape,
    embed_dim: int,
    num_head: int,
    *args: Any,
    **kwargs: Any,
) -> int:
    return _multi_head_attention_flops(query, key, embed_dim, num_head)


def transformer_encoder_layer(
    src: Shape,
    embed_dim: int,
    num_heads: int,
    *args: Any,
    **kwargs: Any,
) -> int:
    """Self-attention plus the two feed-forward matmuls (ffn_weight_1 is (hidden, embed))."""
    ffn_weight_1 = args[11] if len(args) > 11 else kwargs["ffn_weight_1"]
    batch, length = _tokens(src)
    feed_forward = 2 * 2 * batch * length * embed_dim * ffn_weight_1[0]
    return _multi_head_attention_flops(src, src, embed_dim, num_heads) + feed_forward


def _convolution_flops(x: Shape, weight: Shape, out: Shape, transposed: bool) -> int:
    """Multiplies of one convolution: every weight element meets every position of the side
    that is not upsampled (the output for a convolution, the input for a transposed one).
    The weight's shape already divides the channels by `groups`."""
    positions = (x if transposed else out)[2:]
    return 2 * x[0] * prod(weight) * prod(positions)


def convolution_backward(
    grad_out: Shape,
    x: Shape,
    weight: Shape,
    bias_sizes: Any,
    stride: Any,
    padding: Any,
    dilation: Any,
    transposed: bool,
    output_padding: Any,
    groups: int,
    output_mask: Sequence[bool],
    out_shape: Any = None,
    **kwargs: Any,
) -> int:
    """The input gradient and the weight gradient each cost the forward's multiplies."""
    forward = _convolution_flops(x, weight, grad_out, transposed)
    return forward * (int(bool(output_mask[0])) + int(bool(output_mask[1])))


def mkldnn_rnn_layer(
    x: Shape, weight_ih: Shape, weight_hh: Shape, *args: Any, **kwargs: Any
) -> int:
    """One layer and direction of a CPU LSTM (oneDNN kernel, one call per layer and direction):
    every token meets the input-to-gates and the state-to-gates weights once."""
    return 2 * prod(x[:-1]) * (prod(weight_ih) + prod(weight_hh))


# --- matmul-family ops FlopCounterMode leaves at 0 ------------------------------------------
# Found by running every contraction torch exposes (mv, addmv, dot, vdot, addbmm, baddbmm,
# bilinear, cdist at p=1 and p=2, linalg.vecdot, einsum, tensordot, inner, outer, kron,
# multi_dot, conv_tbc, _grouped_mm) under the counter and listing the ops that reached it without
# a formula (tests/test_count_formulas.py keeps that sweep). einsum, tensordot, inner and
# multi_dot decompose into counted mm/bmm; linalg.vecdot into mul and sum (elementwise, as
# outer and kron are: a product with no accumulation is no MAC).


def mv(matrix: Shape, vector: Shape, *args: Any, **kwargs: Any) -> int:
    """(m, n) @ (n,): m*n MACs. `x @ w` with a 1-D `w` (an attention-pooling head) is this."""
    return 2 * matrix[0] * matrix[1]


def addmv(bias: Shape, matrix: Shape, vector: Shape, *args: Any, **kwargs: Any) -> int:
    return mv(matrix, vector)


def dot(a: Shape, b: Shape, *args: Any, **kwargs: Any) -> int:
    return 2 * a[0]


def addbmm(bias: Shape, batch1: Shape, batch2: Shape, *args: Any, **kwargs: Any) -> int:
    """sum_b batch1[b] @ batch2[b]: (B, n, k) @ (B, k, m), B*n*k*m MACs."""
    return 2 * batch1[0] * batch1[1] * batch1[2] * batch2[2]


def trilinear(
    i1: Shape,
    i2: Shape,
    i3: Shape,
    expand1: Sequence[int],
    expand2: Sequence[int],
    expand3: Sequence[int],
    *args: Any,
    **kwargs: Any,
) -> int:
    """nn.Bilinear's kernel: three inputs unsqueezed at their `expand` dims, multiplied and summed
    over some: one MAC per element of the broadcast product (B*out*in1*in2 for nn.Bilinear)."""
    shapes = [_unsqueezed(i1, expand1), _unsqueezed(i2, expand2), _unsqueezed(i3, expand3)]
    return 2 * prod(max(sizes) for sizes in zip(*shapes, strict=True))


def _unsqueezed(shape: Shape, dims: Sequence[int]) -> list[int]:
    sizes = list(shape)
    for dim in sorted(dims):
        sizes.insert(dim, 1)
    return sizes


def pairwise_distance(x1: Shape, x2: Shape, *args: Any, **kwargs: Any) -> int:
    """cdist (`_cdist_forward`, `_euclidean_dist`): (..., P, M) against (..., R, M), one MAC per
    coordinate of every pair (a difference, then its power accumulated)."""
    *batch, rows, width = x1
    return 2 * prod(batch) * rows * x2[-2] * width


def conv_tbc(
    x: Shape, weight: Shape, bias: Shape, *args: Any, out_shape: Shape, **kwargs: Any
) -> int:
    """A time-batch-channel 1-D convolution: weight (k, C_in, C_out), out (T_out, B, C_out)."""
    return 2 * prod(out_shape) * weight[0] * weight[1]


def grouped_mm(mat_a: Shape, mat_b: Shape, *args: Any, out_shape: Shape, **kwargs: Any) -> int:
    """`_grouped_mm` (Mixture-of-Experts kernels: transformers' default expert implementation):
    one product per group. 2-D x 2-D splits K into groups, out (G, M, N): M*K*N MACs in all;
    every other layout splits M or N (or is batched): each output element sums over K."""
    if len(mat_a) == 2 and len(mat_b) == 2:
        return 2 * mat_a[0] * mat_a[1] * mat_b[-1]
    return 2 * prod(out_shape) * mat_a[-1]


def _packet(name: str) -> Any | None:
    """An aten op by name, or None where this torch build lacks it."""
    return getattr(aten, name, None)


def _formulas() -> dict[Any, Callable[..., int]]:
    wanted: dict[str, Callable[..., int]] = {
        "_scaled_dot_product_flash_attention_for_cpu": sdpa_forward,
        "_scaled_dot_product_flash_attention_for_cpu_backward": sdpa_backward,
        "_scaled_dot_product_fused_attention_overrideable": sdpa_forward,
        "_scaled_dot_product_fused_attention_overrideable_backward": sdpa_backward,
        # torch counts the CUDA kernels' backward with the recomputation (five matmuls); four,
        # as on every other path, so one model's training count does not depend on the kernel
        "_scaled_dot_product_flash_attention_backward": sdpa_backward,
        "_scaled_dot_product_efficient_attention_backward": sdpa_backward,
        "_scaled_dot_product_cudnn_attention_backward": sdpa_backward,
        "_native_multi_head_attention": native_multi_head_attention,
        "_transformer_encoder_layer_fwd": transformer_encoder_layer,
        "convolution_backward": convolution_backward,
        "mkldnn_rnn_layer": mkldnn_rnn_layer,
        "mv": mv,
        "addmv": addmv,
        "dot": dot,
        "vdot": dot,
        "addbmm": addbmm,
        "_trilinear": trilinear,
        "_cdist_forward": pairwise_distance,
        "_euclidean_dist": pairwise_distance,
        "conv_tbc": conv_tbc,
        "_grouped_mm": grouped_mm,
        "_scaled_grouped_mm": grouped_mm,
    }
    return {op: f for name, f in wanted.items() if (op := _packet(name)) is not None}


FORMULAS: dict[Any, Callable[..., int]] = _formulas()
"""Our additions and corrections, keyed by aten op packet, for `custom_mapping`."""
