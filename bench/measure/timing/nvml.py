"""The GPU's SM clock and throttle reasons from NVML, read beside each timed sample.

A GPU that hits its power or thermal limit lowers its clocks mid-run, and the samples taken
then are slower for a reason that has nothing to do with the model: nvbench discards samples
taken below 75% of the default SM clock. bench keeps them but flags the row `throttled`
(bench/records/latency.py) with the reasons NVML gave.

NVML comes from `nvidia-ml-py` (the `gpu` extra), imported lazily: without it, or without a
driver, there is no monitor and the row's `throttled` cell is empty, with the reason in the
row's notes. The NVML module is a parameter, so tests drive all of this with a fake one.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class ClockReading:
    """One reading: the SM clock in MHz and NVML's throttle-reason bitmask at that moment."""

    sm_mhz: int
    reasons: int = 0


class ClockMonitor(Protocol):
    """What the timing engine reads after each timed block (outside the timed region)."""

    default_sm_mhz: int | None  # the clock the device runs at by default (None: unknown)

    def read(self) -> ClockReading | None:
        """The current reading; None when NVML could not answer this time."""
        ...


# NVML's clocks-event reasons (clocks-throttle reasons in older drivers), bit by bit as
# nvml.h numbers them. bench keeps its own table so the words do not depend on which
# nvidia-ml-py is installed, or on one at all: a stored row's reasons are read back where there
# is no GPU.
REASON_WORDS: dict[int, str] = {
    0x1: "idle",
    0x2: "app clocks",  # applications clocks setting; nvml.h also calls it user-defined clocks
    0x4: "sw power cap",
    0x8: "hw slowdown",
    0x10: "sync boost",
    0x20: "sw thermal",
    0x40: "hw thermal",
    0x80: "hw power brake",
    0x100: "display clocks",
}
IDLE = 0x1
USER_CLOCKS = 0x2
THROTTLING = 0x4 | 0x8 | 0x20 | 0x40 | 0x80
"""The reasons that slow a working GPU down against the user's wishes (power or heat). Idle,
a clock setting, sync boost and the display clock are choices or states, not a slowdown the
model's samples should be blamed on."""

INSTALL_HINT = "install nvidia-ml-py (pip install 'bench[gpu]') for per-sample clocks"
_UINT64 = (1 << 64) - 1


def throttle_reason_words(mask: int) -> tuple[str, ...]:
    """The reasons set in NVML's bitmask, in bit order; a bit this table does not know (a newer
    driver's) as its hex value, so it is shown rather than dropped."""
    words = []
    remaining = mask & _UINT64  # NVML's mask is unsigned; a negative int would never run out
    bit = 1
    while remaining:
        if remaining & bit:
            words.append(REASON_WORDS.get(bit, f"{bit:#x}"))
            remaining &= ~bit
        bit <<= 1
    return tuple(words)


def is_throttling(mask: int) -> bool:
    """Whether a power, thermal or hardware slowdown was holding the clock down."""
    return bool(mask & THROTTLING)


def _ask(query: Callable[[], Any]) -> Any:
    """One NVML query's answer, or None when it raised: a driver too old for a function, a GPU
    that does not support a query (NOT_SUPPORTED) or a lost device costs that one figure, never
    the run or the doctor."""
    try:
        return query()
    except Exception:
        return None


def _why(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def default_sm_clock(nvml: Any, handle: Any) -> int | None:
    """The default applications SM clock in MHz (what the device runs applications at unless
    someone changed it), through the older function or NVML's clock-id query; None when the
    device has no applications clocks (GeForce parts) or NVML cannot tell."""
    mhz = _ask(lambda: int(nvml.nvmlDeviceGetDefaultApplicationsClock(handle, nvml.NVML_CLOCK_SM)))
    if mhz is None:
        mhz = _ask(
            lambda: int(
                nvml.nvmlDeviceGetClock(
                    handle, nvml.NVML_CLOCK_SM, nvml.NVML_CLOCK_ID_APP_CLOCK_DEFAULT
                )
            )
        )
    return mhz or None  # 0 MHz is no default: a fraction of it would flag every sample


def _reasons_functions(
    nvml: Any,
) -> tuple[Callable[[Any], int] | None, Callable[[Any], int] | None]:
    """NVML's current-reasons functions, (first choice, fallback): the newer name (newer
    drivers) where the module has it, the older one as its fallback. A new nvidia-ml-py on an older
    driver has the newer name, but the driver lacks the symbol and the call raises."""
    newer = getattr(nvml, "nvmlDeviceGetCurrentClocksEventReasons", None)
    older = getattr(nvml, "nvmlDeviceGetCurrentClocksThrottleReasons", None)
    return (newer, older) if newer is not None else (older, None)


def current_reasons(nvml: Any, handle: Any) -> int | None:
    """The device's current reasons bitmask, by either function; None when neither answers."""
    first, fallback = _reasons_functions(nvml)
    for function in (first, fallback):
        mask = None if function is None else _ask(lambda f=function: int(f(handle)))
        if mask is not None:
            return mask
    return None


class NvmlMonitor:
    """The ClockMonitor of one device: its SM clock and reasons, read after each timed block.

    NVML answers from the driver without queueing work on the GPU, so a reading taken outside
    the timed region costs the samples nothing. A reading NVML could not give is None,
    never an exception: a failed query must not fail the case it only annotates.
    """

    def __init__(self, nvml: Any, handle: Any) -> None:
        self._nvml = nvml
        self._handle = handle
        self._reasons, self._fallback = _reasons_functions(nvml)
        self.default_sm_mhz: int | None = default_sm_clock(nvml, handle)

    def read(self) -> ClockReading | None:
        nvml, handle = self._nvml, self._handle
        try:
            sm_mhz = int(nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_SM))
            reasons = self._current_reasons()
        except Exception:
            return None
        return ClockReading(sm_mhz=sm_mhz, reasons=reasons)

    def _current_reasons(self) -> int:
        """The reasons by the first-choice function; where it raises and the fallback answers,
        the fallback from then on (the driver lacks the newer symbol). A fallback that raises
        too leaves the choice as it was: the failure was this reading's, not the driver's."""
        if self._reasons is None:
            return 0  # a module with neither function: the clock alone
        try:
            return int(self._reasons(self._handle))
        except Exception:
            if self._fallback is None:
                raise
            reasons = int(self._fallback(self._handle))
            self._reasons, self._fallback = self._fallback, None
            return reasons


_STARTED: dict[int, tuple[Any, str]] = {}  # id(module) -> (module, why it did not start)
_START_LOCK = threading.Lock()


def _started(nvml: Any = None) -> tuple[Any, str]:
    """(the NVML module, "") once nvmlInit has run in this process, or (None, why not).

    nvmlInit loads the driver's library and enumerates the devices (milliseconds); every case's
    monitor and the doctor share one init, and a failed one is not retried case after case. The
    module is kept with its id, so the id stays its own."""
    if nvml is None:
        try:
            nvml = importlib.import_module("pynvml")
        except ImportError:
            return None, INSTALL_HINT
    with _START_LOCK:
        if id(nvml) not in _STARTED:
            try:
                nvml.nvmlInit()
                why = ""
            except Exception as exc:
                why = f"NVML could not start ({_why(exc)})"
            _STARTED[id(nvml)] = (nvml, why)
        why = _STARTED[id(nvml)][1]
    return (None, why) if why else (nvml, "")


def nvml_uuid(uuid: str) -> str:
    """A device UUID as NVML spells it: torch's `get_device_properties(i).uuid` has no `GPU-`
    prefix, NVML's does (`MIG-` for a MIG instance)."""
    text = str(uuid)
    return text if text.startswith(("GPU-", "MIG-")) else f"GPU-{text}"


def nvml_monitor(
    device_index: int, uuid: str | None = None, nvml: Any = None
) -> tuple[NvmlMonitor | None, str]:
    """The monitor of one CUDA device, or (None, why there is none).

    By UUID when given: under CUDA_VISIBLE_DEVICES (or the default fastest-first CUDA order)
    torch's cuda:N and NVML's index N can be different GPUs, and the clocks of the wrong one
    would flag the right one's samples. `nvml` is the NVML module (None: import pynvml, from
    nvidia-ml-py); tests pass a fake.
    """
    module, why = _started(nvml)
    if module is None:
        return None, why
    try:
        if uuid:
            handle = module.nvmlDeviceGetHandleByUUID(nvml_uuid(uuid))
        else:
            handle = module.nvmlDeviceGetHandleByIndex(device_index)
    except Exception as exc:
        device = f"with UUID {uuid}" if uuid else f"at index {device_index}"
        return None, f"NVML found no device {device} ({_why(exc)})"
    return NvmlMonitor(module, handle), ""


@dataclass(frozen=True)
class GpuClocks:
    """One GPU's clocks and power as `bench doctor` shows them; None where NVML could not say.

    `index` is NVML's, the one `nvidia-smi -i` takes (not necessarily torch's cuda:N).

    `locked`: NVML can set locked clocks (nvmlDeviceSetGpuLockedClocks, `nvidia-smi -lgc`) but
    has no function that reads them back, so a lock is inferred from what NVML does report:
    - True when the reasons include the applications-clocks bit (0x2, which nvml.h also names
      "user-defined clocks": a user's clock setting is what holds the clock where it is), or the
      applications-clock target differs from its default (`nvidia-smi -ac` was used);
    - False when the reasons include idle (0x1): the clock is dropping to its idle state, which
      a lock prevents (a locked GPU holds its clock with nothing running);
    - None otherwise: a busy GPU at a clock no setting limits may or may not be locked.
    """

    index: int
    name: str | None
    sm_mhz: int | None
    default_sm_mhz: int | None
    max_sm_mhz: int | None
    power_draw_w: float | None
    power_limit_w: float | None
    default_power_limit_w: float | None
    locked: bool | None
    reasons: tuple[str, ...] | None  # None: NVML gave no reasons


def clocks_locked(
    reasons: int | None, app_target_mhz: int | None, app_default_mhz: int | None
) -> bool | None:
    """Whether a user's setting holds the clocks (see GpuClocks.locked); None: cannot tell."""
    if reasons is not None and reasons & USER_CLOCKS:
        return True
    if app_target_mhz and app_default_mhz and app_target_mhz != app_default_mhz:
        return True
    if reasons is not None and reasons & IDLE:
        return False
    return None


def _watts(milliwatts: Any) -> float | None:
    return None if milliwatts is None else milliwatts / 1000


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _app_target_mhz(nvml: Any, handle: Any) -> int | None:
    mhz = _ask(
        lambda: int(
            nvml.nvmlDeviceGetClock(handle, nvml.NVML_CLOCK_SM, nvml.NVML_CLOCK_ID_APP_CLOCK_TARGET)
        )
    )
    if mhz is None:
        mhz = _ask(lambda: int(nvml.nvmlDeviceGetApplicationsClock(handle, nvml.NVML_CLOCK_SM)))
    return mhz


def device_clocks(nvml: Any, index: int) -> GpuClocks:
    """The doctor's figures of NVML device `index`, each query on its own."""
    handle = _ask(lambda: nvml.nvmlDeviceGetHandleByIndex(index))
    if handle is None:
        return GpuClocks(index, None, None, None, None, None, None, None, None, None)
    mask = current_reasons(nvml, handle)
    default = default_sm_clock(nvml, handle)
    limit = _ask(lambda: int(nvml.nvmlDeviceGetEnforcedPowerLimit(handle)))
    if limit is None:
        limit = _ask(lambda: int(nvml.nvmlDeviceGetPowerManagementLimit(handle)))
    return GpuClocks(
        index=index,
        name=_ask(lambda: _text(nvml.nvmlDeviceGetName(handle))),
        sm_mhz=_ask(lambda: int(nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_SM))),
        default_sm_mhz=default,
        max_sm_mhz=_ask(lambda: int(nvml.nvmlDeviceGetMaxClockInfo(handle, nvml.NVML_CLOCK_SM))),
        power_draw_w=_watts(_ask(lambda: int(nvml.nvmlDeviceGetPowerUsage(handle)))),
        power_limit_w=_watts(limit),
        default_power_limit_w=_watts(
            _ask(lambda: int(nvml.nvmlDeviceGetPowerManagementDefaultLimit(handle)))
        ),
        locked=clocks_locked(mask, _app_target_mhz(nvml, handle), default),
        reasons=None if mask is None else throttle_reason_words(mask),
    )


def gpu_clocks(nvml: Any = None) -> tuple[tuple[GpuClocks, ...], str]:
    """Every GPU NVML lists, with "" ; or no GPU and the reason (no nvidia-ml-py, no driver)."""
    module, why = _started(nvml)
    if module is None:
        return (), why
    count = _ask(lambda: int(module.nvmlDeviceGetCount()))
    if not count:
        return (), "NVML lists no device" if count == 0 else "NVML could not count the devices"
    return tuple(device_clocks(module, index) for index in range(count)), ""


def lock_advice(clocks: GpuClocks) -> str:
    """How to hold this GPU's clocks still for benchmarking, or a note that they are held.

    The lock is at the default applications SM clock: the clock that THROTTLED_CLOCK_FRACTION
    (bench/records/latency.py) measures samples against, so a locked device's samples read at
    1.0 of it and every run compares to the same clock. Locking and unlocking need root; a
    lock lasts until reset or reboot."""
    i = clocks.index
    reset = f"sudo nvidia-smi -i {i} --reset-gpu-clocks"
    if clocks.locked:
        return (
            f"GPU {i} clocks are held by a clock setting (undo with `{reset}`, or"
            f" `sudo nvidia-smi -i {i} --reset-applications-clocks` for one made with -ac)"
        )
    mhz = clocks.default_sm_mhz
    if mhz:
        lock = f"sudo nvidia-smi -i {i} --lock-gpu-clocks={mhz},{mhz}"
        return f"lock GPU {i} at its default SM clock: `{lock}`; afterwards `{reset}`"
    lock = f"sudo nvidia-smi -i {i} --lock-gpu-clocks=MHZ,MHZ"
    return (
        f"lock GPU {i} at one clock: `{lock}` with MHZ one of"
        f" `nvidia-smi -i {i} -q -d SUPPORTED_CLOCKS`; afterwards `{reset}`"
    )
