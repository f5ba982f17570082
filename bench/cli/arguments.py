"""What every verb shares: the parser that turns a usage error into one line and exit 2, the
exit codes, and the argument types.

Each type refuses a bad value with one line naming what is allowed (argparse prefixes the
option's name), so a typo costs the user a line on stderr, never a traceback or a half run.
Nothing here imports torch: `bench --help` and a mistyped option answer at once.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import NoReturn

from bench.durations import DurationLimit
from bench.records import METRICS

EXIT_OK, EXIT_CASE_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_TERMINATED = 143  # 128 + SIGTERM, as a shell reports it
EXIT_UNJUDGED = 3
"""A regression gate (`--fail-on-regression`, `--bench-gate`) that could not judge: NEW has
error rows, no case matched, every case was inconclusive, or an inconclusive case is slower than
the gate by its median (unless `--allow-inconclusive`).
Its own code, so a CI script can tell "slower" (1) from "could not tell" (3)."""

EXIT_NOT_FIT = EXIT_CASE_FAILED
"""`bench doctor` whose verdict is "NOT fit for benchmarking": 1, as a failed check, so a CI step
or a job script that runs `bench doctor` before measuring stops on a machine it cannot trust."""

MAX_THREADS = 1024  # the suite's `threads` has the same bound (bench.suite.load)


class UsageParser(argparse.ArgumentParser):
    """argparse, but usage errors are one `error:` line and exit 2, like suite errors."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"error: {message} (see `bench --help`)\n")


def positive_int(maximum: int | None = None) -> Callable[[str], int]:
    """The type of every count option (--shards, --repeat, --steps, --threads, ...): plain
    decimal digits, at least 1 and at most `maximum` when given."""
    bound = "" if maximum is None else f", at most {maximum}"

    def parse(text: str) -> int:
        value = int(text) if text.isascii() and text.isdigit() else 0
        if value < 1 or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"expected a positive integer{bound}, got {text!r}")
        return value

    return parse


THREADS = positive_int(MAX_THREADS)


def duration(limit: DurationLimit) -> Callable[[str], float]:
    """The type of a duration option: the same forms and bounds as the suite file's key."""

    def parse(text: str) -> float:
        try:
            return limit.parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


def metrics(text: str) -> frozenset[str]:
    return comma_choices(text, METRICS, "metric")


def comma_choices(text: str, allowed: tuple[str, ...], what: str) -> frozenset[str]:
    """A comma-separated, non-empty subset of `allowed` (`--metrics`, `--gate`)."""
    chosen = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in chosen if m not in allowed]
    if not chosen or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown {what} {unknown[0] if unknown else text!r}; choose from {','.join(allowed)}"
        )
    return frozenset(chosen)


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def precision(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"precision must be between 0 and 1, got {text!r}")
    return value


def percent(text: str) -> float:
    """`10`, `10%` or `2.5%`: a percentage, returned as a fraction."""
    try:
        value = float(text.strip().removesuffix("%"))
    except ValueError:
        value = -1.0
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected a percentage such as 10 or 10%, got {text!r}")
    return value / 100


def add_threads(group: argparse._ActionsContainer) -> None:
    """`--threads`, the same for every verb that runs a model."""
    group.add_argument("--threads", type=THREADS, help="intra-op threads (default: torch's)")


def add_verdict_arguments(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """The verdict and gate options `bench compare` and `bench ab` share, in their own group."""
    verdicts = parser.add_argument_group("verdicts")
    verdicts.add_argument(
        "--threshold",
        type=percent,
        default=0.10,
        metavar="PCT",
        help="smallest change called faster/slower, in percent (default 10)",
    )
    verdicts.add_argument(
        "--fail-on-regression",
        type=percent,
        default=None,
        metavar="PCT",
        help="exit 1 if any case is confidently slower by more than PCT percent (its whole "
        "interval beyond PCT and any noise floor); exit 3 if the gate cannot judge: NEW has "
        "failed cases, no case matched, every case is inconclusive (one whose interval ends "
        "below PCT counts as judged), or an inconclusive case is slower than PCT by its median",
    )
    verdicts.add_argument(
        "--allow-inconclusive",
        action="store_true",
        help="with --fail-on-regression: pass (exit 0) where the gate cannot judge",
    )
    return verdicts


GATES = ("time", "instructions")


def gates(text: str) -> frozenset[str]:
    """`time`, `instructions` or both, comma-separated."""
    return comma_choices(text, GATES, "gate")


def add_instruction_arguments(group: argparse._ArgumentGroup) -> None:
    """The instruction-count options of a comparison (`--metrics instructions` runs)."""
    group.add_argument(
        "--instruction-margin",
        type=percent,
        default=0.01,
        metavar="PCT",
        help="smallest change in instructions per call called more/fewer, in percent (default 1)",
    )
    group.add_argument(
        "--gate",
        type=gates,
        default=frozenset({"time"}),
        metavar="WHAT",
        help="what --fail-on-regression judges: time (default), instructions (exit 1 when a "
        "case's instructions per call rose by more than PCT), or time,instructions",
    )
