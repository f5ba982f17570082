"""Count instructions under valgrind's callgrind: one valgrind process for every case of a run.

Starting Python and importing torch under valgrind costs most of a `collect_callgrind` call
(388 s for three repeats of one MLP on a loaded 2-core VM), and it is paid once per process: so
the run starts one worker (bench.measure.instructions.worker) for all its CPU cases that ask for
instructions, before the cases are measured, and each case's row then takes its count from the
result. The worker's start-up runs with instrumentation off (36 s here against 126 s with it on).

A run always ends: the worker gets a start-up allowance plus every case's timeout, and is killed
past it; the cases it did not reach get an empty cell that says so. valgrind missing (another
OS, no package) is the same: an empty cell with the reason, nothing fails.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from bench.measure.instructions.worker import WorkerSpec, counting_key
from bench.records import Case, CaseKey, InstructionCount

SOURCE = "callgrind"
STARTUP_S = 600.0  # python + torch under valgrind: 36 s on an idle 2-core VM; loaded, far more
CALLS = 1  # calls per repeat: a count is exact, so more calls only cost valgrind time
REPEATS = 3  # the minimum over these is the count
TOP_FUNCTIONS = 15
POLL_S = 0.5
NO_VALGRIND = (
    "valgrind not found: install it from the OS packages (apt-get install valgrind) to count "
    "instructions where the CPU's counter is hidden"
)

WORKER_MODULE = "bench.measure.instructions.worker"
WORKER_ENVIRONMENT = {
    # one intra-op thread, and the same string hashes in every run: both change what runs
    "PYTHONHASHSEED": "0",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    # valgrind emulates AVX2's fused multiply-add in software: resnet18's b1 forward took 85 s
    # under valgrind (instrumentation off) against 1.4 s with torch, oneDNN and MKL held to
    # their SSE4 kernels. The count is of those kernels' instructions: the same in every run,
    # which is what a gate needs, but not what an AVX2 machine retires (the row says so).
    "ATEN_CPU_CAPABILITY": "default",
    "ONEDNN_MAX_CPU_ISA": "SSE41",
    "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
}

Progress = Callable[[int, int], None]
"""Called with (cases counted so far, cases to count) as the worker finishes each."""


@dataclass(frozen=True)
class Interpreter:
    """Where the worker runs: `bench ab` counts each side with its own Python, directory and
    import path; `bench run` with its own."""

    python: str = sys.executable
    cwd: Path | None = None
    pythonpath: tuple[str, ...] = ()

    def environment(self) -> dict[str, str]:
        env = {**os.environ, **WORKER_ENVIRONMENT}
        if self.pythonpath:
            env["PYTHONPATH"] = os.pathsep.join(
                [*self.pythonpath, *filter(None, [os.environ.get("PYTHONPATH")])]
            )
        return env


def count_under_callgrind(
    cases: Sequence[Case],
    timeouts_s: Sequence[float],
    progress: Progress | None = None,
    valgrind: str | None = None,
) -> dict[CaseKey, InstructionCount]:
    """Each case's count (or why none), by counting_key; cases with the same key count once
    (WorkerSpec.chosen)."""
    spec = WorkerSpec(
        cases=tuple(cases),
        timeouts_s=tuple(timeouts_s),
        calls=CALLS,
        repeats=REPEATS,
        top=TOP_FUNCTIONS,
        dump_base="",
    )
    chosen = spec.chosen()
    if not chosen:
        return {}
    deadline_s = STARTUP_S + sum(timeout for _, timeout in chosen)
    counts, ended = run_worker(spec, Interpreter(), deadline_s, len(chosen), progress, valgrind)
    missing = InstructionCount(per_call=None, reason=ended or "not counted")
    keys = [counting_key(case) for case, _ in chosen]
    return {key: counts.get(key, missing) for key in keys}


def run_worker(
    spec: WorkerSpec,
    interpreter: Interpreter,
    deadline_s: float,
    expected: int | None = None,
    progress: Progress | None = None,
    valgrind: str | None = None,
    module: str = WORKER_MODULE,
) -> tuple[dict[CaseKey, InstructionCount], str]:
    """Run one worker (`python -m MODULE`) over `spec` under valgrind: the counts it wrote by
    key, and, if it stopped before it finished, why (the reason for every case it did not
    reach)."""
    valgrind = valgrind or shutil.which("valgrind")
    if valgrind is None or shutil.which("callgrind_control") is None:
        return {}, NO_VALGRIND
    with tempfile.TemporaryDirectory(prefix="bench-callgrind-") as name:
        folder = Path(name)
        spec = replace(spec, dump_base=str(folder / "callgrind.out"))
        spec_path = folder / "spec.pickle"
        results_path = folder / "results.jsonl"
        log_path = folder / "worker.log"
        spec_path.write_bytes(pickle.dumps(spec))
        command = [
            valgrind,
            "--tool=callgrind",
            "--instr-atstart=no",
            "--collect-atstart=no",
            f"--callgrind-out-file={spec.dump_base}",
            "--compress-strings=no",
            "--compress-pos=no",
            f"--log-file={folder / 'valgrind.log'}",
            interpreter.python,
            "-m",
            module,
            str(spec_path),
            str(results_path),
            str(os.getpid()),
        ]
        started = time.monotonic()
        with log_path.open("wb") as log:
            worker = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=interpreter.environment(),
                cwd=interpreter.cwd or Path.cwd(),
            )
            try:
                records = _wait(worker, results_path, expected, started + deadline_s, progress)
            finally:
                if worker.poll() is None:
                    worker.kill()
                    worker.wait()
        counts = {CaseKey(**record["key"]): _count_of(record) for record in records}
        if worker.returncode == 0:
            return counts, ""
        if time.monotonic() >= started + deadline_s:
            return counts, f"valgrind worker stopped after {deadline_s:g} s before this case"
        tail = " ".join(log_path.read_text(errors="replace").split()[-30:])
        exited = f"valgrind worker exited ({worker.returncode}) before this case: {tail}"
        return counts, exited[:300]


def _wait(
    worker: subprocess.Popen,
    results_path: Path,
    expected: int | None,
    deadline: float,
    progress: Progress | None,
) -> list[dict]:
    """The records, once the worker exits or the deadline passes."""
    records: list[dict] = []
    while True:
        finished = worker.poll() is not None
        before = len(records)
        records = _read_records(results_path)
        if progress is not None and expected is not None and len(records) != before:
            progress(len(records), expected)
        if finished or time.monotonic() >= deadline:
            return records
        time.sleep(POLL_S)


def _read_records(path: Path) -> list[dict]:
    """The complete lines written so far (a line being written is read on the next poll)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines(keepends=True) if line.endswith("\n")]


def _count_of(record: dict) -> InstructionCount:
    if record.get("per_call") is None:
        return InstructionCount(per_call=None, reason=record.get("reason") or "not counted")
    return InstructionCount(
        per_call=int(record["per_call"]),
        source=SOURCE,
        calls=int(record["calls"]),
        repeats=tuple(int(r) for r in record["repeats"]),
        threads=1,
        top_functions=tuple((str(name), int(count)) for name, count in record["top"]),
    )
