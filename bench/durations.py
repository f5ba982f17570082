"""Durations as users write them: one grammar for every option and suite key that takes a time.

`--budget`, `--timeout`, the suite's `budget` and `timeout`, and the pytest plugin's
`--bench-warmup-max` all read the same forms, so a value that works in one place works in all
of them: `500ms`, `30s`, `10m` (or `10min`), `1h`, or a bare number of seconds (`1.5`, `.5`,
`2.`, `1e3`). Spaces around the number and unit are allowed. Bounds differ per knob (a budget is
at most a day, a timeout at most a week) but live here too, since the suite file and the command
line must refuse the same values with the same words.

This module imports nothing heavy: the command line parses arguments before torch is loaded.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

DURATION_FORMS = "a duration like '500ms', '30s', '10m' or '1h', or a number of seconds like 1.5"
_DURATION = re.compile(
    r"^\s*((?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*(ms|s|min|m|h)?\s*$", re.ASCII
)
_SECONDS_PER_UNIT = {None: 1.0, "ms": 1e-3, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def parse_duration(text: str, what: str = "duration") -> float:
    """Seconds (finite, zero allowed) from any accepted form; ValueError naming `what` and the
    forms, so every caller's message reads the same."""
    match = _DURATION.match(text)
    seconds = float(match.group(1)) * _SECONDS_PER_UNIT[match.group(2)] if match else math.nan
    if not math.isfinite(seconds):
        raise ValueError(f"invalid {what} {text!r}; use {DURATION_FORMS}")
    return seconds


@dataclass(frozen=True)
class DurationLimit:
    """A knob that takes a duration: its name, and the largest value that is not a typo."""

    name: str
    maximum_s: float
    maximum_text: str

    def parse(self, text: str) -> float:
        """Seconds, more than 0 and at most the maximum; ValueError naming the knob otherwise."""
        seconds = parse_duration(text, self.name)
        if not 0 < seconds <= self.maximum_s:
            raise ValueError(
                f"{self.name} {text!r} out of range; allowed: more than 0 and at most "
                f"{self.maximum_text}"
            )
        return seconds


BUDGET = DurationLimit("budget", 24 * 3600.0, "24 hours")
"""Time per case: a day is already more than any suite should spend on one case."""
TIMEOUT = DurationLimit("timeout", 7 * 24 * 3600.0, "1 week")
"""Per-case wall-clock limit: beyond a week the number is a typo, not a limit."""


def describe_seconds(seconds: float) -> str:
    """A duration for messages: whole minutes as minutes, anything else in seconds."""
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


DEFAULT_TIMEOUT_S = 600.0
"""A case's wall-clock limit without `--timeout` or the suite's `timeout`: generous, a case that
takes ten minutes is a suite that needs a key. Here, not in the watchdog, so the suite loader
(which limits factory imports by it) need not load the measuring code."""
