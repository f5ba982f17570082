"""Per-module attribution: a profiler range around every module's forward, and its FLOPs.

torch 2.15's `with_modules=True` is deprecated and records nothing in eager mode, so each module
gets a forward pre-hook that opens a `record_function` range named `module::<qualified name>` and
a forward hook that closes it. The ranges nest exactly as the calls do, so a parent's time holds
its children's, and the profiler's own event tree gives each range its CPU (and CUDA) time.
The hooks exist only while the profiler runs; timed measurements never see them.

FLOPs per module come from `FlopCounterMode`'s per-module counts (its ModuleTracker names the
root by its class and children as `Root.child.grandchild`), with bench's extra formulas.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from torch import nn
from torch.autograd.profiler import record_function
from torch.utils.flop_counter import FlopCounterMode

from bench.measure.counting.formulas import FORMULAS

RANGE_PREFIX = "module::"


def root_name(model: nn.Module) -> str:
    """The model's own row name: its class, as FlopCounterMode names it."""
    return type(model).__name__


def module_kinds(model: nn.Module) -> dict[str, str]:
    """Row name -> the module's class: a `Sequential`'s children are named `0`, `1`, ... and
    "`2`: 66% of the step" says nothing until it also says `Linear`."""
    kinds = {root_name(model): type(model).__name__}
    for name, module in model.named_modules():
        if name:
            kinds[name] = type(module).__name__
    return kinds


def module_names(model: nn.Module) -> dict[str, int]:
    """Row name -> depth, for every module (the root as its class name, depth 0)."""
    names = {root_name(model): 0}
    for name, _ in model.named_modules():
        if name:
            names[name] = name.count(".") + 1
    return names


@contextlib.contextmanager
def module_ranges(model: nn.Module) -> Iterator[None]:
    """Open a `module::NAME` profiler range around each module's forward while inside."""
    open_ranges: dict[int, list[record_function]] = {}
    handles = []

    def opener(name: str) -> Callable[..., None]:
        def pre_hook(module: nn.Module, args: Any) -> None:
            scope = record_function(RANGE_PREFIX + name)
            scope.__enter__()
            open_ranges.setdefault(id(module), []).append(scope)

        return pre_hook

    def close(module: nn.Module, args: Any, output: Any) -> None:
        stack = open_ranges.get(id(module))
        if stack:
            stack.pop().__exit__(None, None, None)

    for name, module in model.named_modules():
        handles.append(module.register_forward_pre_hook(opener(name or root_name(model))))
        handles.append(module.register_forward_hook(close, always_call=True))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def module_flops(model: nn.Module, forward: Callable[[], Any]) -> dict[str, int]:
    """Forward FLOPs per module row name (children included in their parents), from one call."""
    counter = FlopCounterMode(display=False, custom_mapping=FORMULAS)
    with counter:
        forward()
    prefix = root_name(model) + "."
    flops: dict[str, int] = {}
    for tracked, by_op in counter.get_flop_counts().items():
        if tracked == "Global":
            continue
        name = tracked.removeprefix(prefix) if tracked != root_name(model) else tracked
        flops[name] = int(sum(by_op.values()))
    return flops
