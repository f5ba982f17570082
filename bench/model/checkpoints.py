"""Load a checkpoint's weights into the model a factory built.

`torch.load(weights_only=True)` is the default because unpickling an arbitrary object runs code
from the file; a pickled whole `nn.Module` is therefore refused unless the suite entry says
`trust_checkpoint = true`. Accepted layouts: a plain state_dict, a `{"state_dict": ...}` or
`{"model_state_dict": ...}` wrapper, and keys prefixed `module.` (saved from DataParallel / DDP).

Missing keys are an error, not a note: the model would run with random weights in those tensors,
and a user benchmarking a checkpoint is measuring something other than what they asked for (the
timing may even differ, e.g. denormals). Unexpected keys (e.g. an optimizer's extra buffers or a
head the factory did not build) leave every model tensor loaded, so they become a warning in the
row's notes.
"""

from __future__ import annotations

import pickle
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

WRAPPER_KEYS = ("state_dict", "model_state_dict")
MAX_KEYS_SHOWN = 5


class CheckpointError(Exception):
    """A checkpoint that cannot be loaded into the case's model; the case's row says why."""


def load_checkpoint(model: nn.Module, path: Path, trust: bool) -> None:
    """Load `path` into `model` in place, or raise CheckpointError with a one-line reason."""
    state = _read(path, trust)
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys:
        raise CheckpointError(
            f"checkpoint {path.name} lacks {len(result.missing_keys)} of the model's "
            f"{len(model.state_dict())} tensors ({_some(result.missing_keys)}); those weights "
            "would stay random, so the case is not measured"
        )
    if result.unexpected_keys:
        warnings.warn(
            f"checkpoint {path.name} has {len(result.unexpected_keys)} key(s) the model does not "
            f"use, ignored: {_some(result.unexpected_keys)}",
            UserWarning,
            stacklevel=2,
        )


# torch.save writes a zip archive; files from torch < 1.6 (and pickle.dump) start with a pickle
# protocol marker. Anything else (text, an empty file, safetensors) is not a torch checkpoint.
_HEADERS = (b"PK\x03\x04", b"\x80")


def _read(path: Path, trust: bool) -> Mapping[str, Any]:
    try:
        with path.open("rb") as handle:
            head = handle.read(4)
    except OSError as exc:
        raise CheckpointError(f"checkpoint {path.name} cannot be read ({exc.strerror})") from None
    if not head:
        raise CheckpointError(f"checkpoint {path.name} is empty (0 bytes)")
    if not head.startswith(_HEADERS):
        raise CheckpointError(
            f"checkpoint {path.name} is not a file written by torch.save (it starts with "
            f"{head!r}, not a zip or pickle header)"
        )
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=not trust)
    except pickle.UnpicklingError as exc:
        if trust or "Unsupported global" not in str(exc):
            reason = " ".join(str(exc).split())[:200]
            raise CheckpointError(f"checkpoint {path.name} cannot be unpickled: {reason}") from None
        raise CheckpointError(
            f"checkpoint {path.name} holds pickled objects (e.g. a whole nn.Module), which "
            "weights_only loading refuses; save model.state_dict() instead, or set "
            "trust_checkpoint = true if you trust the file (unpickling runs code from it)"
        ) from None
    except Exception as exc:  # a damaged file fails in many ways; each is this case's row
        reason = " ".join(str(exc).split())[:200] or "no reason given"
        raise CheckpointError(
            f"checkpoint {path.name} cannot be read ({type(exc).__name__}: {reason})"
        ) from None
    if isinstance(loaded, nn.Module):
        loaded = loaded.state_dict()
    return _unwrap(loaded, path)


def _unwrap(loaded: Any, path: Path) -> dict[str, Any]:
    if isinstance(loaded, Mapping):
        for key in WRAPPER_KEYS:
            if isinstance(loaded.get(key), Mapping):
                loaded = loaded[key]
                break
    if not isinstance(loaded, Mapping) or not all(isinstance(k, str) for k in loaded):
        raise CheckpointError(
            f"checkpoint {path.name} holds a {type(loaded).__name__}, not a state_dict; "
            f"allowed: a state_dict, or a dict with one under {' or '.join(WRAPPER_KEYS)}"
        )
    tensors = {k: v for k, v in loaded.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise CheckpointError(f"checkpoint {path.name} holds no tensors")
    if all(k.startswith("module.") for k in tensors):
        tensors = {k.removeprefix("module."): v for k, v in tensors.items()}
    return tensors


def _some(keys: list[str]) -> str:
    shown = ", ".join(keys[:MAX_KEYS_SHOWN])
    return (
        shown if len(keys) <= MAX_KEYS_SHOWN else f"{shown}, ... {len(keys) - MAX_KEYS_SHOWN} more"
    )
