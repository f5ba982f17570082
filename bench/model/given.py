"""Models and inputs handed over in Python (`bench.measure`) instead of named in a suite.

`bench run` builds every model from a factory string and draws seeded inputs from the suite's
shapes. A notebook user already holds the model and the exact inputs (token ids, a real image):
those are measured as they are. They are registered here under a key, and the case's factory is
`given_model` with that key, so the case flows through the same engine (guards, timeouts, state
restore, counting, timing, memory) as every suite case; `make_input` returns the given inputs.
"""

from __future__ import annotations

import itertools
from typing import Any

import torch
from torch import nn

FACTORY = "bench.model.given:given_model"
_MODELS: dict[str, tuple[nn.Module, Any]] = {}
_KEYS = itertools.count(1)


def register(model: nn.Module, inputs: Any) -> str:
    """Hold the model and its inputs (a ModelInput) until `release`; the key names them."""
    key = f"given-{next(_KEYS)}"
    _MODELS[key] = (model, inputs)
    return key


def release(key: str) -> None:
    _MODELS.pop(key, None)


def given_model(key: str) -> nn.Module:
    """The factory of a given case: the model itself (no new weights are drawn)."""
    return _MODELS[key][0]


def given_inputs(factory: str, kwargs: Any) -> Any | None:
    """The given inputs of a case whose factory is this registry's, else None."""
    if factory != FACTORY:
        return None
    return _MODELS[kwargs["key"]][1]


class Preserved:
    """A given model's state, put back after it is measured: `bench.measure` borrows the
    caller's model, and the case moves it (device, dtype, memory format), sets eval or train
    mode, and in train mode runs backward and optimizer steps (gradients, batch-norm running
    statistics, its batch counter) and draws random numbers (dropout). A notebook user goes on
    with the model afterwards, so every one of those is undone.

    Parameters and buffers are held by reference: `Module.to()` gives a moved or cast module
    new tensors and leaves the originals as they were, so nothing is copied (and nothing is
    cast back: float32 weights measured in bfloat16 come back bit for bit). Only what a training
    step changes in place is copied first: the buffers (running statistics), which are small.
    """

    def __init__(self, model: nn.Module, mode: str, device: str) -> None:
        self._modules = list(model.modules())
        self._training = [m.training for m in self._modules]
        self._params = [
            (module, name, param, param.data, param.grad)
            for module in self._modules
            for name, param in module._parameters.items()
            if param is not None
        ]
        self._buffers = [
            (module, name, buffer, buffer.detach().clone() if mode == "train" else None)
            for module in self._modules
            for name, buffer in module._buffers.items()
            if buffer is not None
        ]
        self._cpu_rng = torch.get_rng_state()
        on_cuda = device.startswith("cuda") or torch.cuda.is_initialized()
        self._cuda_rng = torch.cuda.get_rng_state_all() if on_cuda else None

    def restore(self) -> None:
        with torch.no_grad():
            for module, name, param, data, grad in self._params:
                module._parameters[name] = param
                param.data = data  # data first: the gradient must match its dtype and device
                param.grad = grad
            for module, name, buffer, copy in self._buffers:
                if copy is not None:
                    buffer.copy_(copy)
                module._buffers[name] = buffer
        for module, training in zip(self._modules, self._training, strict=True):
            module.training = training
        torch.set_rng_state(self._cpu_rng)
        if self._cuda_rng is not None:
            torch.cuda.set_rng_state_all(self._cuda_rng)
