"""Models that fail in the ways a run must contain. Used as `/abs/path/failing_models.py:fn`
factories, so subprocess runs and spawned --isolate workers import them by file."""

from __future__ import annotations

import ctypes
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn


class _Returns(nn.Module):
    def __init__(self, make: Any) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 4)
        self.make = make

    def forward(self, x: torch.Tensor) -> Any:
        return self.make(self.linear(x))


def nan_output() -> nn.Module:
    return _Returns(lambda y: y * float("nan"))


def inf_output() -> nn.Module:
    return _Returns(lambda y: y.masked_fill(torch.ones_like(y, dtype=torch.bool), float("inf")))


def none_output() -> nn.Module:
    return _Returns(lambda y: None)


def int_output() -> nn.Module:
    return _Returns(lambda y: 3)


def empty_output() -> nn.Module:
    return _Returns(lambda y: ())


def nested_output() -> nn.Module:
    return _Returns(lambda y: {"logits": y, "state": (y.sum(1), [y.argmax(1)])})


def exits() -> nn.Module:
    return _Returns(lambda y: sys.exit(3))


def build_fails() -> nn.Module:
    raise ValueError("this factory always fails")


def not_a_module() -> str:
    return "a string"


class OomAbove(nn.Module):
    """Raises CUDA's out-of-memory error for batches above `limit`: the OOM path, without a GPU."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 4)
        self.limit = limit

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] > self.limit:
            raise torch.cuda.OutOfMemoryError(
                f"CUDA out of memory. Tried to allocate {x.shape[0]} GiB (fake, batch {x.shape[0]})"
            )
        return self.linear(x)


def oom_above(limit: int) -> nn.Module:
    return OomAbove(limit)


class _Crash(nn.Module):
    def __init__(self, how: str) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 4)
        self.how = how

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.how == "abort":
            os.abort()
        ctypes.string_at(0)  # reads address 0: SIGSEGV
        return x


def aborts() -> nn.Module:
    return _Crash("abort")


def segfaults() -> nn.Module:
    return _Crash("segfault")


class SleepOnce(nn.Module):
    """The first time anywhere (marker file absent): create the marker, then sleep. Afterwards it
    is a plain Linear. Lets a test interrupt a run mid-case, then resume it to completion."""

    def __init__(self, marker: str, seconds: float) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 4)
        self.marker = Path(marker)
        self.seconds = seconds

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.marker.exists():
            self.marker.write_text("sleeping")
            time.sleep(self.seconds)
        return self.linear(x)


def sleep_once(marker: str, seconds: float = 120.0) -> nn.Module:
    return SleepOnce(marker, seconds)


class _Forward(nn.Module):
    """A Linear whose forward first calls `act` (the hostile part)."""

    def __init__(self, act: Any) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 4)
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.act()
        return self.linear(x)


def _spin() -> None:
    while True:
        time.sleep(0.05)


def hangs(marker: str = "") -> nn.Module:
    """Never returns from forward; first writes its process id to `marker`, if given."""

    def act() -> None:
        if marker:
            Path(marker).write_text(str(os.getpid()))
        _spin()

    return _Forward(act)


def leaves_thread() -> nn.Module:
    """Starts a non-daemon thread that never ends (once per process), then works normally."""
    import threading

    def act() -> None:
        if not any(t.name == "left-behind" for t in threading.enumerate()):
            threading.Thread(target=_spin, name="left-behind", daemon=False).start()

    return _Forward(act)


def changes_settings(cwd: str) -> nn.Module:
    """Changes process-wide torch settings and the working directory while it is built."""
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float64)
    torch.set_float32_matmul_precision("medium")
    os.chdir(cwd)
    return nn.Linear(4, 4)


def raises_keyboard_interrupt() -> nn.Module:
    def act() -> None:
        raise KeyboardInterrupt("raised by the model, not by a user")

    return _Forward(act)


def raises_cancelled() -> nn.Module:
    """asyncio.CancelledError is a BaseException, not an Exception: it killed the whole run."""

    def act() -> None:
        import asyncio

        raise asyncio.CancelledError("a library's own cancellation")

    return _Forward(act)


def slows_the_process() -> nn.Module:
    """Turns off oneDNN and turns on anomaly detection, deterministic algorithms and
    flush-denormal while it is built: every later case ran 2-4x slower, with clean rows."""
    torch.backends.mkldnn.enabled = False
    torch.autograd.set_detect_anomaly(True)
    torch.use_deterministic_algorithms(True)
    torch.set_flush_denormal(True)
    return nn.Linear(4, 4)


def ignores_sigterm() -> nn.Module:
    """Ignores SIGTERM from its factory on and never restores it."""
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    return nn.Linear(4, 4)


class ScalesItsInput(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.div_(255.0))  # normalises in place, as image pipelines do


def scales_its_input() -> nn.Module:
    return ScalesItsInput()


def takes_the_timer_away() -> nn.Module:
    """Cancels the SIGALRM timer and ignores the signal (as libraries with their own timeouts
    do), then sleeps: without --isolate this hung the run for good."""

    def act() -> None:
        import signal
        import time

        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
        time.sleep(120)

    return _Forward(act)


def raises_markup() -> nn.Module:
    def act() -> None:
        raise RuntimeError("</details><script>alert(1)</script>")

    return _Forward(act)


def leaves_a_waiting_thread() -> nn.Module:
    """Starts a thread that outlives its case (it sleeps, so it slows nothing in the tests)."""
    threading.Thread(target=time.sleep, args=(20,), name="prefetcher", daemon=True).start()
    return nn.Linear(4, 4)


def exits_the_process() -> nn.Module:
    """os._exit(0) in a forward: the run ended with exit 0, no row, no report."""
    return _Returns(lambda y: os._exit(0))


def forks_and_stays() -> nn.Module:
    """Forks in its factory and both processes go on (the child never exits)."""
    os.fork()
    return nn.Linear(4, 4)


def prints_a_lot() -> nn.Module:
    """Prints 100,000 characters on every forward (a debugging print left in)."""
    return _Returns(lambda y: (print("x" * 100_000), y)[1])


class NanLater(nn.Module):
    """Finite on the first call (the checked one), NaN from the second call on."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 4)
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        y = self.linear(x)
        return y if self.calls == 1 else y * float("nan")


def nan_later() -> nn.Module:
    return NanLater()


class InfGradient(nn.Module):
    """A finite output whose gradient is infinite (d/dp sqrt(p - p) at 0): one SGD step makes
    the weights NaN, and only a training step shows it."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.linear.weight
        return self.linear(x) + torch.sqrt(weight - weight.detach()).sum()


def inf_gradient() -> nn.Module:
    return InfGradient()


class HostAllocation(nn.Module):
    """Asks the CPU allocator for (batch - 1) * 16 TiB: batch 1 allocates nothing, any larger
    batch fails for real (more than any test machine's memory and swap)."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        torch.empty((x.shape[0] - 1) * 2**42, dtype=torch.float32)
        return self.linear(x)


def host_allocation() -> nn.Module:
    return HostAllocation()


def downloads_weights() -> nn.Module:
    """A factory that fetches pretrained weights, as many model zoos' builders do."""
    model = nn.Linear(4, 4)
    model.load_state_dict(torch.hub.load_state_dict_from_url("https://example.invalid/w.pth"))
    return model


def swallows_download() -> nn.Module:
    """Tries a URL and carries on when it fails, as a hub client falling back to a cache does."""
    import contextlib
    import urllib.request

    with contextlib.suppress(Exception):  # the point: the model hides the refusal
        urllib.request.urlopen("http://example.invalid/config.json", timeout=2)
    return nn.Linear(4, 4)


def connects_in_forward() -> nn.Module:
    """Opens a raw socket to an address (no name lookup) on its first forward."""
    import socket

    def connect(y: torch.Tensor) -> torch.Tensor:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(2)
            sock.connect(("192.0.2.1", 80))  # TEST-NET-1: never routed
        return y

    return _Returns(connect)


class KVCache:
    """Stands in for a transformers Cache object: state a forward returns that is no tensor."""

    def __init__(self, y: torch.Tensor) -> None:
        self.keys = [y]


def cache_output() -> nn.Module:
    return _Returns(lambda y: {"logits": y, "past": KVCache(y), "n": 3, "extra": None})


class _AddsInput(nn.Module):
    """`x + relu(x)`: with `inplace` on, relu overwrites x before the sum reads it."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 4)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.linear(x)
        return y + self.act(y)


def inplace_hazard() -> nn.Module:
    return _AddsInput()
