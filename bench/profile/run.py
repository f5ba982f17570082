"""`bench profile SUITE` and `bench run --profile`: profile the chosen cases into a run directory.

`bench profile` makes its own run directory (report.md, the profile CSVs, one folder of traces
per case); `bench run --profile` adds the same files to a run's directory after every case has
its latency row, so the rows are written before any profiler starts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from bench.environment import capture_environment
from bench.errors import BenchError
from bench.measure.case import RunOptions
from bench.measure.torch_state import capture_state, restore_state
from bench.model import MODES
from bench.profile.render import write_profile_csvs
from bench.profile.session import profile_case
from bench.records import Case
from bench.records.profiles import CaseProfile, ProfileSettings, profile_record
from bench.report.rebuild import write_report
from bench.store.rundir import new_run_dir, write_header
from bench.suite.load import expand, load_suite

PROFILE_DIR = "profile"
ProfileProgress = Callable[[int, int, Case, CaseProfile | None], None]


@dataclass(frozen=True)
class ProfileOutcome:
    run_dir: Path
    profiles: tuple[CaseProfile, ...]

    @property
    def all_ok(self) -> bool:
        return all(p.status in ("ok", "skipped") for p in self.profiles)


def select_cases(
    suite_path: Path, cases: Sequence[Case], model: str | None, mode: str | None
) -> list[Case]:
    """The suite's cases for one model (if named), in one mode (if given; it may be a mode the
    suite does not list: profiling a training step of an eval-only suite is a fair question)."""
    if model is not None:
        names = sorted({c.model.name for c in cases})
        cases = [c for c in cases if c.model.name == model]
        if not cases:
            raise BenchError(f"{suite_path}: --model {model!r}: no such model; allowed: {names}")
    if mode is not None:
        if mode not in MODES:
            raise BenchError(f"--mode {mode!r}: allowed: {', '.join(MODES)}")
        chosen: dict[tuple[object, ...], Case] = {}
        for case in cases:
            moved = replace(case, mode=mode)
            chosen.setdefault(moved.key, moved)
        cases = list(chosen.values())
    return list(cases)


def profile_cases(
    cases: Sequence[Case],
    run_dir: Path,
    settings: ProfileSettings,
    options: RunOptions,
    progress: ProfileProgress | None = None,
) -> list[CaseProfile]:
    """Profile each case in turn (traces under run_dir/profile/) and write the profile CSVs."""
    profiles = []
    for index, case in enumerate(cases, start=1):
        if progress is not None:
            progress(index, len(cases), case, None)
        state = capture_state()  # a model may chdir or flip switches here too, as in a run
        try:
            profile = profile_case(
                case,
                settings,
                run_dir / PROFILE_DIR,
                policy=options.policy_for(case),
                threads=options.threads_for(case),
            )
        finally:
            restore_state(state)
        profiles.append(profile)
        if progress is not None:
            progress(index, len(cases), case, profile)
    write_profile_csvs(profiles, run_dir)
    return profiles


def profile_suite(
    suite_path: Path,
    out: Path,
    settings: ProfileSettings,
    options: RunOptions,
    model: str | None = None,
    mode: str | None = None,
    progress: ProfileProgress | None = None,
    on_run_dir: Callable[[Path], None] | None = None,
) -> ProfileOutcome:
    """Validate the suite and the selection before creating anything; then profile and write."""
    suite = load_suite(suite_path)
    cases = select_cases(suite_path, expand(suite), model, mode)
    environment = capture_environment()
    run_dir = new_run_dir(out, f"{suite.name}-profile")
    if on_run_dir is not None:
        on_run_dir(run_dir)
    profiles = profile_cases(cases, run_dir, settings, options, progress)
    header = {
        "command": "profile",
        "suite_name": suite.name,
        "suite_file": str(suite_path.absolute()),
        "environment": environment,
        "complete": True,
        "profile": {"top": settings.top, "cases": [profile_record(p) for p in profiles]},
    }
    write_header(run_dir, header)  # a record with no measured rows, only profiles
    write_report(run_dir)
    return ProfileOutcome(run_dir=run_dir, profiles=tuple(profiles))
