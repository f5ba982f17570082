"""NVML clock readings and the doctor's GPU clock figures, through a fake NVML module.

There is no GPU or nvidia-ml-py where these run: `FakeNvml` has the functions and constants
bench calls, answers from scripted values, and raises where a test says NVML fails.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

import pytest

from bench.measure.timing.nvml import (
    INSTALL_HINT,
    ClockReading,
    GpuClocks,
    NvmlMonitor,
    clocks_locked,
    gpu_clocks,
    is_throttling,
    lock_advice,
    nvml_monitor,
    nvml_uuid,
    throttle_reason_words,
)


class NVMLError(Exception):
    """Stands in for pynvml.NVMLError: what a failing query raises."""


class FakeDevice:
    def __init__(
        self,
        name: str | bytes = "Fake H200",
        sm_mhz: Iterable[int] = (1980,),
        reasons: Iterable[int] = (0,),
        default_mhz: int | None = 1980,
        app_target_mhz: int | None = None,
        max_mhz: int = 1980,
        power_mw: int = 123_456,
        limit_mw: int = 700_000,
        default_limit_mw: int = 700_000,
        uuid: str = "GPU-aaaa",
    ) -> None:
        self.name = name
        self.sm_mhz = list(sm_mhz)
        self.reasons = list(reasons)
        self.default_mhz = default_mhz
        self.app_target_mhz = default_mhz if app_target_mhz is None else app_target_mhz
        self.max_mhz = max_mhz
        self.power_mw = power_mw
        self.limit_mw = limit_mw
        self.default_limit_mw = default_limit_mw
        self.uuid = uuid


class FakeNvml:
    """The slice of pynvml bench uses. `failing` names functions that raise NVMLError;
    `missing` names functions the module does not have (an older nvidia-ml-py)."""

    NVML_CLOCK_SM = 1
    NVML_CLOCK_ID_APP_CLOCK_TARGET = 1
    NVML_CLOCK_ID_APP_CLOCK_DEFAULT = 2

    def __init__(
        self,
        devices: Iterable[FakeDevice] = (),
        failing: Iterable[str] = (),
        missing: Iterable[str] = (),
    ) -> None:
        self.devices = list(devices)
        self.failing = set(failing)
        self.missing = set(missing)
        self.calls: list[str] = []

    def __getattribute__(self, name: str) -> Any:
        attribute = object.__getattribute__(self, name)
        if not name.startswith("nvml"):
            return attribute
        if name in object.__getattribute__(self, "missing"):
            raise AttributeError(name)

        def call(*args: Any) -> Any:  # `failing` is read at call time: a test may change it
            object.__getattribute__(self, "calls").append(name)
            if name in object.__getattribute__(self, "failing"):
                raise NVMLError(f"{name} failed")
            return attribute(*args)

        return call

    def nvmlInit(self) -> None:
        pass

    def nvmlDeviceGetCount(self) -> int:
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeDevice:
        if index >= len(self.devices):
            raise NVMLError("invalid argument")
        return self.devices[index]

    def nvmlDeviceGetHandleByUUID(self, uuid: str) -> FakeDevice:
        for device in self.devices:
            if device.uuid == uuid:
                return device
        raise NVMLError("not found")

    def nvmlDeviceGetName(self, handle: FakeDevice) -> str | bytes:
        return handle.name

    def nvmlDeviceGetClockInfo(self, handle: FakeDevice, clock: int) -> int:
        assert clock == self.NVML_CLOCK_SM
        return handle.sm_mhz.pop(0) if len(handle.sm_mhz) > 1 else handle.sm_mhz[0]

    def nvmlDeviceGetMaxClockInfo(self, handle: FakeDevice, clock: int) -> int:
        assert clock == self.NVML_CLOCK_SM
        return handle.max_mhz

    def nvmlDeviceGetDefaultApplicationsClock(self, handle: FakeDevice, clock: int) -> int:
        assert clock == self.NVML_CLOCK_SM
        if handle.default_mhz is None:
            raise NVMLError("not supported")
        return handle.default_mhz

    def nvmlDeviceGetApplicationsClock(self, handle: FakeDevice, clock: int) -> int:
        assert clock == self.NVML_CLOCK_SM
        if handle.app_target_mhz is None:
            raise NVMLError("not supported")
        return handle.app_target_mhz

    def nvmlDeviceGetClock(self, handle: FakeDevice, clock: int, clock_id: int) -> int:
        assert clock == self.NVML_CLOCK_SM
        value = {
            self.NVML_CLOCK_ID_APP_CLOCK_TARGET: handle.app_target_mhz,
            self.NVML_CLOCK_ID_APP_CLOCK_DEFAULT: handle.default_mhz,
        }[clock_id]
        if value is None:
            raise NVMLError("not supported")
        return value

    def _reasons(self, handle: FakeDevice) -> int:
        return handle.reasons.pop(0) if len(handle.reasons) > 1 else handle.reasons[0]

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle: FakeDevice) -> int:
        return self._reasons(handle)

    def nvmlDeviceGetCurrentClocksThrottleReasons(self, handle: FakeDevice) -> int:
        return self._reasons(handle)

    def nvmlDeviceGetPowerUsage(self, handle: FakeDevice) -> int:
        return handle.power_mw

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: FakeDevice) -> int:
        return handle.limit_mw

    def nvmlDeviceGetPowerManagementLimit(self, handle: FakeDevice) -> int:
        return handle.limit_mw + 1000  # distinct, so a test can tell which one was read

    def nvmlDeviceGetPowerManagementDefaultLimit(self, handle: FakeDevice) -> int:
        return handle.default_limit_mw


# --- reason words ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mask, words",
    [
        (0x0, ()),
        (0x1, ("idle",)),
        (0x2, ("app clocks",)),
        (0x4, ("sw power cap",)),
        (0x8, ("hw slowdown",)),
        (0x10, ("sync boost",)),
        (0x20, ("sw thermal",)),
        (0x40, ("hw thermal",)),
        (0x80, ("hw power brake",)),
        (0x100, ("display clocks",)),
    ],
)
def test_each_reason_bit_has_its_word(mask: int, words: tuple[str, ...]) -> None:
    assert throttle_reason_words(mask) == words


def test_reason_words_come_in_bit_order_with_unknown_bits_in_hex() -> None:
    assert throttle_reason_words(0x44) == ("sw power cap", "hw thermal")
    assert throttle_reason_words(0x1 | 0x100) == ("idle", "display clocks")
    # bits a newer driver may set: shown, not dropped, each in its place
    assert throttle_reason_words(0x200 | 0x4 | 0x8000) == ("sw power cap", "0x200", "0x8000")
    assert throttle_reason_words(1 << 63) == ("0x8000000000000000",)


@pytest.mark.parametrize(
    "mask, throttling",
    [
        (0x0, False),
        (0x1, False),  # idle
        (0x2, False),  # a clock setting the user chose
        (0x10, False),  # sync boost
        (0x100, False),  # display clock
        (0x1 | 0x2 | 0x10 | 0x100, False),
        (0x4, True),
        (0x8, True),
        (0x20, True),
        (0x40, True),
        (0x80, True),
        (0x1 | 0x80, True),
    ],
)
def test_only_power_thermal_and_hardware_slowdowns_are_throttling(
    mask: int, throttling: bool
) -> None:
    assert is_throttling(mask) is throttling


# --- the per-sample monitor --------------------------------------------------------------


def test_monitor_reads_scripted_clocks_and_reasons_in_order() -> None:
    device = FakeDevice(sm_mhz=(1980, 1410, 1980), reasons=(0, 0x4, 0), default_mhz=1755)
    monitor = NvmlMonitor(FakeNvml([device]), device)
    assert monitor.default_sm_mhz == 1755
    readings = [monitor.read() for _ in range(3)]
    assert readings == [ClockReading(1980, 0), ClockReading(1410, 0x4), ClockReading(1980, 0)]


def test_a_failing_query_reads_none_and_the_next_one_recovers() -> None:
    device = FakeDevice(sm_mhz=(1500,), reasons=(0x40,))
    nvml = FakeNvml([device])
    monitor = NvmlMonitor(nvml, device)
    nvml.failing = {"nvmlDeviceGetClockInfo"}
    assert monitor.read() is None
    nvml.failing = set()
    assert monitor.read() == ClockReading(1500, 0x40)


def test_failing_reasons_read_none_rather_than_a_clock_without_them() -> None:
    device = FakeDevice()
    nvml = FakeNvml([device])
    monitor = NvmlMonitor(nvml, device)
    nvml.failing = {
        "nvmlDeviceGetCurrentClocksEventReasons",
        "nvmlDeviceGetCurrentClocksThrottleReasons",
    }
    assert monitor.read() is None


def test_without_the_newer_name_the_throttle_reasons_function_is_read() -> None:
    device = FakeDevice(reasons=(0x20,))
    nvml = FakeNvml([device], missing={"nvmlDeviceGetCurrentClocksEventReasons"})
    assert NvmlMonitor(nvml, device).read() == ClockReading(1980, 0x20)
    assert "nvmlDeviceGetCurrentClocksThrottleReasons" in nvml.calls


def test_a_driver_without_the_newer_function_falls_back_to_the_older() -> None:
    """A new nvidia-ml-py has the newer name, but an older driver lacks the symbol."""
    device = FakeDevice(reasons=(0x8,))
    nvml = FakeNvml([device], failing={"nvmlDeviceGetCurrentClocksEventReasons"})
    assert NvmlMonitor(nvml, device).read() == ClockReading(1980, 0x8)


def test_the_newer_reasons_function_is_preferred() -> None:
    device = FakeDevice(reasons=(0x1,))
    nvml = FakeNvml([device])
    monitor = NvmlMonitor(nvml, device)
    nvml.calls.clear()
    assert monitor.read() == ClockReading(1980, 0x1)
    assert nvml.calls == ["nvmlDeviceGetClockInfo", "nvmlDeviceGetCurrentClocksEventReasons"]


def test_default_clock_falls_back_to_the_clock_id_query_then_none() -> None:
    device = FakeDevice(default_mhz=1410)
    nvml = FakeNvml([device], failing={"nvmlDeviceGetDefaultApplicationsClock"})
    assert NvmlMonitor(nvml, device).default_sm_mhz == 1410
    no_apps_clocks = FakeDevice(default_mhz=None)  # a GeForce part
    assert NvmlMonitor(FakeNvml([no_apps_clocks]), no_apps_clocks).default_sm_mhz is None


# --- starting NVML -----------------------------------------------------------------------


def test_without_nvidia_ml_py_there_is_no_monitor_and_the_reason_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # `import pynvml` raises ImportError
    monitor, why = nvml_monitor(0)
    assert monitor is None and why == INSTALL_HINT and "nvidia-ml-py" in why
    assert gpu_clocks() == ((), INSTALL_HINT)


def test_the_real_module_is_imported_when_none_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = FakeNvml([FakeDevice(sm_mhz=(1234,))])
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    monitor, why = nvml_monitor(0)
    assert why == "" and monitor is not None and monitor.read() == ClockReading(1234, 0)


def test_an_nvml_that_cannot_start_gives_no_monitor_and_says_so() -> None:
    nvml = FakeNvml([FakeDevice()], failing={"nvmlInit"})
    monitor, why = nvml_monitor(0, nvml=nvml)
    assert monitor is None and why.startswith("NVML could not start")
    clocks, why_not = gpu_clocks(nvml)
    assert clocks == () and why_not.startswith("NVML could not start")
    assert nvml.calls.count("nvmlInit") == 1  # the failure is remembered, not retried


def test_nvml_is_initialised_once_per_module() -> None:
    nvml = FakeNvml([FakeDevice(), FakeDevice()])
    for index in (0, 1, 0):
        monitor, why = nvml_monitor(index, nvml=nvml)
        assert monitor is not None and why == ""
    gpu_clocks(nvml)
    assert nvml.calls.count("nvmlInit") == 1


def test_the_device_is_found_by_uuid_when_given_else_by_index() -> None:
    """Under CUDA_VISIBLE_DEVICES=1, torch's cuda:0 is NVML's device 1: the UUID finds it."""
    first = FakeDevice(sm_mhz=(1000,), uuid="GPU-1111")
    second = FakeDevice(sm_mhz=(2000,), uuid="GPU-2222")
    nvml = FakeNvml([first, second])
    by_uuid, _ = nvml_monitor(0, uuid="GPU-2222", nvml=nvml)
    by_index, _ = nvml_monitor(0, nvml=nvml)
    assert by_uuid is not None and by_uuid.read() == ClockReading(2000, 0)
    assert by_index is not None and by_index.read() == ClockReading(1000, 0)
    # torch's UUID has no "GPU-" prefix; NVML's has
    torch_style, why = nvml_monitor(0, uuid="2222", nvml=nvml)
    assert why == "" and torch_style is not None and torch_style.read() == ClockReading(2000, 0)


def test_an_unknown_device_gives_no_monitor_and_names_it() -> None:
    nvml = FakeNvml([FakeDevice(uuid="GPU-1111")])
    monitor, why = nvml_monitor(0, uuid="GPU-9999", nvml=nvml)
    assert monitor is None and why.startswith("NVML found no device with UUID GPU-9999")
    monitor, why = nvml_monitor(3, nvml=nvml)
    assert monitor is None and why.startswith("NVML found no device at index 3")


def test_nvml_uuid_adds_the_prefix_only_where_missing() -> None:
    assert nvml_uuid("abcd") == "GPU-abcd"
    assert nvml_uuid("GPU-abcd") == "GPU-abcd"
    assert nvml_uuid("MIG-abcd") == "MIG-abcd"


# --- the doctor's figures ----------------------------------------------------------------


def test_gpu_clocks_of_an_idle_unlocked_gpu() -> None:
    idle = FakeDevice(name=b"Fake H200", sm_mhz=(345,), reasons=(0x1,), default_mhz=1980)
    clocks, why = gpu_clocks(FakeNvml([idle]))
    assert why == ""
    assert clocks == (
        GpuClocks(
            index=0,
            name="Fake H200",
            sm_mhz=345,
            default_sm_mhz=1980,
            max_sm_mhz=1980,
            power_draw_w=123.456,
            power_limit_w=700.0,
            default_power_limit_w=700.0,
            locked=False,
            reasons=("idle",),
        ),
    )
    assert lock_advice(clocks[0]) == (
        "lock GPU 0 at its default SM clock: `sudo nvidia-smi -i 0 --lock-gpu-clocks=1980,1980`;"
        " afterwards `sudo nvidia-smi -i 0 --reset-gpu-clocks`"
    )


def test_gpu_clocks_held_by_a_user_setting_are_locked() -> None:
    locked = FakeDevice(sm_mhz=(1410,), reasons=(0x2,), default_mhz=1980, max_mhz=1980)
    set_by_ac = FakeDevice(sm_mhz=(1200,), reasons=(0x0,), default_mhz=1410, app_target_mhz=1200)
    clocks, _ = gpu_clocks(FakeNvml([locked, set_by_ac]))
    assert [(c.index, c.locked, c.reasons) for c in clocks] == [
        (0, True, ("app clocks",)),
        (1, True, ()),
    ]
    assert lock_advice(clocks[1]) == (
        "GPU 1 clocks are held by a clock setting (undo with"
        " `sudo nvidia-smi -i 1 --reset-gpu-clocks`, or"
        " `sudo nvidia-smi -i 1 --reset-applications-clocks` for one made with -ac)"
    )


def test_a_busy_gpu_no_setting_limits_cannot_be_told_locked_or_not() -> None:
    busy = FakeDevice(sm_mhz=(1980,), reasons=(0x4,), default_mhz=1980)
    (clocks,), _ = gpu_clocks(FakeNvml([busy]))
    assert clocks.locked is None and clocks.reasons == ("sw power cap",)
    assert lock_advice(clocks).startswith("lock GPU 0 at its default SM clock")


@pytest.mark.parametrize(
    "reasons, target, default, locked",
    [
        (0x2, None, None, True),
        (0x3, 1980, 1980, True),  # the user setting wins over idle
        (0x0, 1200, 1410, True),
        (0x1, 1410, 1410, False),
        (0x1, None, None, False),
        (0x0, 1410, 1410, None),
        (0x4, None, None, None),
        (None, None, None, None),
        (None, 1200, 1410, True),
    ],
)
def test_clocks_locked_rules(
    reasons: int | None, target: int | None, default: int | None, locked: bool | None
) -> None:
    assert clocks_locked(reasons, target, default) is locked


def test_every_failing_query_costs_only_its_own_figure() -> None:
    device = FakeDevice(reasons=(0x1,))
    failing = {
        "nvmlDeviceGetName",
        "nvmlDeviceGetPowerUsage",
        "nvmlDeviceGetEnforcedPowerLimit",
        "nvmlDeviceGetDefaultApplicationsClock",
        "nvmlDeviceGetClock",
        "nvmlDeviceGetApplicationsClock",
    }
    (clocks,), why = gpu_clocks(FakeNvml([device], failing=failing))
    assert why == ""
    assert clocks == GpuClocks(0, None, 1980, None, 1980, None, 701.0, 700.0, False, ("idle",))
    assert lock_advice(clocks) == (
        "lock GPU 0 at one clock: `sudo nvidia-smi -i 0 --lock-gpu-clocks=MHZ,MHZ` with MHZ one"
        " of `nvidia-smi -i 0 -q -d SUPPORTED_CLOCKS`; afterwards"
        " `sudo nvidia-smi -i 0 --reset-gpu-clocks`"
    )


def test_a_device_without_a_handle_is_listed_with_nothing_known() -> None:
    nvml = FakeNvml([FakeDevice()], failing={"nvmlDeviceGetHandleByIndex"})
    clocks, why = gpu_clocks(nvml)
    assert why == ""
    assert clocks == (GpuClocks(0, None, None, None, None, None, None, None, None, None),)


def test_no_device_or_no_count_gives_the_reason() -> None:
    assert gpu_clocks(FakeNvml([])) == ((), "NVML lists no device")
    uncounted = FakeNvml([FakeDevice()], failing={"nvmlDeviceGetCount"})
    assert gpu_clocks(uncounted) == ((), "NVML could not count the devices")


def test_the_fallback_is_kept_only_once_it_answers() -> None:
    device = FakeDevice(reasons=(0x4,))
    both = {"nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetCurrentClocksThrottleReasons"}
    nvml = FakeNvml([device], failing=both)
    monitor = NvmlMonitor(nvml, device)
    assert monitor.read() is None  # a failure of this reading: the newer function stays first
    nvml.failing = set()
    nvml.calls.clear()
    assert monitor.read() == ClockReading(1980, 0x4)
    assert nvml.calls == ["nvmlDeviceGetClockInfo", "nvmlDeviceGetCurrentClocksEventReasons"]
    nvml.failing = {"nvmlDeviceGetCurrentClocksEventReasons"}
    assert monitor.read() == ClockReading(1980, 0x4)
    nvml.calls.clear()
    assert monitor.read() == ClockReading(1980, 0x4)  # the older function from then on
    assert nvml.calls == ["nvmlDeviceGetClockInfo", "nvmlDeviceGetCurrentClocksThrottleReasons"]


def test_a_module_without_a_reasons_function_still_reads_the_clock() -> None:
    device = FakeDevice(sm_mhz=(1700,))
    missing = {
        "nvmlDeviceGetCurrentClocksEventReasons",
        "nvmlDeviceGetCurrentClocksThrottleReasons",
    }
    assert NvmlMonitor(FakeNvml([device], missing=missing), device).read() == ClockReading(1700, 0)
