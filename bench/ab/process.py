"""A side's worker as a process: `PY -m bench.ab.worker`, spoken to in JSON lines.

Each side runs in its own interpreter, in its own directory, so two revisions (or two torch
versions) are timed by the code they really are, in one run. The worker's working directory is
the side's directory, and PYTHONPATH puts that directory first and the running bench's parent
after it: the side's model code is imported, and bench comes from the side when it has one.

The controller never waits forever: every request carries a deadline (the case's --timeout),
and a worker that does not answer by then is killed; so is one that dies (a segfault). Either
way the case is that side's error row, and the next case starts a fresh worker. With
`--processes N` the controller also replaces both workers between a case's worker pairs
(`restart`): the old process is told to exit, and the new one starts importing torch at once.
The worker's stderr (what models print, warnings) goes to a log file whose last line explains a
death. Workers run in their own session, so Ctrl-C reaches the controller alone, which stops
them.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, BinaryIO

import bench
from bench.ab import protocol
from bench.ab.protocol import BlockReading, CaseFailed, Listing, NoAnswer, Prepared
from bench.ab.sides import SideError
from bench.durations import describe_seconds
from bench.errors import one_line
from bench.records.keys import CaseKey

STARTUP_S = 300.0  # starting Python and importing torch, on a loaded machine
EXIT_S = 5.0  # how long a worker told to exit may take before it is killed


def bench_parent() -> Path:
    """The directory holding the running `bench` package: the fallback on a worker's path."""
    return Path(bench.__file__).resolve().parent.parent


class ProcessWorker:
    """One side's worker process, started on first use and again after it was killed."""

    def __init__(
        self, name: str, python: str, directory: Path, suite: Path, threads: int | None, log: Path
    ) -> None:
        self.name = name  # BASE or NEW, for messages
        self.python = python
        self.directory = directory
        self.list_request = {"op": protocol.LIST, "suite": str(suite), "threads": threads}
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.pending = b""
        self.starting = False  # started, and its answer to the list request not read yet

    def start(self) -> None:
        """Start the worker and ask for its cases without waiting for the answer, so both
        sides start (and import torch) at once; `list_cases` reads the answer."""
        if self.process is None:
            self._spawn()

    def list_cases(self) -> Listing:
        self.start()
        try:
            return protocol.listing_from_json(self._started())
        except CaseFailed as exc:
            raise SideError(f"{self.name} ({self.directory}): {exc}") from None

    def ready(self) -> None:
        self.start()  # killed during an earlier case: a fresh one
        if self.starting:
            self._started()

    def restart(self) -> None:
        """A fresh process in place of this one: told to exit (killed past EXIT_S), then the
        new one started without waiting, so both sides import torch at once; `ready` waits."""
        self.close()
        self._spawn()

    def prepare(
        self, key: CaseKey, block_time_s: float, warmup_budget_s: float, timeout_s: float
    ) -> Prepared:
        message = {
            "op": protocol.PREPARE,
            "key": key.to_json(),
            "block_time_s": block_time_s,
            "warmup_budget_s": warmup_budget_s,
        }
        return protocol.prepared_from_json(self._request(message, timeout_s))

    def block(self, samples: int, timeout_s: float) -> BlockReading:
        reply = self._request({"op": protocol.BLOCK, "samples": samples}, timeout_s)
        return protocol.reading_from_json(reply)

    def release(self, timeout_s: float) -> None:
        if self.process is not None:
            self._request({"op": protocol.RELEASE}, timeout_s)

    def close(self) -> None:
        """Ask the worker to exit; kill it if it does not, within EXIT_S."""
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(OSError, ValueError):
            if process.stdin is not None:
                process.stdin.write(protocol.encode({"op": protocol.EXIT}))
                process.stdin.close()
        try:
            process.wait(EXIT_S)
        except subprocess.TimeoutExpired:
            _kill(process)

    def kill(self) -> None:
        """Stop the worker at once, whatever it is doing (the run is being abandoned)."""
        self._stop()

    def _spawn(self) -> None:
        environment = dict(os.environ)
        path = [str(self.directory), str(bench_parent())]
        if environment.get("PYTHONPATH"):
            path.append(environment["PYTHONPATH"])
        environment["PYTHONPATH"] = os.pathsep.join(path)
        with self.log.open("ab") as log:
            try:
                self.process = subprocess.Popen(
                    [self.python, "-m", "bench.ab.worker"],
                    cwd=self.directory,
                    env=environment,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    start_new_session=True,
                )
            except OSError as exc:
                raise SideError(
                    f"{self.name}: cannot start {self.python} ({exc.strerror or exc})"
                ) from None
        self.pending = b""
        self._send(self.list_request)
        self.starting = True

    def _started(self) -> dict[str, Any]:
        """The fresh worker's answer to the list request (its suite loaded, torch imported)."""
        self.starting = False
        return self._receive(STARTUP_S)

    def _request(self, message: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        self._send(message)
        return self._receive(timeout_s)

    def _send(self, message: dict[str, Any]) -> None:
        process = self.process
        if process is None or process.stdin is None:
            raise CaseFailed("worker is not running")
        with contextlib.suppress(OSError):  # if it died, reading the answer says how
            process.stdin.write(protocol.encode(message))
            process.stdin.flush()

    def _receive(self, timeout_s: float) -> dict[str, Any]:
        process = self.process
        if process is None or process.stdout is None:
            raise CaseFailed("worker is not running")
        line = self._read_line(process.stdout, time.monotonic() + timeout_s)
        if line is None:
            self._stop()
            raise NoAnswer(
                f"no answer within {describe_seconds(round(timeout_s, 3))}; worker killed"
            )
        if line == b"":
            code = self._stop()
            raise CaseFailed(f"worker died ({_describe_exit(code)}){self._last_log()}")
        try:
            reply = protocol.decode(line)
        except ValueError:
            self._stop()
            raise CaseFailed("worker sent a line that is not JSON") from None
        if not reply.get("ok"):
            raise CaseFailed(one_line(str(reply.get("error") or "failed without a reason")))
        return reply

    def _read_line(self, stream: BinaryIO, deadline: float) -> bytes | None:
        """The next line; b"" when the worker closed stdout (died); None past the deadline."""
        descriptor = stream.fileno()
        while b"\n" not in self.pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            readable, _, _ = select.select([descriptor], [], [], remaining)
            if not readable:
                return None
            chunk = os.read(descriptor, 1 << 16)
            if not chunk:
                return b""
            self.pending += chunk
        line, _, self.pending = self.pending.partition(b"\n")
        return line

    def _stop(self) -> int | None:
        process, self.process = self.process, None
        if process is None:
            return None
        _kill(process)
        return process.returncode

    def _last_log(self) -> str:
        with contextlib.suppress(OSError):
            lines = [line for line in self.log.read_text(errors="replace").splitlines() if line]
            if lines:
                return f": {one_line(lines[-1].strip())[:300]}"
        return ""


def _kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        with contextlib.suppress(OSError):
            process.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(EXIT_S)
    for stream in (process.stdin, process.stdout):
        with contextlib.suppress(OSError, ValueError):
            if stream is not None:
                stream.close()


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by signal {signal.Signals(-code).name}"
    return f"exit code {code}"
