"""Counting int8 (and fp16 dynamic) quantized models: their weights and their MACs.

A quantized module keeps its weight and bias packed in a backend object (fbgemm, qnnpack), not
as `nn.Parameter`s, so `model.parameters()` sees none of them and a quantized ResNet-18 would read
0 parameters. Its convolutions and matmuls run as `quantized::` ops that FlopCounterMode has no
formula for, so it would read 0 MACs too. Here:

- `packed_weights` unpacks every packed module once (`_weight_bias()`, the modules' own unpack
  method) and returns the tensors, so params count them and the row can name their dtype;
- `QUANTIZED_FORMULAS` gives `quantized::conv*`, `quantized::linear*` (static, dynamic, fp16,
  fused ReLU) and the dynamic LSTM/GRU the multiplies of their float counterparts, which is what
  torchvision's `_ops` states for its quantized models (the same figure as the float model);
- `incomplete_quantized_ops` names the quantized ops with multiplies that ran without a formula:
  a count that misses them is not given as a number (an empty cell and a note, never a 0).

A MAC of an int8 kernel is a multiply-accumulate of int8 operands (into int32): the same count as
in float, at a different cost per MAC. The `weight_dtypes` column says which dtype the weights
are stored in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from math import prod
from typing import Any

import torch
from torch import nn

Shape = Sequence[int]

# quantized ops with multiplies that a count must not silently leave out (elementwise ones,
# such as quantized::add or quantize_per_tensor, are left out as for float models)
_MULTIPLYING = ("conv", "linear", "lstm", "gru", "rnn", "matmul", "bmm", "mm")


def _weight_bias_tensors(module: nn.Module) -> list[torch.Tensor]:
    """The packed module's weight and bias tensors (None entries dropped)."""
    # quantized Embedding / EmbeddingBag have no `_weight_bias`: they keep only a weight
    unpack = module._weight_bias if hasattr(type(module), "_weight_bias") else module.weight
    found = unpack()  # type: ignore[operator]
    return [t for t in _flatten(found) if isinstance(t, torch.Tensor)]


def _flatten(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _flatten(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _flatten(item)
    else:
        yield value


def _is_packed(module: nn.Module) -> bool:
    """A module holding packed weights: it unpacks them with `_weight_bias()` (quantized conv,
    linear, dynamic linear/LSTM/GRU) or is a quantized embedding (its `weight` is a method)."""
    if hasattr(type(module), "_weight_bias"):
        return True
    return "quantized" in type(module).__module__ and callable(getattr(module, "weight", None))


def packed_weights(model: nn.Module) -> list[torch.Tensor]:
    """Every tensor held in a packed (quantized) module, each module unpacked once.

    The outermost packed module is unpacked and not its children: a quantized Linear holds a
    LinearPackedParams that unpacks the same weight again.
    """
    return [tensor for _, tensors in _packed_modules(model) for tensor in tensors]


def _packed_modules(model: nn.Module) -> Iterator[tuple[nn.Module, list[torch.Tensor]]]:
    """Each outermost packed module with its unpacked weight (first) and bias tensors."""
    if _is_packed(model):
        yield model, _weight_bias_tensors(model)
        return
    for child in model.children():
        yield from _packed_modules(child)


def weight_dtypes(model: nn.Module, packed: Sequence[torch.Tensor]) -> str:
    """The weights' storage dtypes, the dtype holding most elements first: `qint8`,
    `float32`, `float16` (a float16 dynamic quantization), or `qint8+float32` for a partly
    quantized model. A packed weight counts in the dtype its module stores it in: float16
    packed weights unpack as float32 tensors, and were reported as float32."""
    elements: Counter[str] = Counter()
    for tensor in model.parameters():
        elements[str(tensor.dtype).removeprefix("torch.")] += tensor.numel()
    for module, tensors in _packed_modules(model):
        stored = getattr(getattr(module, "_packed_params", None), "dtype", None)
        for index, tensor in enumerate(tensors):
            dtype = tensor.dtype
            if index == 0 and isinstance(stored, torch.dtype) and tensor.is_floating_point():
                dtype = stored  # the weight; a bias stays in the dtype it unpacks to
            elements[str(dtype).removeprefix("torch.")] += tensor.numel()
    return "+".join(name for name, _ in elements.most_common())


def incomplete_quantized_ops(uncounted: dict[str, int]) -> list[str]:
    """The quantized ops with multiplies that ran without a formula."""
    return [
        op
        for op in uncounted
        if (op.startswith("quantized.") or op.startswith("aten.quantized_"))
        and any(word in op.split(".", 1)[1] for word in _MULTIPLYING)
    ]


def quantized_convolution(
    x: Shape, packed: Any, *args: Any, out_shape: Shape, **kwargs: Any
) -> int:
    """`quantized::conv{1,2,3}d[_relu]`, `conv_transpose*`, `conv2d_add[_relu]`: the float
    convolution's multiplies, with the weight's shape read from the packed object."""
    weight = packed.weight() if packed._has_method("weight") else packed.unpack()[0]
    transposed = bool(packed.transpose())
    positions = (x if transposed else out_shape)[2:]
    return 2 * x[0] * prod(weight.shape) * prod(positions)


def quantized_linear(x: Shape, packed: Any, *args: Any, out_shape: Shape, **kwargs: Any) -> int:
    """`quantized::linear*` (static, dynamic, fp16, fused activations): every output element
    is a dot product over the input's last dimension."""
    return 2 * prod(out_shape) * x[-1]


def _recurrent_flops(
    tokens: int, input_size: int, hidden: int, state: int, layers: int, directions: int, gates: int
) -> int:
    """Gate matmuls of a stacked (bi)directional LSTM (4 gates) or GRU (3), per token: the
    input projection and the recurrent projection, plus an LSTM's output projection when its
    state is smaller than its cell (proj_size)."""
    total = 0
    for layer in range(layers):
        width = input_size if layer == 0 else state * directions
        per_token = gates * hidden * (width + state)
        if state != hidden:
            per_token += state * hidden
        total += directions * tokens * per_token
    return 2 * total


def _recurrent(gates: int) -> Callable[..., int]:
    def formula(data: Shape, *args: Any, out_shape: Any = None, **kwargs: Any) -> int:
        # `input` overload: (input, hx, params, has_biases, num_layers, dropout, train,
        # bidirectional, batch_first); `data` overload (packed sequence): (data, batch_sizes, hx,
        # params, has_biases, num_layers, dropout, train, bidirectional). Either way the first
        # argument holds one row per token and the input features last.
        packed_sequence = len(args) > 0 and _is_shape(args[0]) and len(args[0]) == 1
        rest = args[1:] if packed_sequence else args
        hx, num_layers, bidirectional = rest[0], rest[3], rest[6]
        states = hx if isinstance(hx, (list, tuple)) and not _is_shape(hx) else [hx]
        state = states[0][-1]
        hidden = states[1][-1] if len(states) > 1 else state  # an LSTM's cell may be wider
        directions = 2 if bidirectional else 1
        tokens = prod(data[:-1])
        return _recurrent_flops(tokens, data[-1], hidden, state, num_layers, directions, gates)

    return formula


def _is_shape(value: Any) -> bool:
    return isinstance(value, torch.Size)


def _ops(namespace: Any, names: Sequence[str]) -> list[Any]:
    found = []
    for name in names:
        try:
            found.append(getattr(namespace, name))
        except (AttributeError, RuntimeError):  # this torch build lacks the op
            continue
    return found


def _quantized_formulas() -> dict[Any, Callable[..., int]]:
    quantized = torch.ops.quantized
    convolutions = [f"conv{d}d{suffix}" for d in (1, 2, 3) for suffix in ("", "_relu")] + [
        "conv_transpose1d",
        "conv_transpose2d",
        "conv_transpose3d",
        "conv2d_add",
        "conv2d_add_relu",
    ]
    linears = [
        "linear",
        "linear_relu",
        "linear_dynamic",
        "linear_relu_dynamic",
        "linear_dynamic_fp16",
        "linear_relu_dynamic_fp16",
        "linear_dynamic_fp16_unpacked_weight",
        "linear_leaky_relu",
        "linear_tanh",
    ]
    formulas: dict[Any, Callable[..., int]] = {}
    formulas.update(dict.fromkeys(_ops(quantized, convolutions), quantized_convolution))
    formulas.update(dict.fromkeys(_ops(quantized, linears), quantized_linear))
    formulas.update(dict.fromkeys(_ops(torch.ops.aten, ["quantized_lstm"]), _recurrent(4)))
    formulas.update(dict.fromkeys(_ops(torch.ops.aten, ["quantized_gru"]), _recurrent(3)))
    return formulas


QUANTIZED_FORMULAS: dict[Any, Callable[..., int]] = _quantized_formulas()
"""Formulas for the quantized kernels, keyed by op packet, for `custom_mapping`."""

# ops that unpacking a weight inside a formula dispatches (allocation and copies only)
UNPACKING_OPS: frozenset[str] = frozenset(
    {
        "aten._empty_affine_quantized",
        "aten._empty_per_channel_affine_quantized",
        "quantized.conv_unpack",
        "quantized.conv2d_unpack",
        "quantized.conv3d_unpack",
        "quantized.linear_unpack",
        "quantized.linear_unpack_fp16",
    }
)
