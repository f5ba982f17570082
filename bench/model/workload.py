"""What one timed iteration does, per mode, and what must happen before it outside the timing.

`eval` is inference: one forward pass under `torch.inference_mode()`. `train` is one training
step: forward, a scalar loss, backward and an optimizer step; the gradients are cleared in
`setup`, before the timed region, as a training loop's `zero_grad` would.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from bench.errors import CaseUnsupported
from bench.model.inputs import ModelInput
from bench.model.outputs import output_leaves
from bench.records.axes import MODES

ContextFactory = Callable[[], contextlib.AbstractContextManager[Any]]
"""Makes the context one forward runs in (a fresh one per call: torch.autocast)."""


@dataclass(frozen=True)
class Workload:
    """`run` is timed; `setup` (if any) runs before each call of `run`, untimed.

    Both must be called inside `context()`, which selects inference mode or autograd.
    `held_state` names the tensors the workload keeps alive between iterations besides the
    model and its input (optimizer state, gradients), by kind, so the memory pass can count them
    as resident rather than as the step's own cost.
    """

    mode: str
    run: Callable[[], Any]
    setup: Callable[[], None] | None
    context: ContextFactory
    held_state: Callable[[], dict[str, list[torch.Tensor]]] = dict


def scalar_loss(output: Any) -> torch.Tensor:
    """The sum of the MEANS of every non-empty floating tensor in a model's output, at any
    nesting (bench.model.outputs says what is accepted; other leaves are ignored).

    Means, not sums: each output then contributes on the same scale whatever its size, so one
    large output (logits over a vocabulary, a feature map) does not swamp a small one, and the
    gradients stay the size a real per-element loss gives. Empty tensors (a detector that kept no
    box) are left out: their mean is NaN, which would poison every gradient.
    """
    parts = [
        tensor.float().mean()
        for _, tensor in output_leaves(output).tensors
        if tensor.is_floating_point() and tensor.numel() > 0
    ]
    if not parts:
        raise TypeError(
            f"cannot make a training loss from a {type(output).__name__} output: "
            "it holds no non-empty floating-point tensor"
        )
    return torch.stack(parts).sum()


def make_workload(
    model: nn.Module,
    example: ModelInput | torch.Tensor,
    mode: str,
    forward_context: ContextFactory | None = None,
) -> Workload:
    """`forward_context` wraps the forward pass only (torch.autocast for mixed precision): in a
    training step the loss's backward and the optimizer step run outside it, as with AMP.

    None (or `contextlib.nullcontext`, what `bench.model.variants.autocast` gives a precision
    without autocast) means no context at all: the timed forward is then the bare
    `model(*args)` call. Entering even a no-op context manager costs ~0.3 us per call, which a
    no-op model's figure would report as the model's time.
    """
    # bound once here, not looked up per call: the forward is what the timing loop repeats
    call = ModelInput.of(example)
    forward = _bare_forward(model, call.args, dict(call.kwargs))
    if forward_context is not None and forward_context is not contextlib.nullcontext:
        forward = _within(forward_context, forward)
    if mode == "eval":
        model.eval()
        return Workload(mode, forward, None, torch.inference_mode)
    if mode == "train":
        bare_loss = forward

        def forward_loss() -> torch.Tensor:
            return scalar_loss(bare_loss())

        return train_workload(model, forward_loss)
    raise ValueError(f"unknown mode {mode!r}; allowed: {', '.join(MODES)}")


def _bare_forward(
    model: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Callable[[], Any]:
    """`model(*args)`, with the keyword unpacking only when there are keywords."""
    if kwargs:
        return lambda: model(*args, **kwargs)
    if len(args) == 1:
        (only,) = args
        return lambda: model(only)
    return lambda: model(*args)


def _within(context: ContextFactory, forward: Callable[[], Any]) -> Callable[[], Any]:
    """`forward` under a fresh `context()` on every call, as torch.autocast must be entered."""

    def forward_in_context() -> Any:
        with context():
            return forward()

    return forward_in_context


def train_workload(model: nn.Module, forward_loss: Callable[[], torch.Tensor]) -> Workload:
    """The timed training step: `forward_loss()`, backward, an SGD step; gradients are cleared
    before each step, untimed. The one definition `bench run` and the pytest plugin both time."""
    if not any(p.requires_grad for p in model.parameters()):
        raise CaseUnsupported(
            "mode train: the model has no trainable parameter, so a training step has nothing "
            "to update (measure it in eval)"
        )
    model.train()
    # lr=0: every op of a real step runs (momentum update, parameter add), but thousands of
    # timed steps on a synthetic loss cannot drive the weights to inf/NaN, which would change
    # the arithmetic being timed (and is an error row after the measured calls)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0, momentum=0.9)

    def clear_gradients() -> None:
        optimizer.zero_grad(set_to_none=True)

    def step() -> None:
        forward_loss().backward()
        optimizer.step()

    def held_state() -> dict[str, list[torch.Tensor]]:
        return {
            "optimizer_state": [
                value
                for state in optimizer.state.values()
                for value in state.values()
                if isinstance(value, torch.Tensor)
            ],
            "gradients": [p.grad for p in model.parameters() if p.grad is not None],
        }

    return Workload("train", step, clear_gradients, torch.enable_grad, held_state)
