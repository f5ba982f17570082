"""Per-case time limit and Ctrl-C bookkeeping for a case measured in this process.

A forward that never returns must not hang the whole run. In this process the limit is a
SIGALRM timer (`setitimer`) whose handler raises `CaseTimeout` in the main thread; the case
becomes a `timeout` row and the next case runs. Python runs signal handlers between bytecodes,
so a model stuck inside one C call (a single huge op, a deadlocked native library) is only
interrupted when that call returns; `--isolate` has no such limit, since the parent kills the
worker. `time.sleep`, lock waits and Python loops are interrupted at once.

The same guard tells a real Ctrl-C from a model that raises KeyboardInterrupt itself: the SIGINT
handler installed for the case records that the signal arrived. A KeyboardInterrupt without the
signal is the model's own failure (an error row); with it, the run stops as the user asked.

The model may take the timer away: libraries with their own timeouts cancel `ITIMER_REAL` or
install their own SIGALRM handler, and such a model that then slept hung the run for good. So
a watchdog thread backs the timer up: once the limit has passed by BACKUP_GRACE_S and the case is
still running, it sends SIGUSR1 (whose handler the guard installed too) to the main thread,
again every BACKUP_GRACE_S, until the case ends. A real signal, not `interrupt_main`: it also
wakes a sleeping main thread.

Off the main thread (signals can only be handled there) the guard sets no timer: such a caller
(a test harness, an embedding application) gets no per-case limit.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from bench.durations import DEFAULT_TIMEOUT_S

BACKUP_GRACE_S = 1.0  # after the limit, the watchdog thread's first (and each later) signal
BACKUP_SIGNAL = getattr(signal, "SIGUSR1", None)
__all__ = ["DEFAULT_TIMEOUT_S", "CaseTimeout", "Guard", "case_guard"]


class CaseTimeout(BaseException):
    """A case ran past its time limit. A BaseException, so a model's `except Exception` cannot
    swallow it and keep running."""


@dataclass
class Guard:
    """What happened while the guard was active (mutable: the signal handlers fill it in)."""

    active: bool = True
    interrupted: bool = False  # a real SIGINT arrived


@contextlib.contextmanager
def case_guard(timeout_s: float | None) -> Iterator[Guard]:
    """Arm the case's timer and SIGINT bookkeeping; disarm and restore both on the way out.

    A timer that fires just as the block ends may still raise CaseTimeout from this context's
    exit; callers catch CaseTimeout around the whole `with`.
    """
    if timeout_s is not None and not 0 < timeout_s < float("inf"):
        # refused before any handler is installed: setitimer's own refusal came after both
        raise ValueError(f"timeout {timeout_s!r}; allowed: seconds, a finite number above 0")
    guard = Guard()
    if threading.current_thread() is not threading.main_thread():
        yield guard
        return

    def on_alarm(signum: int, frame: object) -> None:
        if guard.active:
            raise CaseTimeout(timeout_s)

    def on_sigint(signum: int, frame: object) -> None:
        guard.interrupted = True
        raise KeyboardInterrupt

    previous_int = signal.getsignal(signal.SIGINT)
    # only where Ctrl-C means KeyboardInterrupt now (an --isolate worker ignores it: leave it so)
    own_int = previous_int is signal.default_int_handler
    if own_int:
        signal.signal(signal.SIGINT, on_sigint)
    previous_alarm = previous_backup = None
    ended = threading.Event()
    if timeout_s is not None:
        previous_alarm = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout_s)
        if BACKUP_SIGNAL is not None:
            previous_backup = signal.signal(BACKUP_SIGNAL, on_alarm)
            _start_backup(timeout_s, ended, guard)
    try:
        yield guard
    finally:
        guard.active = False  # first: a late alarm now does nothing
        ended.set()
        if timeout_s is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous_alarm or signal.SIG_DFL)
            if BACKUP_SIGNAL is not None:
                signal.signal(BACKUP_SIGNAL, previous_backup or signal.SIG_DFL)
        if own_int:
            signal.signal(signal.SIGINT, previous_int)


def _start_backup(timeout_s: float, ended: threading.Event, guard: Guard) -> None:
    """The watchdog thread (see the module doc); named so the contention probe ignores it."""
    main = threading.main_thread().ident

    def watch() -> None:
        if ended.wait(timeout_s + BACKUP_GRACE_S):
            return
        while guard.active and main is not None:
            signal.pthread_kill(main, BACKUP_SIGNAL)
            if ended.wait(BACKUP_GRACE_S):
                return

    threading.Thread(target=watch, name="bench-watchdog", daemon=True).start()
