"""Process-wide settings a model can change, read after each case and restored before the next.

torch keeps thread counts, the default dtype, float32 matmul precision, grad mode and the cuDNN /
TF32 flags in process-global state, and `os.chdir` changes the process's directory. A model
that changes any of them (`torch.set_num_threads(1)` in a constructor is common) would silently
change every later case and the paths the run writes to. So each case starts from the run's
values: the row records what was in effect when the case ended, a note says what the model
changed, and the run's values come back before the next case.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

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
    )


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
