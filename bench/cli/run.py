"""`bench run SUITE`: measure every case of a suite into a new run directory.

Its options are declared here, grouped as `bench run --help` shows them; `bench submit` reads
the same options for each shard through `add_run_arguments`.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bench.cli.arguments import (
    EXIT_CASE_FAILED,
    EXIT_OK,
    add_threads,
    duration,
    metrics,
    positive_float,
    positive_int,
    precision,
)
from bench.console.streams import announce, say
from bench.durations import BUDGET, TIMEOUT
from bench.errors import BenchError
from bench.records import DEFAULT_METRICS, METRICS
from bench.records.axes import CACHE_STATES

if TYPE_CHECKING:
    from bench.measure.case import RunOptions


def add_run(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser(
        "run",
        help="measure every case of a suite file",
        description="Measure every case (model x mode x device x dtype x batch) of a suite file "
        "into a new run directory: results.csv, report.md, plots/, run.json, cases.jsonl (raw "
        "samples), run.log. Prints the directory; progress goes to stderr.",
    )
    add_run_arguments(parser)
    parser.set_defaults(handler=run)


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "suite", type=Path, nargs="?", help="path to a suite .toml file (optional with --resume)"
    )
    _what_to_measure(parser.add_argument_group("what to measure"))
    timing = parser.add_argument_group(
        "timing", "these override the suite's `budget`, `precision`, `threads` and `timeout`"
    )
    timing.add_argument(
        "--quick", action="store_true", help="smoke-test timing: 1 warmup call, 3 samples"
    )
    timing.add_argument(
        "--budget",
        type=duration(BUDGET),
        help="time per case, build and FLOP counting included, e.g. 2s, 500ms or 1m (default 2s)",
    )
    timing.add_argument(
        "--precision",
        type=precision,
        help="target relative half-width of the median's 95%% CI (default 0.01 = +-1%%)",
    )
    add_threads(timing)
    timing.add_argument(
        "--cache",
        choices=CACHE_STATES,
        default=None,
        help="warm: calls back to back (default); cold: the device's last-level cache (a GPU's "
        "L2) flushed before each timed call, outside the timed region (overrides the suite's "
        "`cache`)",
    )
    timing.add_argument(
        "--cuda-graphs",
        action="store_true",
        help="on CUDA devices, also time each eager forward replayed from a captured CUDA graph "
        "(`compile` = cuda-graph rows; the report compares the two: launch-bound or not)",
    )
    timing.add_argument(
        "--repeat",
        type=positive_int(),
        default=1,
        metavar="N",
        help="run the suite's model cases N times, interleaved, and report the CV of each "
        "case's medians (one CSV row per case per repetition, numbered in `repeat`)",
    )
    timing.add_argument(
        "--processes",
        type=positive_int(64),
        default=1,
        metavar="N",
        help="time each case in N fresh worker processes, one after another (pyperf-style; N "
        "times the timing cost): the interval then also covers what differs between processes",
    )
    timing.add_argument(
        "--timeout",
        type=duration(TIMEOUT),
        metavar="DURATION",
        help="per-case limit, e.g. 90s or 10m (default: the suite's `timeout`, else 10m); "
        "a case past it is a `timeout` row and the run goes on",
    )
    _failures(parser.add_argument_group("failures, isolation and resuming"))
    output = parser.add_argument_group("output")
    output.add_argument(
        "--out",
        type=Path,
        default=Path("results"),
        help="folder that receives the new run directory and index.md (default: results)",
    )
    output.add_argument(
        "--quiet", action="store_true", help="no progress display and no summary on stderr"
    )


def _what_to_measure(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--metrics",
        type=metrics,
        default=frozenset(DEFAULT_METRICS),
        help=f"comma-separated subset of {','.join(METRICS)} (default: "
        f"{','.join(DEFAULT_METRICS)}; instructions: retired instructions per call on one "
        "thread, counted by the CPU or under valgrind, for a CI gate that load does not move)",
    )
    group.add_argument(
        "--no-crosscheck",
        dest="crosscheck",
        action="store_false",
        default=None,
        help="skip fvcore's second FLOP count (it costs one traced forward pass per case)",
    )
    group.add_argument(
        "--allow-partial-counts",
        action="store_true",
        help="where an op that multiplies and accumulates has no FLOP formula, keep the MACs of "
        "the rest, flagged `count_partial` (default: leave MACs empty with the reason)",
    )
    group.add_argument(
        "--crosscheck",
        dest="crosscheck",
        action="store_true",
        default=None,
        help="run fvcore's second FLOP count even with --metrics params,flops (default: only "
        "when the real model is built anyway, i.e. timing or memory is measured)",
    )
    group.add_argument(
        "--peak-gflops",
        type=positive_float,
        default=None,
        metavar="GFLOPS",
        help="the machine's matmul GFLOP/s (from `bench doctor`); fills peak_fraction",
    )
    group.add_argument(
        "--ceilings",
        type=Path,
        default=None,
        metavar="DOCTOR_JSON",
        help="read each device's matmul GFLOP/s from `bench doctor --json` output (peak_fraction)",
    )
    group.add_argument(
        "--profile", action="store_true", help="after the run, profile each ok case (see profile)"
    )
    group.add_argument(
        "--shard",
        metavar="K/N",
        help="run only the K-th of N disjoint parts of the suite (1-based); `auto` reads it "
        "from Slurm, Kubernetes or CI variables (see docs/scale-out.md)",
    )


def _failures(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--resume",
        type=Path,
        metavar="RUN_DIR",
        help="continue an interrupted run in RUN_DIR, skipping the cases it finished",
    )
    group.add_argument(
        "--retry-timeouts",
        action="store_true",
        help="with --resume: run the cases that timed out again (default: keep their rows)",
    )
    group.add_argument(
        "--isolate",
        action="store_true",
        help="measure each case in a fresh process: a crash (even a segfault) is that case's row",
    )
    group.add_argument(
        "--oom-backoff",
        action="store_true",
        help="after an out-of-memory row, add rows at halved batch sizes (labelled backoff_from)",
    )


def run_options(args: argparse.Namespace) -> RunOptions:
    """The parsed `bench run` options as the measuring code takes them."""
    from bench.measure.case import RunOptions
    from bench.measure.ceilings import read_matmul_ceilings
    from bench.measure.timing.engine import DEFAULT_POLICY, EXPERIMENT_POLICY, QUICK_POLICY

    return RunOptions(
        metrics=args.metrics,
        timing=QUICK_POLICY if args.quick else DEFAULT_POLICY,
        experiment_timing=QUICK_POLICY if args.quick else EXPERIMENT_POLICY,
        crosscheck=args.crosscheck,
        allow_partial_counts=args.allow_partial_counts,
        matmul_peak_gflops=args.peak_gflops,
        ceilings=read_matmul_ceilings(args.ceilings) if args.ceilings else {},
        budget_s=args.budget,
        precision=args.precision,
        threads=args.threads,
        oom_backoff=args.oom_backoff,
        isolate=args.isolate,
        timeout_s=args.timeout,
        repeat=args.repeat,
        processes=args.processes,
        cache=args.cache,
        cuda_graphs=args.cuda_graphs,
        quick=args.quick,
    )


def run(args: argparse.Namespace) -> int:
    from bench.shard import parse_shard, shard_from_environment
    from bench.suite.load import load_suite

    if args.suite is None and args.resume is None:
        raise BenchError("give a suite file, or --resume RUN_DIR (see `bench --help`)")
    if args.retry_timeouts and args.resume is None:
        raise BenchError(
            "--retry-timeouts runs a resumed run's timed-out cases again; add --resume RUN_DIR"
        )
    if args.suite is not None:
        # a bad suite is one line in a fraction of a second: checked before torch is imported
        # (the pipeline loads it again, from the same file, to run it)
        suite = load_suite(args.suite)
        if args.cuda_graphs and not any(d.startswith("cuda") for d in suite.devices):
            say(f"note: --cuda-graphs adds cases on CUDA devices only; {args.suite} has none")
    from bench.console import ProgressDisplay, summary_lines
    from bench.pipeline import run_suite  # imports torch
    from bench.profile import ProfileSettings

    shard = None
    if args.shard is not None:
        auto = args.shard.strip() == "auto"
        shard = shard_from_environment(os.environ) if auto else parse_shard(args.shard)
    options = run_options(args)
    # a smoke test's numbers are not quoted, and threads matter only to timing
    if args.threads is None and not args.quick and "latency" in args.metrics:
        from bench.measure.threads import neighbour_advice

        advice = neighbour_advice()
        if advice is not None:
            options = dataclasses.replace(options, start_note=advice)
            # a terminal's; a log gets it in run.log and the report (stderr stays one line a case)
            if not args.quiet and sys.stderr.isatty():
                say(f"note: {advice}")
    display = None if args.quiet else ProgressDisplay()
    try:
        with display.listening() if display is not None else contextlib.nullcontext():
            outcome = run_suite(
                args.suite,
                args.out,
                options,
                progress=display,
                on_run_dir=announce,
                resume=args.resume,
                retry_timeouts=args.retry_timeouts,
                profile=ProfileSettings() if args.profile else None,
                shard=shard,
            )
    finally:
        if display is not None:
            display.close()
    # a log holds one line per case, and stdout the run directory
    if display is not None and sys.stderr.isatty():
        print(
            "\n".join([*summary_lines(outcome.results), f"report: {outcome.run_dir}/report.md"]),
            file=sys.stderr,
        )
    if args.repeat > 1:
        from bench.report.repeatability import repeat_spreads

        for spread in repeat_spreads(outcome.results):
            say(f"repeatability: {spread.summary()}")
    return EXIT_OK if outcome.all_ok else EXIT_CASE_FAILED
