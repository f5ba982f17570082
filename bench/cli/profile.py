"""`bench profile SUITE`: where each case's time and memory go (profiler tables and traces)."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.cli.arguments import EXIT_CASE_FAILED, EXIT_OK, add_threads, positive_int
from bench.records.axes import MODES


def add_profile(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser("profile", help="where each case's time and memory go (traces)")
    parser.add_argument("suite", type=Path, help="path to a suite .toml file")
    what = parser.add_argument_group("what to profile")
    what.add_argument("--model", help="profile only this model of the suite")
    what.add_argument("--mode", choices=MODES, help="profile this mode (default: the suite's)")
    what.add_argument("--steps", type=positive_int(), default=5, help="profiled steps (default 5)")
    timing = parser.add_argument_group("timing")
    timing.add_argument("--quick", action="store_true", help="short unprofiled timing first")
    add_threads(timing)
    output = parser.add_argument_group("output")
    output.add_argument(
        "--out", type=Path, default=Path("results"), help="parent of the run dir (default: results)"
    )
    parser.set_defaults(handler=profile)


def profile(args: argparse.Namespace) -> int:
    from bench.suite.load import load_suite

    load_suite(args.suite)  # a bad suite is one line, before torch is imported (as bench run)
    from bench.console import ProgressDisplay
    from bench.measure.case import RunOptions
    from bench.measure.timing.engine import DEFAULT_POLICY, QUICK_POLICY
    from bench.profile import ProfileSettings, profile_suite  # imports torch

    display = ProgressDisplay()
    try:
        outcome = profile_suite(
            args.suite,
            args.out,
            ProfileSettings(steps=args.steps),
            RunOptions(timing=QUICK_POLICY if args.quick else DEFAULT_POLICY, threads=args.threads),
            model=args.model,
            mode=args.mode,
            progress=display,
            on_run_dir=lambda run_dir: print(run_dir, flush=True),
        )
    finally:
        display.close()
    return EXIT_OK if outcome.all_ok else EXIT_CASE_FAILED
