"""A case's seeded inputs, and the one way the harness calls a model with them.

Every input is drawn from one generator seeded with INPUT_SEED, on the CPU and in the suite's
order, then moved to the case's device: two runs, and a CPU and a CUDA case, see the same values.
Positional inputs are passed in order, named ones as keyword arguments; with `batch_as_list` each
input is a Python list of per-sample tensors, as torchvision's detection models take images.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from bench.errors import CaseUnsupported
from bench.model.given import given_inputs
from bench.model.variants import memory_format_problem, storage_dtype, torch_memory_format
from bench.records import Case, InputSpec

INPUT_SEED = 0


@dataclass(frozen=True)
class ModelInput:
    """The arguments of one forward call: `model(*args, **kwargs)`.

    An argument is a tensor or, with `batch_as_list`, a list of tensors.
    """

    args: tuple[Any, ...]
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, value: ModelInput | torch.Tensor) -> ModelInput:
        """A single tensor is the common case; callers may pass one instead of a ModelInput."""
        return value if isinstance(value, ModelInput) else cls((value,))

    def __call__(self, model: Any) -> Any:
        return model(*self.args, **self.kwargs)

    def tensors(self) -> list[torch.Tensor]:
        """Every input tensor, flattened (for memory accounting and device checks)."""
        return list(_tensors((*self.args, *self.kwargs.values())))

    @property
    def device(self) -> torch.device:
        return self.tensors()[0].device


def _tensors(values: Any) -> Iterator[torch.Tensor]:
    """The tensors in nested lists and tuples; other values (a flag, a scale) are skipped."""
    for value in values:
        if isinstance(value, torch.Tensor):
            yield value
        elif isinstance(value, list | tuple):
            yield from _tensors(value)


def input_problem(case: Case) -> str | None:
    """Why the case's memory format cannot apply to its inputs, or None. A format applies to
    every floating input of its rank; it needs at least one."""
    if case.memory_format == "contiguous":
        return None
    floats = [
        shape
        for spec, shape in zip(case.model.input_specs, case.input_shapes, strict=True)
        if spec.is_float
    ]
    if case.model.batch_as_list:
        return f"memory_format {case.memory_format} cannot apply to inputs passed as lists"
    if not floats:
        return f"memory_format {case.memory_format} applies to floating inputs; this case has none"
    problems = [memory_format_problem(case.memory_format, shape) for shape in floats]
    return None if any(p is None for p in problems) else problems[0]


def make_input(
    case: Case, device: str | torch.device | None = None, seed: int = INPUT_SEED
) -> ModelInput:
    """The case's seeded inputs, on `device` (default: the case's). On `meta` nothing is drawn:
    the tensors only carry shapes and dtypes. Another `seed` draws other values of the same
    shapes (the FLOP count's check that a data-dependent total is fixed)."""
    target = torch.device(device if device is not None else case.device)
    given = given_inputs(case.model.factory, case.model.kwargs)
    if given is not None:  # handed over in Python (bench.measure): measured as they are
        return _moved(given, target, storage_dtype(case.dtype))
    problem = input_problem(case)
    if problem is not None:
        raise CaseUnsupported(problem)
    generator = torch.Generator().manual_seed(seed)
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for spec, shape in zip(case.model.input_specs, case.input_shapes, strict=True):
        tensor = _draw(spec, shape, case, target, generator)
        value: Any = list(tensor.unbind(0)) if case.model.batch_as_list else tensor
        if spec.name:
            kwargs[spec.name] = value
        else:
            args.append(value)
    return ModelInput(tuple(args), kwargs)


def _moved(given: ModelInput, target: torch.device, floating: torch.dtype) -> ModelInput:
    """The given inputs on the case's device, floating ones in its storage dtype as a suite's
    drawn inputs are (a bfloat16 case fed float32 tensors fails in its first matmul); integer
    inputs (token ids, masks) keep theirs. `.to` keeps each tensor's layout (channels_last)."""

    def move(value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            dtype = floating if value.is_floating_point() else value.dtype
            return value.to(device=target, dtype=dtype)  # the tensor itself when nothing changes
        if isinstance(value, list | tuple):
            return type(value)(move(v) for v in value)
        return value

    return ModelInput(
        tuple(move(a) for a in given.args), {k: move(v) for k, v in given.kwargs.items()}
    )


def input_dtype(spec: InputSpec, case_dtype: str) -> torch.dtype:
    """The declared dtype, or for a floating input without one the case's storage dtype."""
    if spec.dtype is None:
        return storage_dtype(case_dtype)
    return getattr(torch, spec.dtype)


def _draw(
    spec: InputSpec,
    shape: tuple[int, ...],
    case: Case,
    device: torch.device,
    generator: torch.Generator,
) -> torch.Tensor:
    dtype = input_dtype(spec, case.dtype)
    if device.type == "meta":
        tensor = torch.empty(shape, dtype=dtype, device=device)
    elif dtype == torch.bool:
        tensor = torch.randint(0, 2, shape, generator=generator).bool()
    elif not spec.is_float:
        low = int(spec.low) if spec.low is not None else 0
        assert spec.high is not None  # the suite loader requires it for integer inputs
        tensor = torch.randint(low, int(spec.high), shape, generator=generator, dtype=torch.int64)
    elif spec.low is not None and spec.high is not None:
        tensor = torch.rand(shape, generator=generator) * (spec.high - spec.low) + spec.low
    else:
        tensor = torch.randn(shape, generator=generator, dtype=torch.float32)
    tensor = tensor.to(device=device, dtype=dtype)
    formatted = case.memory_format != "contiguous" and spec.is_float
    if formatted and memory_format_problem(case.memory_format, shape) is None:
        tensor = tensor.contiguous(memory_format=torch_memory_format(case.memory_format))
    return tensor
