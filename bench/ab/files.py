"""Where `bench ab` writes: a new directory, never an existing one, with the three renderings
and each side's worker log (what the models printed, and why a worker died)."""

from __future__ import annotations

import contextlib
import datetime
import shutil
from pathlib import Path

from bench.errors import WriteError, write_error

MARKDOWN, CSV, JSON = "comparison.md", "comparison.csv", "comparison.json"


def default_out(now: datetime.datetime | None = None) -> Path:
    """`results/ab-<UTC timestamp>`; a name already taken gets `-1`, `-2`, ..."""
    now = now or datetime.datetime.now(datetime.UTC)
    stem = Path("results") / f"ab-{now:%Y%m%dT%H%M%SZ}"
    candidate, attempt = stem, 0
    while candidate.exists():
        attempt += 1
        candidate = stem.with_name(f"{stem.name}-{attempt}")
    return candidate


def refuse_existing(out: Path) -> None:
    """Checked before measuring: minutes of rounds must not end in a refusal to write."""
    if out.exists():
        raise WriteError(f"{out}: already exists; bench ab writes a new directory, never over one")


def write_comparison(out: Path, markdown: str, csv: str, json: str, logs: dict[str, Path]) -> Path:
    """Create `out` (it must not exist) and write the comparison and the workers' logs."""
    refuse_existing(out)
    try:
        out.mkdir(parents=True)
        for name, text in ((MARKDOWN, markdown), (CSV, csv), (JSON, json)):
            (out / name).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise write_error(out, exc) from None
    for name, log in logs.items():
        with contextlib.suppress(OSError):
            shutil.copyfile(log, out / name)
    return out
