"""Process-wide settings a model can change, read after each case and restored before the next.

torch keeps thread counts, the default dtype, float32 matmul precision, grad mode, the cuDNN /
TF32 flags, oneDNN, anomaly detection, deterministic algorithms, flush-denormal and autocast in
process-global (or thread) state, and `os.chdir` changes the process's directory. A model
that changes any of them (`torch.set_num_threads(1)` in a constructor is common) would silently
change every later case and the paths the run writes to. So each case starts from the run's
values: the row records what was in effect when the case ended, a note says what the model
changed, and the run's values come back before the next case.
"""

from __future__ import annotations

import os
import signal
import threading
from dataclasses import dataclass, fields
from typing import Any

import torch


@dataclass(frozen=True)
class TorchState:
    threads: int
    default_dtype: torch.dtype
    float32_matmul_precision: str
    grad_enabled: bool
    cudnn_benchmark: bool
    cudnn_deterministic: bool
    tf32_matmul: bool
    tf32_cudnn: bool
    cwd: str | None  # None: the directory was deleted under us
    # switches that change speed rather than results (a model that turned oneDNN off or anomaly
    # detection on made every later identical case 2x slower in eval, 4x in training)
    mkldnn_enabled: bool = True
    anomaly_mode: bool = False
    deterministic_algorithms: bool = False
    flush_denormal: bool = False
    autocast_cpu: bool = False
    autocast_cuda: bool = False


def capture_state() -> TorchState:
    try:
        cwd: str | None = os.getcwd()
    except OSError:
        cwd = None
    return TorchState(
        threads=torch.get_num_threads(),
        default_dtype=torch.get_default_dtype(),
        float32_matmul_precision=torch.get_float32_matmul_precision(),
        grad_enabled=torch.is_grad_enabled(),
        cudnn_benchmark=torch.backends.cudnn.benchmark,
        cudnn_deterministic=torch.backends.cudnn.deterministic,
        tf32_matmul=torch.backends.cuda.matmul.allow_tf32,
        tf32_cudnn=torch.backends.cudnn.allow_tf32,
        cwd=cwd,
        mkldnn_enabled=torch.backends.mkldnn.enabled,
        anomaly_mode=torch.is_anomaly_enabled(),
        deterministic_algorithms=torch.are_deterministic_algorithms_enabled(),
        flush_denormal=flush_denormal_enabled(),
        autocast_cpu=torch.is_autocast_enabled("cpu"),
        autocast_cuda=torch.is_autocast_enabled("cuda"),
    )


DENORMAL = 1e-40  # below float32's smallest normal number (1.2e-38)


def flush_denormal_enabled() -> bool:
    """torch has a setter for flush-denormal and no getter: a denormal that multiplies to 0 on
    this thread says it is on."""
    return bool((torch.full((1,), DENORMAL) * 1.0).item() == 0.0)


def state_changes(before: TorchState, after: TorchState) -> list[str]:
    """One phrase per setting that differs, e.g. "threads 2 -> 1"."""
    return [
        f"{f.name} {getattr(before, f.name)} -> {getattr(after, f.name)}"
        for f in fields(TorchState)
        if getattr(before, f.name) != getattr(after, f.name)
    ]


def restore_state(state: TorchState) -> None:
    """Put every setting back as `state` has it (only those that differ are touched)."""
    now = capture_state()
    if now.threads != state.threads:
        torch.set_num_threads(state.threads)
    if now.default_dtype != state.default_dtype:
        torch.set_default_dtype(state.default_dtype)
    if now.float32_matmul_precision != state.float32_matmul_precision:
        torch.set_float32_matmul_precision(state.float32_matmul_precision)
    if now.grad_enabled != state.grad_enabled:
        torch.set_grad_enabled(state.grad_enabled)
    torch.backends.cudnn.benchmark = state.cudnn_benchmark
    torch.backends.cudnn.deterministic = state.cudnn_deterministic
    torch.backends.cuda.matmul.allow_tf32 = state.tf32_matmul
    torch.backends.cudnn.allow_tf32 = state.tf32_cudnn
    if state.cwd is not None and now.cwd != state.cwd:
        os.chdir(state.cwd)
    if now.mkldnn_enabled != state.mkldnn_enabled:
        torch.backends.mkldnn.enabled = state.mkldnn_enabled
    if now.anomaly_mode != state.anomaly_mode:
        torch.autograd.set_detect_anomaly(state.anomaly_mode)
    if now.deterministic_algorithms != state.deterministic_algorithms:
        torch.use_deterministic_algorithms(state.deterministic_algorithms)
    if now.flush_denormal != state.flush_denormal:
        torch.set_flush_denormal(state.flush_denormal)
    if now.autocast_cpu != state.autocast_cpu:
        torch.set_autocast_enabled("cpu", state.autocast_cpu)
    if now.autocast_cuda != state.autocast_cuda:
        torch.set_autocast_enabled("cuda", state.autocast_cuda)


GUARDED_SIGNALS = tuple(
    getattr(signal, name)
    for name in ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT")
    if hasattr(signal, name)
)
"""Signals whose handlers a model may replace: a factory that ignored SIGTERM made a later
`kill -TERM` of the run ignored too."""


def capture_signals() -> dict[int, Any]:
    """The current handler of each guarded signal."""
    return {number: signal.getsignal(number) for number in GUARDED_SIGNALS}


def restore_signals(handlers: dict[int, Any]) -> list[str]:
    """Put back each handler that changed; one phrase per signal restored ("SIGTERM handler")."""
    if threading.current_thread() is not threading.main_thread():
        return []  # handlers can be set only from the main thread (a notebook's worker)
    changed = []
    for number, handler in handlers.items():
        if signal.getsignal(number) is not handler and handler is not None:
            signal.signal(number, handler)
            changed.append(f"{signal.Signals(number).name} handler")
    return changed
