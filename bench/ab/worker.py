"""`python -m bench.ab.worker`: one side of `bench ab`, answering the controller line by line.

It runs with the side's directory as its working directory and first on its path, so the side's
own model code (and its bench, if it has one) is what gets imported and timed.

stdout carries the protocol and nothing else: the worker keeps a private copy of that
descriptor and points descriptor 1 at stderr before importing anything, so a model's print()
(or a C library writing to fd 1) lands in the side's log instead of corrupting a reply.

The worker ignores SIGINT (the controller decides what Ctrl-C means and stops it) and asks the
kernel for SIGKILL when its parent dies (Linux), so no worker outlives `bench ab`. It exits when
stdin closes.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any

_PR_SET_PDEATHSIG = 1


def _protocol_stream() -> IO[str]:
    """The original stdout, kept for replies; fd 1 now writes to stderr."""
    stream = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    return stream


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _one_line(exc: BaseException) -> str:
    """The reason as one line; a bench error (invalid suite, case not runnable here) already
    says what went wrong, a model's exception is named by its type."""
    from bench.ab.protocol import CaseFailed
    from bench.errors import BenchError

    text = " ".join(str(exc).split())[:300]
    if isinstance(exc, CaseFailed | BenchError) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _answer(session: Any, request: dict[str, Any]) -> dict[str, Any]:
    from bench.ab import protocol
    from bench.records.keys import CaseKey

    op = request.get("op")
    if op == protocol.PREPARE:
        prepared = session.prepare(
            CaseKey.from_json(request["key"]),
            float(request["block_time_s"]),
            float(request["warmup_budget_s"]),
        )
        return {"ok": True, **asdict(prepared)}
    if op == protocol.BLOCK:
        return {"ok": True, **protocol.reading_to_json(session.block(int(request["samples"])))}
    if op == protocol.RELEASE:
        session.release()
        return {"ok": True}
    raise ValueError(f"unknown op {op!r}")


def main() -> int:
    replies = _protocol_stream()
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from bench.ab import protocol

    session = None
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = protocol.decode(line)
            if request.get("op") == protocol.EXIT:
                break
            if request.get("op") == protocol.LIST:
                from bench.ab.session import CaseSession

                session = CaseSession(Path(request["suite"]), request.get("threads"))
                reply = {"ok": True, **protocol.listing_to_json(session.listing())}
            elif session is None:
                raise ValueError("no suite listed yet")
            else:
                reply = _answer(session, request)
        except (Exception, SystemExit) as exc:  # a failing model is that case's error, not ours
            if session is not None:
                with contextlib.suppress(Exception):
                    session.release()
            reply = {"ok": False, "error": _one_line(exc)}
        replies.write(protocol.encode(reply).decode("utf-8"))
        replies.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
