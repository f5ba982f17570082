"""`bench merge` and `bench submit`: one suite on many machines, joined into one run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bench.cli.arguments import EXIT_CASE_FAILED, EXIT_OK, UsageParser, positive_int
from bench.cli.run import add_run_arguments, run_options
from bench.errors import BenchError


def add_merge(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser("merge", help="join the shards of one suite into one run")
    parser.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR", help="shard runs")
    parser.add_argument(
        "--out", type=Path, default=Path("results"), help="parent of the new run (default: results)"
    )
    parser.add_argument(
        "--force", action="store_true", help="merge despite environment differences"
    )
    parser.set_defaults(handler=merge)


def add_submit(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser(
        "submit",
        help="run a suite's shards as Slurm array tasks (or here, one by one); merge",
        epilog="Any other option (--metrics, --quick, --budget, ...) is passed to each shard's "
        "`bench run`.",
    )
    parser.add_argument("suite", type=Path, help="path to a suite .toml file")
    shards = parser.add_argument_group("shards")
    shards.add_argument("--shards", type=positive_int(), required=True, metavar="N", help="shards")
    shards.add_argument("--executor", choices=("slurm", "local"), required=True)
    shards.add_argument(
        "--out", type=Path, default=Path("results"), help="parent of the runs (default: results)"
    )
    shards.add_argument("--force", action="store_true", help="merge despite differences")
    slurm = parser.add_argument_group("slurm", "what each array task asks Slurm for")
    slurm.add_argument("--slurm-partition", metavar="P")
    slurm.add_argument("--slurm-gpus-per-task", type=positive_int(), metavar="G")
    slurm.add_argument("--slurm-cpus-per-task", type=positive_int(), metavar="C")
    slurm.add_argument("--slurm-time", metavar="TIME", help="per task: minutes or H:MM:SS")
    slurm.add_argument("--slurm-array-parallelism", type=positive_int(), metavar="K")
    slurm.add_argument(
        "--slurm-shared-node",
        action="store_true",
        help="let tasks share a node (default: --exclusive, so shards never perturb each other)",
    )
    # options submit does not know are `bench run` options for every shard (see bench.cli.main)
    parser.set_defaults(handler=submit, run_argv=[])


def merge(args: argparse.Namespace) -> int:
    from bench.shard import merge_runs, missing_lines

    outcome = merge_runs(args.run_dirs, args.out, force=args.force)
    print(outcome.run_dir, flush=True)
    for line in missing_lines(outcome.plan):
        print(line, file=sys.stderr)
    return EXIT_OK if outcome.all_ok else EXIT_CASE_FAILED


def _print_submitted(jobs: list[object]) -> None:
    ids = ", ".join(str(getattr(job, "job_id", "done here")) for job in jobs)
    print(f"{len(jobs)} shards submitted: {ids}", file=sys.stderr)


def _run_arguments(suite: Path, run_argv: list[str]) -> argparse.Namespace:
    """Each shard's `bench run` options, refused here (exit 2) before any job exists."""
    parser = UsageParser(prog="bench run")
    add_run_arguments(parser)
    run_args = parser.parse_args([str(suite), *run_argv])
    if run_args.resume is not None or run_args.shard is not None:
        raise BenchError("bench submit: --resume and --shard are for bench run; give --shards N")
    return run_args


def submit(args: argparse.Namespace) -> int:
    from bench.suite.load import load_suite

    run_args = _run_arguments(args.suite, args.run_argv)
    suite = load_suite(args.suite)  # a bad suite is refused before any job exists (and torch)
    from bench.console import ProgressDisplay
    from bench.shard import missing_lines
    from bench.submit import LocalExecutor, submit_shards  # imports torch (the pipeline)

    if args.executor == "local":
        given = [
            k for k, v in vars(args).items() if k.startswith("slurm_") and v not in (None, False)
        ]
        if given:
            flag = "--" + given[0].replace("_", "-")
            raise BenchError(f"bench submit: {flag} is for --executor slurm, not local")
        executor = LocalExecutor()
    else:
        executor = _slurm_executor(args, f"bench-{suite.name}")
    display = None if run_args.quiet else ProgressDisplay()
    try:
        outcome = submit_shards(
            executor,
            args.suite,
            args.shards,
            args.out,
            run_options(run_args),
            force=args.force,
            progress=display,
            on_submitted=_print_submitted,
        )
    finally:
        if display is not None:
            display.close()
    print(outcome.merge.run_dir, flush=True)
    for line in [*outcome.failures, *missing_lines(outcome.merge.plan)]:
        print(line, file=sys.stderr)
    return EXIT_OK if outcome.all_ok else EXIT_CASE_FAILED


def _slurm_executor(args: argparse.Namespace, job_name: str) -> Any:
    from bench.submit import SLURM_LOGS_DIR, SlurmSettings, parse_slurm_time, slurm_executor

    try:
        minutes = parse_slurm_time(args.slurm_time) if args.slurm_time else None
    except ValueError as exc:
        raise BenchError(str(exc)) from None
    settings = SlurmSettings(
        partition=args.slurm_partition,
        gpus_per_task=args.slurm_gpus_per_task,
        time_min=minutes,
        cpus_per_task=args.slurm_cpus_per_task,
        array_parallelism=args.slurm_array_parallelism,
        exclusive=not args.slurm_shared_node,
    )
    folder = args.out.resolve() / SLURM_LOGS_DIR
    return slurm_executor(folder, settings, job_name, args.shards)
