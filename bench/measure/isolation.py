"""`--isolate`: measure one case in a fresh process, so a crash is that case's row, not the run's.

A segfault or abort in a model (a bad custom op, a driver fault) kills the process it runs in; in
a worker that is one `error` row. A fresh process also means the memory figures start from an
empty allocator and no earlier case's caches or compiled kernels warm this one up.

Workers start with multiprocessing's `spawn` (never `fork`: forking a process that has
initialised CUDA or OpenMP threads is unsafe). The worker ignores SIGINT; on Ctrl-C the parent
stops it and the interruption propagates as in an in-process run.
"""

from __future__ import annotations

import multiprocessing
import signal
from multiprocessing.connection import Connection

from bench.measure.case import RunOptions, measure_case
from bench.records import Case, Result


def measure_isolated(case: Case, options: RunOptions) -> Result:
    """measure_case in a spawned worker; a worker that dies gives an error row saying how."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    worker = context.Process(
        target=_worker, args=(case, options, sender), name=f"bench {case.label}", daemon=True
    )
    worker.start()
    sender.close()  # the worker holds the only writer, so its death ends recv() with EOFError
    result: Result | None = None
    try:
        result = receiver.recv()
    except EOFError:
        result = None
    finally:
        receiver.close()
        if worker.is_alive() and result is None:
            worker.terminate()
        worker.join()
    if result is not None:
        return result
    how = _describe_exit(worker.exitcode)
    return Result(
        case=case,
        status="error",
        error=f"worker process died ({how}) before reporting a result",
        detail=f"isolated worker for {case.label} exited with code {worker.exitcode} ({how})\n",
    )


def _worker(case: Case, options: RunOptions, sender: Connection) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what Ctrl-C means
    try:
        sender.send(measure_case(case, options))
    finally:
        sender.close()


def _describe_exit(exitcode: int | None) -> str:
    if exitcode is None:
        return "still running"
    if exitcode < 0:
        try:
            return f"killed by signal {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit code {exitcode}"
