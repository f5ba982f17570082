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
