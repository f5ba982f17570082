"""`bench doctor`: can this machine be trusted for benchmarking, and what does the harness cost?

Figures, each with the reason it matters:
- clock: the declared and observed resolution of `perf_counter_ns` and the cost of one read (the
  block sizing keeps that cost under 0.1% of a block);
- overhead: the harness's per-iteration cost on a no-op against torch.utils.benchmark's;
- agreement: the harness's median against `Timer.blocked_autorange` on resnet18 b1 and a small
  MLP, interleaved, same threads (bench/timing_crosscheck.py);
- noise: the spread of repeated short measurements of one fixed matmul: what a user can hope to
  resolve between two runs here;
- between processes: the same matmul and a small conv net in fresh processes, one after another:
  the largest spread of their medians is the machine's A/A noise floor (saved per machine,
  bench/noise_floor.py; `bench compare` calls no change below it);
- the CPU frequency governor where readable (`performance` is what a benchmark wants);
- GPU clocks, where CUDA devices exist: each GPU's SM clock now, its default and maximum, power
  draw against its limit, whether its clocks are locked, NVML's current throttle reasons, and how
  to lock them (`nvidia-smi --lock-gpu-clocks`): an unlocked GPU boosts and throttles with load
  and heat, so the same model reads differently run to run (bench/measure/timing/nvml.py);
- ceilings: achieved matmul GFLOP/s and copy GB/s on the CPU, and on each CUDA device where one
  exists (through the same timer seam the tests fake), so reports can compare models to them.
  Quick mode measures the same problem sizes as the full run with a shorter budget (a ceiling
  belongs to its problem size: a 256x256 matmul on two threads reaches a fraction of a 1024's);
- contention: what other processes took of the cores while the doctor ran;
- a verdict, "fit for benchmarking" or not, with every reason (`verdict`).
"""

from __future__ import annotations

import dataclasses
import datetime
import itertools
import json
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from bench.errors import BenchError
from bench.measure.ceilings import (
    Ceiling,
    CeilingWorkload,
    copy_workload,
    matmul_workload,
    measure_ceiling,
)
from bench.measure.contention import ContentionProbe
from bench.measure.threads import intra_op_threads, numerics_flags, thread_counts
from bench.measure.timing.agreement import (
    AGREEMENT_TOLERANCE,
    Agreement,
    Overhead,
    compare,
    model_callable,
    overhead,
)
from bench.measure.timing.engine import Clock, CpuTimer, CudaTimer, TimingPolicy, measure_latency
from bench.measure.timing.floor import ProcessSpread, measure_in_processes
from bench.measure.timing.nvml import gpu_clocks, lock_advice
from bench.noise_floor import NoiseFloor
from bench.records import CONTENDED_SHARE, Contention

GOVERNOR_GLOB = "cpu*/cpufreq/scaling_governor"
CPU_ROOT = Path("/sys/devices/system/cpu")


@dataclass(frozen=True)
class DoctorSettings:
    rounds: int
    seconds_per_round: float
    min_blocks: int
    noise_repeats: int
    noise_budget_s: float
    matmul_n: int
    copy_bytes: int
    ceiling_budget_s: float
    floor_processes: int = 6  # fresh processes for the A/A noise floor
    floor_budget_s: float = 1.0  # per workload in each of them


FULL = DoctorSettings(5, 1.0, 10, 10, 0.3, 1024, 64 << 20, 1.0)
QUICK = DoctorSettings(1, 0.1, 3, 4, 0.05, 1024, 64 << 20, 0.3, 2, 0.1)
"""Quick: one agreement round, short noise runs, and the full run's ceiling problems with a
0.3 s budget each (a 1024 matmul is ~10 ms at 200 GFLOP/s: warmup to steady state and ten
samples fit)."""

NOISE_CV_LIMIT = 0.02
"""Machine noise (CV of repeated medians) above this: two runs of one model can differ by more
than the 2% a user hopes to resolve between code changes."""
AGREEMENT_SPREAD_LIMIT = 2 * AGREEMENT_TOLERANCE
"""Agreement rounds whose harness/torch ratios span more than the whole +-3% target band: the
same model read differently round to round, so neither timer had a steady machine."""
FIT = "fit for benchmarking"
NOT_FIT = "NOT fit for benchmarking"


@dataclass(frozen=True)
class Noise:
    workload: str
    medians_ms: tuple[float, ...]
    cv: float
    spread: float


@dataclass(frozen=True)
class DoctorReport:
    quick: bool
    threads: int
    interop_threads: int
    clock_declared_resolution_ns: float
    clock_observed_resolution_ns: float
    clock_read_ns: float
    overhead: Overhead
    agreement: tuple[Agreement, ...]
    noise: Noise
    process_spread: ProcessSpread | None  # the same work in fresh processes: the A/A floor
    cpu_governor: tuple[str, ...] | None
    ceilings: tuple[Ceiling, ...]
    cuda: tuple[dict[str, Any], ...]
    numerics_flags: dict[str, Any]
    contention: Contention | None = None  # other processes' CPU over the whole doctor run
    reasons: tuple[str, ...] = ()  # why the machine is not fit (empty: fit)
    gpu_clocks: tuple[dict[str, Any], ...] = ()  # per NVML device: GpuClocks fields + "advice"
    gpu_clocks_unavailable: str | None = None  # why there are none where CUDA devices exist

    @property
    def fit(self) -> bool:
        return not self.reasons

    def to_dict(self) -> dict[str, Any]:
        record = dataclasses.asdict(self)
        record["verdict"] = FIT if self.fit else NOT_FIT
        if self.contention is not None:
            record["contention"]["others_cpu_share"] = self.contention.others_cpu_share
            record["contention"]["contended"] = self.contention.contended
        return record


def unfit_reasons(
    noise: Noise,
    agreement: tuple[Agreement, ...],
    governors: tuple[str, ...] | None,
    contention: Contention | None,
) -> tuple[str, ...]:
    """Every reason this machine's numbers cannot be trusted now (none: fit for benchmarking)."""
    reasons = []
    if noise.cv > NOISE_CV_LIMIT:
        reasons.append(
            f"noise: repeated {noise.workload} medians vary by CV {100 * noise.cv:.1f}%"
            f" (limit {100 * NOISE_CV_LIMIT:g}%)"
        )
    if contention is not None and contention.contended:
        share = contention.others_cpu_share or 0.0
        reasons.append(
            f"contention: other processes took {100 * share:.0f}% of the cores in use"
            f" (limit {100 * CONTENDED_SHARE:g}%; load average {contention.load_avg or 0:.2f})"
        )
    if governors is not None and set(governors) != {"performance"}:
        reasons.append(
            f"governor: CPU frequency governor {', '.join(governors)} (want performance: the"
            " clock speed moves under the benchmark)"
        )
    for a in agreement:
        spread = _ratio_spread(a)
        if spread > AGREEMENT_SPREAD_LIMIT:
            reasons.append(
                f"agreement spread: {a.name} rounds ranged {min(a.ratios):.3f}-{max(a.ratios):.3f}"
                f" ({100 * spread:.0f}% of the median ratio;"
                f" limit {100 * AGREEMENT_SPREAD_LIMIT:g}%)"
            )
        elif not a.met:
            reasons.append(
                f"agreement: {a.name} harness/torch median ratio {a.median_ratio:.3f}"
                f" (target 1 +-{100 * AGREEMENT_TOLERANCE:g}%)"
            )
    return tuple(reasons)


def _ratio_spread(a: Agreement) -> float:
    if len(a.ratios) < 2 or a.median_ratio <= 0:
        return 0.0
    return (max(a.ratios) - min(a.ratios)) / a.median_ratio


def observed_resolution_ns(clock: Clock = time.perf_counter_ns, reads: int = 10_000) -> float:
    """The smallest non-zero step between successive reads (0 if the clock never moved)."""
    values = [clock() for _ in range(reads)]
    steps = [b - a for a, b in itertools.pairwise(values) if b > a]
    return float(min(steps)) if steps else 0.0


def cpu_governors(root: Path = CPU_ROOT) -> tuple[str, ...] | None:
    """The distinct scaling governors of the CPUs, or None where cpufreq is not exposed."""
    found = set()
    for path in sorted(root.glob(GOVERNOR_GLOB)):
        try:
            found.add(path.read_text().strip())
        except OSError:
            continue
    return tuple(sorted(found)) or None


def machine_noise(repeats: int, budget_s: float, n: int = 256) -> Noise:
    """Repeated short measurements of one fixed 256x256 matmul: CV and spread of their medians."""
    workload = matmul_workload("cpu", n)
    policy = TimingPolicy(budget_s=budget_s)
    medians = tuple(
        measure_latency(workload.fn, CpuTimer(), policy).median_ms for _ in range(repeats)
    )
    center = statistics.median(medians)
    cv = statistics.stdev(medians) / statistics.mean(medians) if len(medians) > 1 else 0.0
    return Noise(workload.detail, medians, cv, (max(medians) - min(medians)) / center)


def noise_floor_of(report: DoctorReport) -> NoiseFloor | None:
    """The A/A noise floor this report measured: the largest spread, (max - min) / min, of the
    same work's medians in fresh processes (bench/measure/timing/floor.py), or of the repeated
    measurements in this one where that is larger."""
    noise = report.noise
    spread = report.process_spread
    if spread is not None and not spread.measured:
        return None  # other processes competed: no floor is better than one that says so
    if spread is not None and spread.floor >= noise.spread:
        repeats = len(spread.medians_ms[spread.widest])
        fraction, workload = spread.floor, f"{spread.widest} in {repeats} fresh processes"
    else:
        fraction, workload, repeats = noise.spread, noise.workload, len(noise.medians_ms)
    return NoiseFloor(
        fraction=round(fraction, 4),
        workload=workload,
        repeats=repeats,
        date=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        quick=report.quick,
    )


def cuda_driver_version() -> str | None:
    """The NVIDIA driver version from nvidia-smi (torch exposes only the runtime's)."""
    try:
        done = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    lines = done.stdout.split()
    return lines[0] if done.returncode == 0 and lines else None


WorkloadsFor = Callable[[str], list[CeilingWorkload]]


def default_cuda_workloads(settings: DoctorSettings) -> WorkloadsFor:
    def workloads(device: str) -> list[CeilingWorkload]:
        n = settings.matmul_n * 4  # a GPU needs a larger problem to approach its peak
        return [
            matmul_workload(device, n),
            matmul_workload(device, n, torch.float16),
            copy_workload(device, settings.copy_bytes * 4),
        ]

    return workloads


def cuda_figures(
    backend: Any,
    workloads_for: WorkloadsFor,
    policy: TimingPolicy,
    clock: Clock = time.perf_counter_ns,
    driver: Callable[[], str | None] = cuda_driver_version,
) -> tuple[dict[str, Any], ...]:
    """Name, driver and ceilings of every CUDA device `backend` (torch.cuda) reports."""
    if not backend.is_available():
        return ()
    figures = []
    for index in range(backend.device_count()):
        device = f"cuda:{index}"
        timer = CudaTimer(device, backend, clock)
        ceilings = [measure_ceiling(w, timer, device, policy, clock) for w in workloads_for(device)]
        figures.append(
            {
                "device": device,
                "name": backend.get_device_name(index),
                "driver_version": driver(),
                "cuda_runtime": torch.version.cuda,
                "ceilings": [dataclasses.asdict(c) for c in ceilings],
            }
        )
    return tuple(figures)


def gpu_clock_figures(
    backend: Any, nvml: Any = None
) -> tuple[tuple[dict[str, Any], ...], str | None]:
    """Each GPU's clocks, power and lock state with the advice to lock it, and why there are
    none where NVML could not say (None: nothing to say). Only where `backend` (torch.cuda) has
    devices: a CPU-only machine has no GPU clocks to report, nor a reason to install NVML."""
    if not backend.is_available() or backend.device_count() == 0:
        return (), None
    clocks, why = gpu_clocks(nvml)
    figures = tuple({**dataclasses.asdict(c), "advice": lock_advice(c)} for c in clocks)
    return figures, why or None


def run_doctor(
    quick: bool = False, threads: int | None = None, cuda_backend: Any = None, nvml: Any = None
) -> DoctorReport:
    """Every figure of the module doc, under `threads` intra-op threads (None: torch's); `nvml`
    is the NVML module for the GPU clocks (None: pynvml, where installed)."""
    settings = QUICK if quick else FULL
    backend = torch.cuda if cuda_backend is None else cuda_backend
    ceiling_policy = TimingPolicy(budget_s=settings.ceiling_budget_s)
    with intra_op_threads(threads):
        intra, interop = thread_counts()
        probe = ContentionProbe(intra)
        probe.start()
        cpu_timer = CpuTimer()
        rounds, seconds = settings.rounds, settings.seconds_per_round
        agreement = tuple(
            compare(name, model_callable(name), rounds, seconds, settings.min_blocks)
            for name in ("resnet18_b1", "mlp_b1")
        )
        cpu_ceilings = tuple(
            measure_ceiling(w, cpu_timer, "cpu", ceiling_policy)
            for w in (
                matmul_workload("cpu", settings.matmul_n),
                copy_workload("cpu", settings.copy_bytes),
            )
        )
        noise = machine_noise(settings.noise_repeats, settings.noise_budget_s)
        process_spread = measure_in_processes(
            settings.floor_processes, settings.floor_budget_s, intra
        )
        governors = cpu_governors()
        the_overhead = overhead(rounds, seconds, settings.min_blocks)
        # before the CUDA ceilings: an idle GPU's clocks say whether a lock holds them
        clocks, clocks_unavailable = gpu_clock_figures(backend, nvml)
        cuda = cuda_figures(backend, default_cuda_workloads(settings), ceiling_policy)
        contention = probe.stop()
        return DoctorReport(
            quick=quick,
            threads=intra,
            interop_threads=interop,
            clock_declared_resolution_ns=time.get_clock_info("perf_counter").resolution * 1e9,
            clock_observed_resolution_ns=observed_resolution_ns(),
            clock_read_ns=cpu_timer.overhead_ns(),
            overhead=the_overhead,
            agreement=agreement,
            noise=noise,
            process_spread=process_spread,
            cpu_governor=governors,
            ceilings=cpu_ceilings,
            cuda=cuda,
            numerics_flags=numerics_flags(),
            contention=contention,
            reasons=unfit_reasons(noise, agreement, governors, contention),
            gpu_clocks=clocks,
            gpu_clocks_unavailable=clocks_unavailable,
        )


def write_doctor_json(report: DoctorReport, path: Path) -> None:
    """The figures as JSON, so later reports can read the ceilings (`ceilings`, `cuda`)."""
    try:
        path.write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise BenchError(f"cannot write {path}: {exc.strerror or exc}") from None


def _verdict(met: bool) -> str:
    return "ok" if met else "NOT MET"


def _figure(value: float | None, unit: str, digits: int = 0) -> str:
    return "unknown" if value is None else f"{value:.{digits}f} {unit}"


def render_gpu_clocks(
    clocks: tuple[dict[str, Any], ...], unavailable: str | None = None
) -> list[str]:
    """The GPU clocks section: a line per GPU, and under it how to lock its clocks where they
    are not known to be locked (nothing on a machine without CUDA devices)."""
    if unavailable:
        return [f"GPU clocks: not read ({unavailable})"]
    lines = []
    for gpu in clocks:
        locked = {True: "yes", False: "no", None: "unknown"}[gpu["locked"]]
        reasons = gpu["reasons"]
        reasons_text = "unknown" if reasons is None else ", ".join(reasons) or "none"
        lines.append(
            f"GPU clocks of nvidia-smi GPU {gpu['index']} ({gpu['name'] or 'unknown'}):"
            f" SM {_figure(gpu['sm_mhz'], 'MHz')} now, default"
            f" {_figure(gpu['default_sm_mhz'], 'MHz')}, max {_figure(gpu['max_sm_mhz'], 'MHz')};"
            f" power {_figure(gpu['power_draw_w'], 'W', 1)}, limit"
            f" {_figure(gpu['power_limit_w'], 'W')} (default"
            f" {_figure(gpu['default_power_limit_w'], 'W')}); locked: {locked};"
            f" throttle reasons: {reasons_text}"
        )
        if gpu["locked"] is not True:
            lines.append(f"  {gpu['advice']}")
    return lines


def render_doctor(report: DoctorReport) -> str:
    """Human-readable lines, each figure with its target where it has one."""
    lines = [
        f"bench doctor{' (quick: rough figures)' if report.quick else ''}",
        f"threads: {report.threads} intra-op, {report.interop_threads} inter-op",
        f"clock: perf_counter_ns declared resolution {report.clock_declared_resolution_ns:.0f} ns,"
        f" observed step {report.clock_observed_resolution_ns:.0f} ns,"
        f" one read {report.clock_read_ns:.0f} ns",
        f"overhead on a no-op: harness {report.overhead.harness_ns:.1f} ns/iter,"
        f" torch.utils.benchmark {report.overhead.torch_ns:.1f} ns/iter,"
        f" difference {report.overhead.difference_ns:+.1f} ns"
        f" (target <= +1000 ns: {_verdict(report.overhead.met)})",
    ]
    for a in report.agreement:
        ratios = ", ".join(f"{r:.3f}" for r in a.ratios)
        lines.append(
            f"agreement {a.name} ({a.threads} threads): harness/torch median ratio"
            f" {a.median_ratio:.3f} over rounds [{ratios}]; harness"
            f" {statistics.median(a.harness_median_ms):.4f} ms, torch"
            f" {statistics.median(a.torch_median_ms):.4f} ms (target +-3%: {_verdict(a.met)})"
        )
    noise = report.noise
    lines.append(
        f"machine noise: {len(noise.medians_ms)} short runs of a {noise.workload} matmul:"
        f" CV {100 * noise.cv:.1f}%, spread (max-min)/median {100 * noise.spread:.1f}%"
    )
    spread = report.process_spread
    if spread is not None:
        left_out = (
            f" ({spread.contended_processes} contended process(es) left out)"
            if spread.contended_processes
            else ""
        )
        if spread.measured:
            parts = [
                f"{w} {', '.join(f'{m:.4g}' for m in spread.medians_ms[w])} ms"
                f" (spread {100 * spread.spread(w):.1f}%)"
                for w in spread.medians_ms
            ]
            lines.append(
                f"between fresh processes: {'; '.join(parts)}; A/A noise floor"
                f" {100 * spread.floor:.1f}%{left_out}"
            )
        else:  # fewer than two clean processes: a spread of nothing is not 0%
            lines.append(
                "between fresh processes: not measured, fewer than two processes ran "
                f"uncontended{left_out}; A/A noise floor not measured (run bench doctor on a "
                "quiet machine)"
            )
    governor = ", ".join(report.cpu_governor) if report.cpu_governor else "not readable"
    lines.append(f"CPU frequency governor: {governor}")
    for c in report.ceilings:
        lines.append(f"ceiling {c.device} {c.name} ({c.detail}): {c.value:.1f} {c.unit}")
    if not report.cuda:
        lines.append("CUDA: no device")
    for gpu in report.cuda:
        lines.append(
            f"CUDA {gpu['device']}: {gpu['name']}, driver {gpu['driver_version'] or 'unknown'},"
            f" runtime {gpu['cuda_runtime']}"
        )
        for c in gpu["ceilings"]:
            lines.append(
                f"ceiling {c['device']} {c['name']} ({c['detail']}): {c['value']:.1f} {c['unit']}"
            )
    lines += render_gpu_clocks(report.gpu_clocks, report.gpu_clocks_unavailable)
    flags = ", ".join(f"{k}={v}" for k, v in report.numerics_flags.items())
    lines.append(f"numerics flags (recorded, not changed): {flags}")
    c = report.contention
    if c is not None and c.others_cpu_share is not None:
        lines.append(
            f"contention: other processes took {100 * c.others_cpu_share:.0f}% of the"
            f" {c.cores_needed} core(s) in use over {c.wall_s:.1f} s"
            f" ({c.cores} cores; 1-minute load average {c.load_avg or 0:.2f})"
        )
    rough = " (quick: rough figures)" if report.quick else ""
    if report.fit:
        lines.append(f"verdict: {FIT}{rough}")
    else:
        lines.append(f"verdict: {NOT_FIT}{rough}:")
        lines += [f"  - {reason}" for reason in report.reasons]
    return "\n".join(lines)
