"""`bench doctor`: its figures' arithmetic through fakes, and one quick end-to-end run."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bench.doctor import (
    DoctorReport,
    Noise,
    cpu_governors,
    cuda_figures,
    gpu_clock_figures,
    observed_resolution_ns,
    render_doctor,
    unfit_reasons,
)
from bench.measure.ceilings import CeilingWorkload, measure_ceiling
from bench.measure.timing.agreement import Agreement, Overhead
from bench.measure.timing.engine import CpuTimer, TimingPolicy
from bench.records import Contention
from tests.fakes import FakeClock, FakeCudaBackend
from tests.test_nvml import FakeDevice, FakeNvml

SMALL = TimingPolicy(warmup_min_iterations=1, steady_window=0, min_blocks=3, max_samples=3)


def test_observed_clock_resolution_is_the_smallest_step() -> None:
    assert observed_resolution_ns(FakeClock(step_ns=42), reads=10) == 42.0
    assert observed_resolution_ns(FakeClock(), reads=10) == 0.0  # a clock that never moves


def test_cpu_governors_are_read_where_exposed(tmp_path: Path) -> None:
    for cpu, governor in (("cpu0", "performance"), ("cpu1", "powersave"), ("cpu2", "powersave")):
        folder = tmp_path / cpu / "cpufreq"
        folder.mkdir(parents=True)
        (folder / "scaling_governor").write_text(governor + "\n")
    assert cpu_governors(tmp_path) == ("performance", "powersave")
    assert cpu_governors(tmp_path / "missing") is None


def test_cpu_ceiling_is_work_over_median_time() -> None:
    clock = FakeClock()
    workload = CeilingWorkload("matmul", "GFLOP/s", 8e9, lambda: clock.advance_ms(4.0), "fake")
    ceiling = measure_ceiling(workload, CpuTimer(clock), "cpu", SMALL, clock)
    assert ceiling.median_ms == 4.0
    assert ceiling.value == pytest.approx(2000.0)  # 8e9 FLOP in 4 ms


def test_cuda_figures_time_ceilings_with_device_events() -> None:
    backend = FakeCudaBackend(repeat_ms=10.0, device_names=("Fake H100",))

    def workloads(device: str) -> list[CeilingWorkload]:
        assert device == "cuda:0"
        return [
            CeilingWorkload("matmul", "GFLOP/s", 2e9, backend.run_kernel, "fake"),
            CeilingWorkload("copy", "GB/s", 1e9, backend.run_kernel, "fake"),
        ]

    (gpu,) = cuda_figures(backend, workloads, SMALL, FakeClock(), driver=lambda: "555.42")
    assert (gpu["device"], gpu["name"], gpu["driver_version"]) == ("cuda:0", "Fake H100", "555.42")
    values = {c["name"]: c["value"] for c in gpu["ceilings"]}
    assert values == {"matmul": pytest.approx(200.0), "copy": pytest.approx(100.0)}
    # device time came from events read after a synchronize of the right device
    synchronizes = [entry for entry in backend.log if entry[0] == "synchronize"]
    assert synchronizes and all(entry == ("synchronize", "cuda:0") for entry in synchronizes)


def test_no_cuda_device_means_no_cuda_figures() -> None:
    backend = FakeCudaBackend(device_names=())
    assert cuda_figures(backend, lambda device: [], SMALL, FakeClock()) == ()


@pytest.mark.parametrize("fit, code", [(True, 0), (False, 1)])
def test_doctor_exits_1_when_the_machine_is_not_fit(monkeypatch, cli, fit: bool, code: int) -> None:
    """The verdict, not just its line: a job script that runs `bench doctor && bench run ...`
    stops on a machine it cannot trust. The figures come from a fake; the mapping is the CLI's."""
    import bench.doctor

    monkeypatch.setattr(bench.doctor, "run_doctor", lambda quick, threads: SimpleNamespace(fit=fit))
    monkeypatch.setattr(bench.doctor, "render_doctor", lambda report: "verdict: (fake)")
    monkeypatch.setattr(bench.doctor, "noise_floor_of", lambda report: None)
    done = cli("doctor", "--quick")
    assert (done.returncode, done.stderr) == (code, "")


def test_doctor_quick_end_to_end(tmp_path: Path, cli) -> None:
    out = tmp_path / "doctor.json"
    done = cli("doctor", "--quick", "--threads", "1", "--json", out)
    assert done.returncode in (0, 1), done.stderr
    assert "Traceback" not in done.stderr
    for needle in ("clock:", "overhead on a no-op:", "agreement resnet18_b1", "agreement mlp_b1"):
        assert needle in done.stdout
    assert "machine noise:" in done.stdout and "CPU frequency governor:" in done.stdout
    assert "verdict: " in done.stdout and "fit for benchmarking" in done.stdout
    report = json.loads(out.read_text())
    assert report["threads"] == 1
    assert report["verdict"] in ("fit for benchmarking", "NOT fit for benchmarking")
    assert (report["verdict"] == "fit for benchmarking") == (report["reasons"] == [])
    # a script can stop on an unfit machine: exit 0 when fit, 1 when not, whichever this one is
    assert done.returncode == (0 if report["verdict"] == "fit for benchmarking" else 1)
    assert f"verdict: {report['verdict']}" in done.stdout
    assert report["contention"]["cores_needed"] == 1
    assert {a["name"] for a in report["agreement"]} == {"resnet18_b1", "mlp_b1"}
    assert all(a["threads"] == 1 and a["median_ratio"] > 0 for a in report["agreement"])
    ceilings = {c["name"]: c for c in report["ceilings"]}
    assert ceilings["matmul"]["unit"] == "GFLOP/s" and ceilings["matmul"]["value"] > 0
    # the noise spread is saved as this machine's floor, which runs then record
    from bench.noise_floor import load_floor

    floor = load_floor()
    spreads = report["process_spread"]["medians_ms"]
    assert set(spreads) == {"256x256 matmul", "mnist_cnn b64 conv net"}
    assert "between fresh processes:" in done.stdout
    left_out = report["process_spread"]["contended_processes"]
    if left_out:  # a busy machine: the floor is not saved rather than saved wrong
        assert floor is None and "noise floor not saved" in done.stdout
    else:
        assert floor is not None and floor.quick is True
        assert all(len(medians) == 2 and min(medians) > 0 for medians in spreads.values())
        widest = max((max(m) - min(m)) / min(m) for m in spreads.values())
        assert floor.fraction == round(max(widest, report["noise"]["spread"]), 4)
        assert f"noise floor {100 * floor.fraction:.1f}% saved to" in done.stdout
    assert ceilings["copy"]["unit"] == "GB/s" and ceilings["copy"]["value"] > 0
    assert report["overhead"]["harness_ns"] > 0 and report["overhead"]["torch_ns"] > 0


QUIET_NOISE = Noise("256x256", (1.0, 1.01, 0.99), cv=0.01, spread=0.02)
QUIET = Contention(wall_s=10.0, others_cpu_s=0.0, cores=2, cores_needed=2, load_avg=0.1)


def agreement(name: str, ratios: tuple[float, ...]) -> Agreement:
    median = sorted(ratios)[len(ratios) // 2]
    return Agreement(name, 2, ratios, ratios, ratios, median, abs(median - 1) <= 0.03)


def test_a_quiet_steady_machine_is_fit() -> None:
    agreements = (agreement("resnet18_b1", (0.99, 1.0, 1.01)),)
    assert unfit_reasons(QUIET_NOISE, agreements, ("performance",), QUIET) == ()
    assert unfit_reasons(QUIET_NOISE, agreements, None, None) == ()  # unreadable: no reason


def test_every_reason_is_named() -> None:
    noisy = Noise("256x256", (1.0, 1.2, 0.9), cv=0.15, spread=0.3)
    busy = Contention(wall_s=10.0, others_cpu_s=8.0, cores=2, cores_needed=2, load_avg=4.0)
    # The rounds of the doctor run: 0.083 to 1.369.
    spread = agreement("resnet18_b1", (0.083, 1.0, 1.369))
    off = agreement("mlp_b1", (1.10, 1.11, 1.12))
    reasons = unfit_reasons(noisy, (spread, off), ("powersave",), busy)
    assert [r.split(":")[0] for r in reasons] == [
        "noise",
        "contention",
        "governor",
        "agreement spread",
        "agreement",
    ]
    assert "40%" in reasons[1]  # 8 core-seconds of 20


def test_contended_processes_are_left_out_of_the_floor() -> None:
    from bench.measure.timing.floor import ProcessSpread

    spread = ProcessSpread({"a": (1.0, 1.5), "b": (10.0, 10.2)}, contended_processes=2)
    assert spread.measured and spread.floor == 0.5 and spread.widest == "a"
    assert not ProcessSpread({"a": (1.0,), "b": (10.0,)}, contended_processes=5).measured


def test_a_floor_no_clean_process_measured_is_not_printed_as_zero() -> None:
    from bench.measure.timing.floor import ProcessSpread

    empty = ProcessSpread({"matmul": (), "conv": ()}, contended_processes=2)
    text = render_doctor(doctor_report(process_spread=empty))
    line = next(x for x in text.splitlines() if x.startswith("between fresh processes"))
    assert "0.0%" not in line and "A/A noise floor not measured" in line
    assert "2 contended process(es) left out" in line
    clean = ProcessSpread({"matmul": (1.0, 1.1)})
    assert "A/A noise floor 10.0%" in render_doctor(doctor_report(process_spread=clean))


def doctor_report(**fields: Any) -> DoctorReport:
    """A report with quiet figures everywhere but `fields`, for rendering tests."""
    defaults: dict[str, Any] = {
        "quick": True,
        "threads": 2,
        "interop_threads": 2,
        "clock_declared_resolution_ns": 1.0,
        "clock_observed_resolution_ns": 20.0,
        "clock_read_ns": 30.0,
        "overhead": Overhead(100.0, 90.0, 10.0, True),
        "agreement": (),
        "noise": QUIET_NOISE,
        "process_spread": None,
        "cpu_governor": ("performance",),
        "ceilings": (),
        "cuda": (),
        "numerics_flags": {},
    }
    return DoctorReport(**{**defaults, **fields})


def test_gpu_clocks_are_read_only_where_cuda_devices_exist() -> None:
    nvml = FakeNvml([FakeDevice(name="Fake H200", sm_mhz=(345,), reasons=(0x1,))])
    assert gpu_clock_figures(FakeCudaBackend(device_names=()), nvml) == ((), None)
    assert nvml.calls == []  # a CPU-only machine does not even start NVML
    (gpu,), why = gpu_clock_figures(FakeCudaBackend(), nvml)
    assert why is None
    assert gpu == {
        "index": 0,
        "name": "Fake H200",
        "sm_mhz": 345,
        "default_sm_mhz": 1980,
        "max_sm_mhz": 1980,
        "power_draw_w": 123.456,
        "power_limit_w": 700.0,
        "default_power_limit_w": 700.0,
        "locked": False,
        "reasons": ("idle",),
        "advice": "lock GPU 0 at its default SM clock:"
        " `sudo nvidia-smi -i 0 --lock-gpu-clocks=1980,1980`;"
        " afterwards `sudo nvidia-smi -i 0 --reset-gpu-clocks`",
    }
    failing = FakeNvml([FakeDevice()], failing={"nvmlInit"})
    clocks, why = gpu_clock_figures(FakeCudaBackend(), failing)
    assert clocks == () and why is not None and why.startswith("NVML could not start")


def test_doctor_renders_a_gpu_clocks_line_per_gpu_and_advice_where_not_locked() -> None:
    idle = FakeDevice(name="Fake H200", sm_mhz=(345,), reasons=(0x1,), power_mw=75_300)
    locked = FakeDevice(name="Fake A100", sm_mhz=(1410,), reasons=(0x2,), default_mhz=1410)
    clocks, why = gpu_clock_figures(FakeCudaBackend(), FakeNvml([idle, locked]))
    report = doctor_report(gpu_clocks=clocks, gpu_clocks_unavailable=why)
    lines = render_doctor(report).splitlines()
    section = [line for line in lines if line.startswith(("GPU clocks", "  "))]
    assert section == [
        "GPU clocks of nvidia-smi GPU 0 (Fake H200): SM 345 MHz now, default 1980 MHz,"
        " max 1980 MHz; power 75.3 W, limit 700 W (default 700 W); locked: no;"
        " throttle reasons: idle",
        "  lock GPU 0 at its default SM clock: `sudo nvidia-smi -i 0 --lock-gpu-clocks=1980,1980`;"
        " afterwards `sudo nvidia-smi -i 0 --reset-gpu-clocks`",
        "GPU clocks of nvidia-smi GPU 1 (Fake A100): SM 1410 MHz now, default 1410 MHz,"
        " max 1980 MHz; power 123.5 W, limit 700 W (default 700 W); locked: yes;"
        " throttle reasons: app clocks",
    ]
    # the section follows the CUDA devices, before the numerics flags
    assert lines.index(section[0]) < next(
        i for i, line in enumerate(lines) if line.startswith("numerics flags")
    )
    written = json.loads(json.dumps(report.to_dict()))
    assert [g["locked"] for g in written["gpu_clocks"]] == [False, True]
    assert written["gpu_clocks"][0]["reasons"] == ["idle"]
    assert written["gpu_clocks_unavailable"] is None


def test_doctor_says_why_gpu_clocks_are_missing_and_prints_none_without_cuda() -> None:
    missing = doctor_report(gpu_clocks_unavailable="install nvidia-ml-py")
    assert "GPU clocks: not read (install nvidia-ml-py)" in render_doctor(missing).splitlines()
    cpu_only = render_doctor(doctor_report())
    assert "GPU clocks" not in cpu_only and "lock-gpu-clocks" not in cpu_only
