"""What runs inside valgrind: every case that asks for instructions, one after another.

Started by bench.measure.instructions.callgrind as
`valgrind --tool=callgrind --instr-atstart=no --collect-atstart=no ... python -m
bench.measure.instructions.worker SPEC RESULTS PARENT_PID`. Importing torch under valgrind with
instrumentation on is what made `collect_callgrind` cost minutes per repeat (126 s here for
one MLP, against 36 s with it off): so instrumentation stays off while Python starts, models
are built and warmed up, and `callgrind_control` switches it on for each case's counted calls
only. Within those, collection is toggled on around each call alone (torch's callgrind
bindings, as collect_callgrind does), and each repeat ends in its own dump file.

Each case's outcome is appended to RESULTS as one JSON line as soon as it is known, so a
worker that dies or is stopped still leaves the counts it finished.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from bench.measure.instructions.calls import count_calls, warm_up
from bench.measure.instructions.dumps import Dump, read_dump
from bench.measure.process_guard import die_with_parent
from bench.measure.watchdog import CaseTimeout, case_guard
from bench.model.downloads import block_downloads
from bench.model.factory import build_model
from bench.model.inputs import make_input
from bench.model.variants import autocast, compile_model
from bench.model.workload import make_workload
from bench.records import Case, CaseKey

CONTROL_TIMEOUT_S = 120.0  # callgrind_control reaches the worker through vgdb, which polls


@dataclass(frozen=True)
class WorkerSpec:
    """What the worker counts and how; pickled by the parent into a private folder."""

    cases: tuple[Case, ...]
    timeouts_s: tuple[float, ...]
    calls: int
    repeats: int
    top: int  # functions kept per case
    dump_base: str  # callgrind's --callgrind-out-file; each dump is DUMP_BASE.N
    # when set, the cases are this suite's CPU model cases, loaded by the worker itself (see
    # bench.ab.count_worker): `bench ab` counts each side's own suite that way, importing
    # neither side's code into its own process
    suite: str | None = None

    def chosen(self, cases: Sequence[tuple[Case, float]] | None = None) -> list[tuple[Case, float]]:
        """The cases to count with their timeouts (the spec's own unless given), one per
        counting key."""
        pairs = list(zip(self.cases, self.timeouts_s, strict=True)) if cases is None else cases
        unique: dict[CaseKey, tuple[Case, float]] = {}
        for case, timeout_s in pairs:
            unique.setdefault(counting_key(case), (case, timeout_s))
        return list(unique.values())


def counting_key(case: Case) -> CaseKey:
    """The key a count is filed under: a case's repeats (`--repeat N`) share one count, since
    it does not change between them."""
    return case.key if case.repeat is None else replace(case, repeat=None).key


class CallgrindMeter:
    """A calls.Meter over callgrind's collection toggle; a repeat's total is read from its dump."""

    def __init__(self, dump_base: str) -> None:
        self._base = Path(dump_base)
        self.collecting = False
        self.dumps: list[Dump] = []

    def begin(self) -> None:
        torch._C._valgrind_toggle()
        self.collecting = True

    def end(self, last: bool) -> None:
        if last:
            torch._C._valgrind_toggle_and_dump_stats()
        else:
            torch._C._valgrind_toggle()
        self.collecting = False

    def total(self) -> int | None:
        dump = self._newest_dump()
        if dump is None:
            return None
        self.dumps.append(dump)
        return dump.total

    def stop(self) -> None:
        """Collection off, whatever a failed call left it as."""
        if self.collecting:
            torch._C._valgrind_toggle()
            self.collecting = False

    def _newest_dump(self) -> Dump | None:
        """The highest-numbered dump; every dump file found is removed (each is read once)."""
        numbered = sorted(
            (int(path.name.rsplit(".", 1)[1]), path)
            for path in self._base.parent.glob(f"{self._base.name}.*")
            if path.name.rsplit(".", 1)[1].isdigit()
        )
        if not numbered:
            return None
        dump = read_dump(numbered[-1][1])
        for _, path in numbered:
            path.unlink(missing_ok=True)
        return dump


CaseSource = Callable[[WorkerSpec], Sequence[tuple[Case, float]] | None]


def main(argv: list[str], cases_of: CaseSource = lambda spec: None) -> int:
    """Count the spec's cases (or those `cases_of(spec)` gives), appending one line each."""
    spec_path, results_path, parent_pid = Path(argv[0]), Path(argv[1]), int(argv[2])
    die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what Ctrl-C means
    spec: WorkerSpec = pickle.loads(spec_path.read_bytes())  # our own file, in a private folder
    torch.set_num_threads(1)  # instructions are deterministic on one intra-op thread only
    for case, timeout_s in spec.chosen(cases_of(spec)):
        key = dataclasses.asdict(counting_key(case))
        record = {"key": key, **_count_guarded(case, spec, timeout_s)}
        with results_path.open("a", encoding="utf-8") as results:
            results.write(json.dumps(record) + "\n")
    return 0


def _count_guarded(case: Case, spec: WorkerSpec, timeout_s: float) -> dict[str, Any]:
    try:
        with case_guard(timeout_s), block_downloads():
            return _count(case, spec)
    except CaseTimeout:
        return {"reason": f"no count within {timeout_s:g} s under valgrind (--timeout)"}
    except BaseException as exc:  # the model's failure is that case's reason, not the worker's
        text = " ".join(str(exc).split())[:200]
        return {"reason": f"failed under valgrind: {type(exc).__name__}: {text}"}


def _count(case: Case, spec: WorkerSpec) -> dict[str, Any]:
    model = build_model(case)
    if case.compile != "eager":
        model = compile_model(model, case.compile)
    workload = make_workload(model, make_input(case), case.mode, autocast(case.dtype, case.device))
    meter = CallgrindMeter(spec.dump_base)
    with workload.context():
        warm_up(workload)
        _instrumentation("on")
        try:
            counted = count_calls(workload, meter, spec.calls, spec.repeats)
        finally:
            meter.stop()
            _instrumentation("off")
    if counted is None:
        return {"reason": "callgrind counted no instructions for the calls"}
    smallest = min(meter.dumps, key=lambda dump: dump.total)
    return {
        "per_call": counted.per_call,
        "repeats": list(counted.per_repeat),
        "calls": counted.calls,
        "top": [list(pair) for pair in smallest.top(spec.top, counted.calls)],
    }


def _instrumentation(state: str) -> None:
    """Switch callgrind's instrumentation for this process (`callgrind_control -i on|off`)."""
    done = subprocess.run(
        ["callgrind_control", "-i", state, str(os.getpid())],
        capture_output=True,
        text=True,
        timeout=CONTROL_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        said = " ".join((done.stderr or done.stdout).split())[:200]
        raise RuntimeError(f"callgrind_control -i {state} failed: {said}")


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    os._exit(code)  # threads a model left running must not keep valgrind alive
