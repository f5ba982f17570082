"""Models built from a configuration object (Hugging Face transformers and the like).

A suite cannot write a Python object, so `from_config` takes the names of the config class and of
the model class, and the config's keyword arguments:

    factory = "bench.zoo:from_config"
    kwargs = { model = "transformers:BertModel", config = "transformers:BertConfig",
               config_kwargs = { hidden_size = 768, num_hidden_layers = 12 },
               model_kwargs = { add_pooling_layer = false } }

which builds `BertModel(BertConfig(hidden_size=768, ...), add_pooling_layer=False)` with random
weights: nothing is downloaded (no `from_pretrained`). For anything more involved, point
`factory` at a function in your own file (`factory = "my_models.py:build"`).
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from torch import nn

from bench.errors import CaseUnsupported


def _named(text: str) -> Any:
    """`pkg.module:Name` -> the object; a missing optional package is a skipped case."""
    module_name, sep, attr = text.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"{text!r} is not of the form 'pkg.module:Name'")
    top = module_name.split(".")[0]
    if importlib.util.find_spec(top) is None:
        hint = " (pip install 'bench[hf]')" if top == "transformers" else ""
        raise CaseUnsupported(f"{top} is not installed{hint}")
    target: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        target = getattr(target, part)
    return target


def from_config(
    model: str,
    config: str,
    config_kwargs: dict[str, Any] | None = None,
    model_kwargs: dict[str, Any] | None = None,
) -> nn.Module:
    """`model_class(config_class(**config_kwargs), **model_kwargs)`, with random weights."""
    config_object = _named(config)(**(config_kwargs or {}))
    built = _named(model)(config_object, **(model_kwargs or {}))
    if not isinstance(built, nn.Module):
        raise TypeError(f"{model} returned {type(built).__name__}, not a torch.nn.Module")
    return built
