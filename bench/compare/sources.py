"""Read one side of a comparison: a bench run directory or a pytest-benchmark JSON file.

Only raw samples can say whether two medians differ by more than noise, so both readers insist on
them: a run directory's run.json holds every case's per-iteration samples, and pytest-benchmark
keeps them (`stats.data`, in seconds) only when it ran with `--benchmark-save-data`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.records import CaseKey, key_of_entry
from bench.stats import block_medians, grouped_block_medians
from bench.store.readback import read_record

PYTEST_BENCHMARK = "pytest-benchmark"  # the CaseKey kind of a pytest-benchmark test
# pytest-benchmark rounds are grouped into this many blocks of consecutive rounds: rounds
# milliseconds apart share the machine's momentary state, so they are not independent samples;
# enough blocks for an interval, few enough that each spans rounds far enough apart to drift
BLOCKS_PER_SIDE = 10
NOISY_IQR_FRACTION = 0.10  # the same rule as a run's `noisy` column, for files that lack it


class CompareError(BenchError):
    """A BASE or NEW that cannot be compared (missing, not a run, no raw samples)."""


@dataclass(frozen=True)
class SideCase:
    """One case of one side: its identity, raw latency samples and deterministic figures."""

    key: CaseKey  # bench.records.keys: what pairs a BASE row with a NEW row
    status: str
    samples_ms: tuple[float, ...] = ()
    noisy: bool = False
    contended: bool = False
    params: int | None = None
    macs: int | None = None
    peak_memory_bytes: int | None = None
    error: str = ""
    threads: str = ""  # "intra/inter" the case ran with ("" when the source does not say)
    # every input's full shape (`1x3x224x224`): not part of the key, so a case whose input
    # changed between the runs pairs up and is named, not silently dropped
    shape: str = ""
    steady: bool | None = None  # False: warmup never settled before the samples were taken
    # consecutive raw samples that form one block, the unit every interval is computed from
    # (1: each sample is its own block, as in records made before blocks existed)
    samples_per_block: int = 1
    drifting: bool = False  # the blocks disagree beyond the interval they imply
    # `--processes N`: (samples, samples per block) of each worker process, in run order
    process_sizes: tuple[tuple[int, int], ...] = ()
    definition: str = ""  # the suite's definition of the case (model code included), as JSON
    instructions: int | None = None  # retired instructions per call (`--metrics instructions`)
    throttled: bool = False  # CUDA: some samples ran below 75% of the default SM clock

    @property
    def label(self) -> str:
        return self.key.label

    def block_groups(self) -> list[list[float]]:
        """The block medians per worker process (one group without `--processes`): the unit
        every interval on this case is computed from."""
        if len(self.process_sizes) > 1:
            return grouped_block_medians(self.samples_ms, self.process_sizes)
        return [block_medians(self.samples_ms, self.samples_per_block)]


@dataclass(frozen=True)
class RunSamples:
    """One side: where it came from, what it ran on, and its cases in their run order."""

    source: str
    kind: str  # "run" or "pytest-benchmark"
    title: str
    date: str
    environment: Mapping[str, str]
    hardware: Mapping[str, str]  # device family ("cpu", "cuda") -> the hardware's name
    cases: tuple[SideCase, ...]
    duplicates: tuple[str, ...] = field(default=())  # labels of rows that repeat a case key
    # this machine's A/A noise floor when the run was made (bench doctor), None: not measured
    noise_floor: float | None = None
    # where that floor came from, in words (what, how many repeats, when, quick or not)
    noise_floor_source: str = ""
    # what code made the run: bench's git commit, torch, Python; "" when not known or the
    # working tree had uncommitted changes (then no other run can be known to be the same code)
    code: str = ""


def load_side(path: Path) -> RunSamples:
    """A run directory (or its run.json), or a pytest-benchmark JSON file."""
    if path.name == "run.json" and path.is_file():
        path = path.parent
    if path.is_dir():
        record = read_record(path, CompareError)
        return _from_run(path / "run.json", record)
    if not path.is_file():
        raise CompareError(f"{path}: not found; give a run directory or a pytest-benchmark JSON")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CompareError(f"{path}: unreadable JSON ({type(exc).__name__})") from None
    if isinstance(record, dict) and isinstance(record.get("cases"), list):
        return _from_run(path, record)
    if isinstance(record, dict) and isinstance(record.get("benchmarks"), list):
        return _from_pytest_benchmark(path, record)
    raise CompareError(f"{path}: neither a bench run.json nor a pytest-benchmark JSON file")


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _iqr_noisy(samples: tuple[float, ...]) -> bool:
    if len(samples) < 2:
        return False
    ordered = sorted(samples)

    def quartile(q: float) -> float:  # linear interpolation, as numpy's default
        position = q * (len(ordered) - 1)
        low = math.floor(position)
        high = min(low + 1, len(ordered) - 1)
        return ordered[low] + (ordered[high] - ordered[low]) * (position - low)

    median = quartile(0.5)
    return median > 0 and (quartile(0.75) - quartile(0.25)) / median > NOISY_IQR_FRACTION


def _samples(values: Any, scale: float) -> tuple[float, ...]:
    if not isinstance(values, list):
        return ()
    return tuple(float(v) * scale for v in values if isinstance(v, int | float))


def _run_case(path: Path, number: int, entry: Any) -> SideCase:
    try:
        key, backoff_batch = key_of_entry(entry)
    except (AttributeError, KeyError, TypeError, ValueError):
        raise CompareError(f"{path}: case {number} is malformed") from None
    if backoff_batch is not None:  # ran a smaller batch than the case asked for: its own row
        key = replace(key, variant=f"{key.variant} backoff b{backoff_batch}".strip())
    samples = _samples(entry.get("latency_samples_ms"), 1.0)
    noisy = entry.get("noisy")
    return SideCase(
        key=key,
        status=str(entry.get("status") or ""),
        samples_ms=samples,
        noisy=_truthy(noisy) if noisy is not None else _iqr_noisy(samples),
        contended=_truthy(entry.get("contended")),
        steady=None if entry.get("steady") in (None, "") else _truthy(entry.get("steady")),
        samples_per_block=_int_or_none(entry.get("samples_per_block")) or 1,
        process_sizes=_process_sizes(entry.get("latency_process_sizes"), len(samples)),
        definition=json.dumps(entry.get("definition"), sort_keys=True, default=str),
        drifting=_truthy(entry.get("drifting")),
        params=_int_or_none(entry.get("params")),
        macs=_int_or_none(entry.get("macs")),
        peak_memory_bytes=_int_or_none(entry.get("peak_memory_bytes")),
        error=str(entry.get("error") or ""),
        threads=(
            f"{entry['threads']}/{entry.get('interop_threads')}" if entry.get("threads") else ""
        ),
        shape=str(entry.get("input_shape") or ""),
        instructions=_int_or_none(entry.get("instructions")),
        throttled=_truthy(entry.get("throttled")),
    )


def _process_sizes(value: Any, samples: int) -> tuple[tuple[int, int], ...]:
    """Per-process (samples, samples per block) pairs; () when absent or not adding up."""
    if not isinstance(value, list) or len(value) < 2:
        return ()
    pairs = [p for p in value if isinstance(p, list) and len(p) == 2]
    sizes = tuple(
        (int(n), max(1, int(k))) for n, k in pairs if isinstance(n, int) and isinstance(k, int)
    )
    return sizes if len(sizes) == len(value) and sum(n for n, _ in sizes) == samples else ()


def _dedupe(cases: list[SideCase]) -> tuple[tuple[SideCase, ...], tuple[str, ...]]:
    """The first row of each key; a repeated key (e.g. a resumed duplicate) is named, not used."""
    seen: set[CaseKey] = set()
    kept, repeated = [], []
    for case in cases:
        if case.key in seen:
            repeated.append(case.label)
            continue
        seen.add(case.key)
        kept.append(case)
    return tuple(kept), tuple(repeated)


def _from_run(path: Path, record: dict[str, Any]) -> RunSamples:
    env = record.get("environment") if isinstance(record.get("environment"), dict) else {}
    entries = enumerate(record["cases"], start=1)
    cases, repeated = _dedupe([_run_case(path, number, e) for number, e in entries])
    gpus = [d.get("name", "?") for d in env.get("cuda_devices") or [] if isinstance(d, dict)]
    environment = {
        "torch": str(env.get("torch")),
        "torchvision": str(env.get("torchvision")),
        "python": str(env.get("python")),
        "CPU": f"{env.get('cpu_model')} ({env.get('cpu_count')} logical cores)",
        "GPUs": ", ".join(gpus) or "none",
        "CUDA": str(env.get("cuda_version")),
        "threads (intra-op / inter-op)": (
            f"{env.get('torch_num_threads')} / {env.get('torch_num_interop_threads')}"
        ),
        "cuDNN benchmark": str(env.get("cudnn_benchmark")),
        "TF32 matmul / cuDNN": f"{env.get('tf32_matmul')} / {env.get('tf32_cudnn')}",
        "float32 matmul precision": str(env.get("float32_matmul_precision")),
        "bench": str(env.get("bench_version")),
    }
    return RunSamples(
        source=str(path.parent),
        kind="run",
        title=str(record.get("suite_name") or "?"),
        date=str(env.get("date") or "?"),
        environment=environment,
        hardware={"cpu": str(env.get("cpu_model")), "cuda": ", ".join(gpus) or "none"},
        cases=cases,
        duplicates=repeated,
        noise_floor=_floor(env.get("noise_floor")),
        noise_floor_source=floor_source(env.get("noise_floor")),
        code=_code(env),
    )


def _code(env: Mapping[str, Any]) -> str:
    """The run's code identity; "" without a commit or with uncommitted changes."""
    commit = env.get("git_commit")
    if not isinstance(commit, str) or not commit or commit.endswith("+dirty"):
        return ""
    return f"{commit} torch {env.get('torch')} python {env.get('python')}"


def _floor(value: Any) -> float | None:
    """The recorded floor's fraction, from run.json's `environment.noise_floor` record."""
    if isinstance(value, dict):
        value = value.get("fraction")
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return None


def floor_source(value: Any) -> str:
    """How a recorded floor was measured, for the footnote: a floor from `bench doctor --quick`
    (one in-process matmul, a few repeats) is a weaker floor than 6 fresh processes, and says so."""
    if not isinstance(value, dict):
        return ""
    parts = [str(value.get("workload") or "?")]
    if isinstance(value.get("repeats"), int):
        parts.append(f"{value['repeats']} repeats")
    if value.get("date"):
        parts.append(str(value["date"])[:10])
    how = "`bench doctor --quick`" if value.get("quick") else "`bench doctor`"
    weak = (
        "; quick: fewer, shorter measurements, so run `bench doctor` for a firmer one"
        if value.get("quick")
        else ""
    )
    return f"{how}: {', '.join(parts)}{weak}"


def benchmark_has_samples(bench: Mapping[str, Any]) -> bool:
    """Whether a pytest-benchmark row kept its raw rounds (`--benchmark-save-data`): without them
    no interval can be computed, only a comparison of summaries that cannot tell noise from a
    change."""
    stats = bench.get("stats")
    return isinstance(stats, Mapping) and "data" in stats


def _benchmark_case(path: Path, bench: dict[str, Any]) -> SideCase:
    if not benchmark_has_samples(bench):
        name = str(bench.get("fullname") or bench.get("name") or "?")
        raise CompareError(
            f"{path}: {name}: no raw samples; save the run with --benchmark-save-data"
        )
    return side_case_of_benchmark(bench)


def rounds_per_block(rounds: int) -> int:
    """Consecutive pytest-benchmark rounds per block, for about BLOCKS_PER_SIDE blocks (one
    round each when there are fewer rounds than that)."""
    return max(1, rounds // BLOCKS_PER_SIDE)


def side_case_of_benchmark(bench: Mapping[str, Any]) -> SideCase:
    """One pytest-benchmark row (a saved JSON's, or a live run's `as_dict()`) as a SideCase.

    The test id is the model; extra_info may say the rest. One function for files and live
    runs, so `bench compare` on saved JSON and the plugin's `--bench-gate` pair and judge the
    same rows the same way. A row without raw samples is an `error` case with none.
    """
    name = str(bench.get("fullname") or bench.get("name") or "?")
    extra = bench.get("extra_info") if isinstance(bench.get("extra_info"), dict) else {}
    stats = bench.get("stats") if isinstance(bench.get("stats"), dict) else {}
    samples = _samples(stats.get("data"), 1000.0)  # pytest-benchmark stores seconds
    batch = extra.get("batch_size")
    key = CaseKey(
        kind=PYTEST_BENCHMARK,
        name=name,
        device=str(extra.get("device") or "cpu"),
        dtype=str(extra.get("dtype") or ""),
        batch=batch if isinstance(batch, int) and not isinstance(batch, bool) else None,
        mode=str(extra.get("mode") or "eval"),
        variant=str(extra.get("variant") or ""),
        dims=str(extra.get("dims") or ""),
    )
    per_block = rounds_per_block(len(samples))
    return SideCase(
        key=key,
        status="ok" if samples else "error",
        samples_ms=samples,
        samples_per_block=per_block,
        # over blocks, as a run's `noisy` is: single rounds of a sub-millisecond step spread
        # well past 10% on any shared machine, which vetoed every verdict, a 2.5x slowdown's too
        noisy=_iqr_noisy(tuple(block_medians(samples, per_block))),
        contended=_truthy(extra.get("contended")),
        # False: bench's warmup ran out before the calls settled (bench_model, a suite case)
        steady=extra.get("warmup_steady") if isinstance(extra.get("warmup_steady"), bool) else None,
        params=_int_or_none(extra.get("params")),
        macs=_int_or_none(extra.get("macs")),
        peak_memory_bytes=_int_or_none(extra.get("peak_memory_bytes")),
        shape=str(extra.get("input_shape") or ""),
        instructions=_int_or_none(extra.get("instructions")),
    )


def _from_pytest_benchmark(path: Path, record: dict[str, Any]) -> RunSamples:
    machine = record.get("machine_info") if isinstance(record.get("machine_info"), dict) else {}
    cpu = machine.get("cpu") if isinstance(machine.get("cpu"), dict) else {}
    cpu_name = str(cpu.get("brand_raw") or machine.get("processor") or "?")
    commit = record.get("commit_info") if isinstance(record.get("commit_info"), dict) else {}
    raw = [_benchmark_case(path, b) for b in record["benchmarks"] if isinstance(b, dict)]
    cases, repeated = _dedupe(raw)
    environment = {
        "python": str(machine.get("python_version")),
        "CPU": f"{cpu_name} ({cpu.get('count')} logical cores)",
        "machine": str(machine.get("node")),
        "commit": str(commit.get("id")),
    }
    return RunSamples(
        source=str(path),
        kind="pytest-benchmark",
        title=path.stem,
        date=str(record.get("datetime") or "?"),
        environment=environment,
        hardware={"cpu": cpu_name},
        cases=cases,
        duplicates=repeated,
    )
