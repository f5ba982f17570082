"""What the controller and a side's worker say to each other, and the records they exchange.

One JSON object per line each way, over the worker's stdin and stdout: text a person can read in
a log, and no pickling, so the two sides may run different Python and torch versions. Every
request names an `op`; every reply has `ok` and, when false, a one-line `error`.

The `Worker` protocol is what the controller drives. The process-backed worker
(bench.ab.process) and the tests' in-process fake both implement it, so the interleaving,
stopping and verdict rules are tested exactly without starting a process.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from bench.records.keys import CaseKey
from bench.records.latency import Contention

LIST, PREPARE, BLOCK, RELEASE, EXIT = "list", "prepare", "block", "release", "exit"


class CaseFailed(Exception):
    """One side could not prepare or time a case (build error, exception, crash, no answer in
    time). The case becomes an error row with this one-line reason; the run goes on. Not a
    BenchError: the user's command was valid, one model on one side was not."""


class NoAnswer(CaseFailed):
    """The side did not answer within the time it was given; its worker was killed."""


@dataclass(frozen=True)
class CaseInfo:
    """A case as a side's suite defines it: its key, its label, and its time limit."""

    key: CaseKey
    label: str
    timeout_s: float | None  # the suite's `timeout` for the case; None: the default


@dataclass(frozen=True)
class Listing:
    """What a started worker reports: its versions, and the cases its suite expands to."""

    python_version: str
    torch_version: str
    bench_path: str  # where that side imported bench from
    cases: tuple[CaseInfo, ...]


@dataclass(frozen=True)
class Prepared:
    """A case built, warmed up and calibrated on one side.

    `per_call_ms` is the steady per-call time, the controller's basis for how many samples make
    a block of about --block-time; `calls` the calls per raw sample, chosen so the timer's own
    cost is negligible; `steady` whether warm-up settled within its budget."""

    per_call_ms: float
    calls: int
    first_call_ms: float
    steady: bool | None


@dataclass(frozen=True)
class BlockReading:
    """One block: each raw sample's per-call time, and what other processes did meanwhile."""

    per_call_ms: tuple[float, ...]
    contention: Contention | None


class Worker(Protocol):
    """One side, able to list, prepare and time cases one at a time.

    Every method but `list_cases`, `restart` and `close` raises CaseFailed when the side fails
    the case; `timeout_s` bounds how long the controller waits for the answer (NoAnswer past
    it)."""

    def list_cases(self) -> Listing: ...

    def ready(self) -> None:
        """A running worker (a fresh one after a kill or a restart), before the case's time
        limit starts."""
        ...

    def restart(self) -> None:
        """Replace the worker by a fresh process (`--processes`: the next worker pair); the
        old one is stopped first, and `ready` waits for the new one."""
        ...

    def prepare(
        self, key: CaseKey, block_time_s: float, warmup_budget_s: float, timeout_s: float
    ) -> Prepared: ...

    def block(self, samples: int, timeout_s: float) -> BlockReading: ...

    def release(self, timeout_s: float) -> None: ...

    def close(self) -> None: ...


def encode(message: dict[str, Any]) -> bytes:
    """One line of JSON; NaN and infinities are allowed through (Python's json reads them back),
    so an impossible sample reaches the verdict rule, which refuses it with a reason."""
    return (json.dumps(message, separators=(",", ":")) + "\n").encode("utf-8")


def decode(line: bytes | str) -> dict[str, Any]:
    """A message; ValueError when the line is not a JSON object."""
    value = json.loads(line)
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, got {type(value).__name__}")
    return value


def listing_to_json(listing: Listing) -> dict[str, Any]:
    return {
        "python_version": listing.python_version,
        "torch_version": listing.torch_version,
        "bench_path": listing.bench_path,
        "cases": [
            {"key": c.key.to_json(), "label": c.label, "timeout_s": c.timeout_s}
            for c in listing.cases
        ],
    }


def listing_from_json(value: dict[str, Any]) -> Listing:
    return Listing(
        python_version=str(value["python_version"]),
        torch_version=str(value["torch_version"]),
        bench_path=str(value["bench_path"]),
        cases=tuple(
            CaseInfo(CaseKey.from_json(c["key"]), str(c["label"]), c.get("timeout_s"))
            for c in value["cases"]
        ),
    )


def prepared_from_json(value: dict[str, Any]) -> Prepared:
    return Prepared(
        per_call_ms=float(value["per_call_ms"]),
        calls=int(value["calls"]),
        first_call_ms=float(value["first_call_ms"]),
        steady=value.get("steady"),
    )


def reading_to_json(reading: BlockReading) -> dict[str, Any]:
    contention = None if reading.contention is None else asdict(reading.contention)
    return {"per_call_ms": list(reading.per_call_ms), "contention": contention}


def reading_from_json(value: dict[str, Any]) -> BlockReading:
    contention = value.get("contention")
    return BlockReading(
        per_call_ms=tuple(float(v) for v in value["per_call_ms"]),
        contention=Contention(**contention) if isinstance(contention, dict) else None,
    )
