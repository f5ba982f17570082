"""`--isolate`: measure one case in a fresh process, so a crash is that case's row, not the run's.

A segfault or abort in a model (a bad custom op, a driver fault) kills the process it runs in; in
a worker that is one `error` row. A fresh process also means the memory figures start from an
empty allocator and no earlier case's caches or compiled kernels warm this one up.

Workers start with multiprocessing's `spawn` (never `fork`: forking a process that has
initialised CUDA or OpenMP threads is unsafe). The worker ignores SIGINT; on Ctrl-C the parent
stops it and the interruption propagates as in an in-process run.

The parent never waits forever. It waits a bounded time for the worker to start, then the case's
timeout (plus a grace for the worker's own timeout row) for the result, and kills a worker past
it: that is the `timeout` row of a model stuck in C, which no in-process timer can interrupt.
After the result, the worker gets a bounded join, then SIGTERM, then SIGKILL (a model that left a
non-daemon thread running would otherwise keep it alive). The worker exits with `os._exit` right
after sending its result, so such threads cannot hold it either.

No worker outlives `bench`: on Linux the worker asks the kernel for SIGKILL when its parent dies
(`prctl(PR_SET_PDEATHSIG)`), so even `kill -9` of the parent takes the worker (and with it
multiprocessing's resource tracker, which exits when its last client does). A worker whose
parent is already gone when it starts exits at once.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
from dataclasses import replace
from multiprocessing.connection import Connection
from typing import Any

from bench.durations import describe_seconds
from bench.measure.case import RunOptions, measure_case
from bench.measure.process_guard import die_with_parent
from bench.records import Case, Result

STARTUP_S = 300.0  # spawn + importing torch; generous for a loaded machine
GRACE_S = 10.0  # past the case's timeout: time for the worker's own `timeout` row to arrive
JOIN_S = 5.0  # after the result: how long a worker may take to exit before SIGTERM, then SIGKILL
_STARTED = "started"
_NOTHING = object()  # no message in time (as opposed to None: the worker closed the pipe)


def measure_isolated(case: Case, options: RunOptions) -> Result:
    """measure_case in a spawned worker; a worker that dies or hangs gives a row saying how."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    worker = context.Process(
        target=_worker,
        args=(case, options, sender, os.getpid()),
        name=f"bench {case.label}",
        daemon=True,
    )
    worker.start()
    sender.close()  # the worker holds the only writer, so its death ends recv() with EOFError
    timeout_s = options.timeout_for(case)
    result: Any = None
    started: Any = None
    try:
        started = _receive(receiver, STARTUP_S)
        if started == _STARTED:
            result = _receive(receiver, timeout_s + GRACE_S)
    finally:
        receiver.close()
        _stop(worker, JOIN_S if isinstance(result, Result) else 0.0)
    if isinstance(result, Result):
        return result
    if started is _NOTHING:
        return Result(
            case=case,
            status="error",
            error=f"worker process did not start within {describe_seconds(STARTUP_S)}",
        )
    if result is _NOTHING:
        return Result(
            case=case,
            status="timeout",
            error=f"no result within {describe_seconds(timeout_s)} (--timeout); worker killed",
            detail=f"isolated worker for {case.label} was killed after {timeout_s:g} s\n",
        )
    how = _describe_exit(worker.exitcode)
    return Result(
        case=case,
        status="error",
        error=f"worker process died ({how}) before reporting a result",
        detail=f"isolated worker for {case.label} exited with code {worker.exitcode} ({how})\n",
    )


def _receive(receiver: Connection, seconds: float) -> Any:
    """The next message; _NOTHING if none comes within `seconds`; None if the worker is gone."""
    try:
        if not receiver.poll(seconds):
            return _NOTHING
        return receiver.recv()
    except (EOFError, OSError):
        return None


def _stop(worker: Any, join_s: float) -> None:
    """Bounded join, then SIGTERM, then SIGKILL: never wait on a worker forever."""
    worker.join(join_s)
    if worker.is_alive():
        worker.terminate()
        worker.join(JOIN_S)
    if worker.is_alive():
        worker.kill()
        worker.join(JOIN_S)


def _worker(case: Case, options: RunOptions, sender: Connection, parent_pid: int) -> None:
    die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what Ctrl-C means
    code = 0
    try:
        sender.send(_STARTED)
        # the worker's own timer gives a `timeout` row with a traceback; the parent's deadline
        # (the same limit plus a grace) is the backstop for a model stuck in C
        sender.send(measure_case(case, replace(options, isolate=False)))
    except BaseException:
        code = 1
    finally:
        with contextlib.suppress(OSError):
            sender.close()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)  # threads a model left running must not keep the worker alive


def _describe_exit(exitcode: int | None) -> str:
    if exitcode is None:
        return "still running"
    if exitcode < 0:
        try:
            return f"killed by signal {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit code {exitcode}"
