"""The `bench` command line: parses arguments, calls the pipeline, maps outcomes to exit codes.

Exit codes: 0 every case ok (or skipped for a missing device), 1 some case failed (its row says
why), 2 bad usage or an invalid suite (one `error:` line on stderr), 130 interrupted (Ctrl-C),
143 terminated (SIGTERM); both keep the finished rows and write the report.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from bench.console.streams import RUN_DIRS, announce, ensure_streams, say
from bench.durations import BUDGET, TIMEOUT, DurationLimit
from bench.errors import BenchError, TerminatedError, WriteError, one_line
from bench.records import METRICS

MODES = ("eval", "train")  # bench.model.MODES, without importing torch for `bench --help`

if TYPE_CHECKING:
    from bench.measure.case import RunOptions

EXIT_OK, EXIT_CASE_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_TERMINATED = 143  # 128 + SIGTERM, as a shell reports it


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one `error:` line and exit 2, like suite errors."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"error: {message} (see `bench --help`)\n")


def _version() -> str:
    import bench

    return bench.__version__


def _metrics(text: str) -> frozenset[str]:
    chosen = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in chosen if m not in METRICS]
    if not chosen or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown metric {unknown[0] if unknown else text!r}; choose from {','.join(METRICS)}"
        )
    return frozenset(chosen)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _duration(limit: DurationLimit) -> Callable[[str], float]:
    """The type of a duration option: the same forms and bounds as the suite file's key."""

    def parse(text: str) -> float:
        try:
            return limit.parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


def _precision(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"precision must be between 0 and 1, got {text!r}")
    return value


def _threads(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 1024:
        message = f"threads must be a positive integer, at most 1024, got {text!r}"
        raise argparse.ArgumentTypeError(message)
    return int(text)


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def _percent(text: str) -> float:
    """`10`, `10%` or `2.5%`: a percentage, returned as a fraction."""
    try:
        value = float(text.strip().removesuffix("%"))
    except ValueError:
        value = -1.0
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected a percentage such as 10 or 10%, got {text!r}")
    return value / 100


def _add_compare(verbs: argparse._SubParsersAction) -> None:
    compare = verbs.add_parser(
        "compare",
        help="what changed between two runs: faster, slower, same or inconclusive per case",
        description="Compare two runs case by case from their raw samples. BASE and NEW are run "
        "directories (or pytest-benchmark JSON files saved with --benchmark-save-data). Prints "
        "markdown; exit 1 with --fail-on-regression when a case is confidently slower.",
    )
    compare.add_argument("base", type=Path, metavar="BASE", help="the earlier run")
    compare.add_argument("new", type=Path, metavar="NEW", help="the run to judge against BASE")
    compare.add_argument(
        "--threshold",
        type=_percent,
        default=0.10,
        metavar="PCT",
        help="smallest change called faster/slower, in percent (default 10)",
    )
    compare.add_argument(
        "--fail-on-regression",
        type=_percent,
        default=None,
        metavar="PCT",
        help="exit 1 if any case is confidently slower by more than PCT percent",
    )
    compare.add_argument("--out", type=Path, help="also write the markdown to this file")
    compare.add_argument(
        "--force", action="store_true", help="compare even if the runs used different hardware"
    )


def _repeat(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"repeat must be a positive integer, got {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="bench",
        description="Numbers you can trust about PyTorch models: parameters, FLOPs/MACs, CPU and "
        "CUDA latency with confidence intervals, peak memory. `bench run SUITE` measures; "
        "`bench compare BASE NEW` says what changed; `bench report RUN_DIR` rebuilds a report.",
        epilog="Exit codes: 0 ok, 1 a case failed (or --fail-on-regression tripped), 2 bad usage "
        "or input, 130 interrupted, 143 terminated. More: README.md.",
    )
    parser.add_argument("--version", action="version", version=f"bench {_version()}")
    verbs = parser.add_subparsers(dest="verb", required=True, parser_class=_Parser)
    run = verbs.add_parser(
        "run",
        help="measure every case of a suite file",
        description="Measure every case (model x mode x device x dtype x batch) of a suite file "
        "into a new run directory: results.csv, report.md, plots/, run.json (raw samples), "
        "run.log. Prints the directory; progress goes to stderr.",
    )
    run.add_argument(
        "suite", type=Path, nargs="?", help="path to a suite .toml file (optional with --resume)"
    )
    run.add_argument(
        "--out",
        type=Path,
        default=Path("results"),
        help="folder that receives the new run directory and index.md (default: results)",
    )
    run.add_argument(
        "--metrics",
        type=_metrics,
        default=frozenset(METRICS),
        help=f"comma-separated subset of {','.join(METRICS)} (default: all)",
    )
    run.add_argument(
        "--quick", action="store_true", help="smoke-test timing: 1 warmup call, 3 samples"
    )
    # timing knobs; they override the suite's `budget`, `precision` and `threads`
    run.add_argument(
        "--budget",
        type=_duration(BUDGET),
        help="time per case, build and FLOP counting included, e.g. 2s, 500ms or 1m (default 2s)",
    )
    run.add_argument(
        "--precision",
        type=_precision,
        help="target relative half-width of the median's 95%% CI (default 0.01 = +-1%%)",
    )
    run.add_argument("--threads", type=_threads, help="intra-op threads (default: torch's)")
    _add_compare(verbs)
    report = verbs.add_parser(
        "report",
        help="rebuild a run's report.md and plots from its run.json",
        description="Rewrite report.md and the PNG plots of RUN_DIR from its run.json alone "
        "(the same run.json gives byte-identical files).",
    )
    report.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a bench run directory")
    run.add_argument(
        "--repeat",
        type=_repeat,
        default=1,
        metavar="N",
        help="run the suite's model cases N times, interleaved, and report the CV of each "
        "case's medians (one CSV row per case per repetition, numbered in `repeat`)",
    )
    doctor = verbs.add_parser("doctor", help="can this machine be trusted for benchmarking?")
    doctor.add_argument("--quick", action="store_true", help="seconds, not minutes: rough figures")
    doctor.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    doctor.add_argument("--threads", type=_threads, help="intra-op threads (default: torch's)")
    run.add_argument(
        "--quiet", action="store_true", help="no progress display and no summary on stderr"
    )
    run.add_argument(
        "--no-crosscheck",
        dest="crosscheck",
        action="store_false",
        default=None,
        help="skip fvcore's second FLOP count (it costs one traced forward pass per case)",
    )
    run.add_argument(
        "--crosscheck",
        dest="crosscheck",
        action="store_true",
        default=None,
        help="run fvcore's second FLOP count even with --metrics params,flops (default: only "
        "when the real model is built anyway, i.e. timing or memory is measured)",
    )
    run.add_argument(
        "--peak-gflops",
        type=_positive_float,
        default=None,
        metavar="GFLOPS",
        help="the machine's matmul GFLOP/s (from `bench doctor`); fills peak_fraction",
    )
    run.add_argument(
        "--ceilings",
        type=Path,
        default=None,
        metavar="DOCTOR_JSON",
        help="read each device's matmul GFLOP/s from `bench doctor --json` output (peak_fraction)",
    )
    # robustness: failures, isolation, out-of-memory, resume
    run.add_argument(
        "--resume",
        type=Path,
        metavar="RUN_DIR",
        help="continue an interrupted run in RUN_DIR, skipping the cases it finished",
    )
    run.add_argument(
        "--isolate",
        action="store_true",
        help="measure each case in a fresh process: a crash (even a segfault) is that case's row",
    )
    run.add_argument(
        "--oom-backoff",
        action="store_true",
        help="after an out-of-memory row, add rows at halved batch sizes (labelled backoff_from)",
    )
    run.add_argument(
        "--profile", action="store_true", help="after the run, profile each ok case (see profile)"
    )
    run.add_argument(
        "--shard",
        metavar="K/N",
        help="run only the K-th of N disjoint parts of the suite (1-based); `auto` reads it "
        "from Slurm, Kubernetes or CI variables (see README)",
    )
    run.add_argument(
        "--timeout",
        type=_duration(TIMEOUT),
        metavar="DURATION",
        help="per-case limit, e.g. 90s or 10m (default: the suite's `timeout`, else 10m); "
        "a case past it is a `timeout` row and the run goes on",
    )
    run.add_argument(
        "--retry-timeouts",
        action="store_true",
        help="with --resume: run the cases that timed out again (default: keep their rows)",
    )
    profile = verbs.add_parser("profile", help="where each case's time and memory go (traces)")
    profile.add_argument("suite", type=Path, help="path to a suite .toml file")
    profile.add_argument("--model", help="profile only this model of the suite")
    profile.add_argument("--mode", choices=MODES, help="profile this mode (default: the suite's)")
    profile.add_argument("--steps", type=_steps, default=5, help="profiled steps (default 5)")
    profile.add_argument("--out", type=Path, default=Path("results"), help="parent of the run dir")
    profile.add_argument("--quick", action="store_true", help="short unprofiled timing first")
    profile.add_argument("--threads", type=_threads, help="intra-op threads (default: torch's)")
    _add_shard_verbs(verbs)
    return parser


def _run_options(args: argparse.Namespace) -> RunOptions:
    from bench.measure.case import RunOptions
    from bench.measure.ceilings import read_matmul_ceilings
    from bench.measure.timing.engine import DEFAULT_POLICY, EXPERIMENT_POLICY, QUICK_POLICY

    return RunOptions(
        metrics=args.metrics,
        timing=QUICK_POLICY if args.quick else DEFAULT_POLICY,
        experiment_timing=QUICK_POLICY if args.quick else EXPERIMENT_POLICY,
        crosscheck=args.crosscheck,
        matmul_peak_gflops=args.peak_gflops,
        ceilings=read_matmul_ceilings(args.ceilings) if args.ceilings else {},
        budget_s=args.budget,
        precision=args.precision,
        threads=args.threads,
        oom_backoff=args.oom_backoff,
        isolate=args.isolate,
        timeout_s=args.timeout,
        repeat=args.repeat,
    )


def _run(args: argparse.Namespace) -> int:
    from bench.console import ProgressDisplay, summary_lines
    from bench.pipeline import run_suite  # imports torch: keep `bench --help` fast
    from bench.profile import ProfileSettings
    from bench.shard import parse_shard, shard_from_environment

    if args.suite is None and args.resume is None:
        raise BenchError("give a suite file, or --resume RUN_DIR (see `bench --help`)")
    shard = None
    if args.shard is not None:
        auto = args.shard.strip() == "auto"
        shard = shard_from_environment(os.environ) if auto else parse_shard(args.shard)
    options = _run_options(args)
    display = None if args.quiet else ProgressDisplay()
    try:
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
    if display is not None and sys.stderr.isatty():  # logs already hold one line per case
        print(
            "\n".join([*summary_lines(outcome.results), f"report: {outcome.run_dir}/report.md"]),
            file=sys.stderr,
        )
    if args.repeat > 1:
        from bench.report.repeatability import repeat_spreads

        for spread in repeat_spreads(outcome.results):
            say(f"repeatability: {spread.summary()}")
    return EXIT_OK if outcome.all_ok else EXIT_CASE_FAILED


def _steps(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"steps must be a positive integer, got {text!r}")
    return int(text)


def _profile(args: argparse.Namespace) -> int:
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


def _add_shard_verbs(verbs: argparse._SubParsersAction) -> None:
    merge = verbs.add_parser("merge", help="join the shards of one suite into one run")
    merge.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR", help="shard runs")
    merge.add_argument("--out", type=Path, default=Path("results"), help="parent of the new run")
    merge.add_argument("--force", action="store_true", help="merge despite environment differences")
    submit = verbs.add_parser(
        "submit",
        help="run a suite's shards as Slurm array tasks (or here, one by one); merge",
        epilog="Any other option (--metrics, --quick, --budget, ...) is passed to each shard's "
        "`bench run`.",
    )
    submit.add_argument("suite", type=Path, help="path to a suite .toml file")
    submit.add_argument("--shards", type=_count, required=True, metavar="N", help="shards")
    submit.add_argument("--executor", choices=("slurm", "local"), required=True)
    submit.add_argument("--out", type=Path, default=Path("results"), help="parent of the runs")
    submit.add_argument("--force", action="store_true", help="merge despite differences")
    submit.add_argument("--slurm-partition", metavar="P")
    submit.add_argument("--slurm-gpus-per-task", type=_count, metavar="G")
    submit.add_argument("--slurm-cpus-per-task", type=_count, metavar="C")
    submit.add_argument("--slurm-time", metavar="TIME", help="per task: minutes or H:MM:SS")
    submit.add_argument("--slurm-array-parallelism", type=_count, metavar="K")
    submit.add_argument(
        "--slurm-shared-node",
        action="store_true",
        help="let tasks share a node (default: --exclusive, so shards never perturb each other)",
    )


def _merge(args: argparse.Namespace) -> int:
    from bench.shard import merge_runs, missing_lines

    outcome = merge_runs(args.run_dirs, args.out, force=args.force)
    print(outcome.run_dir, flush=True)
    for line in missing_lines(outcome.plan):
        print(line, file=sys.stderr)
    return EXIT_OK if outcome.all_ok else EXIT_CASE_FAILED


def _print_submitted(jobs: list[object]) -> None:
    ids = ", ".join(str(getattr(job, "job_id", "done here")) for job in jobs)
    print(f"{len(jobs)} shards submitted: {ids}", file=sys.stderr)


def _submit(args: argparse.Namespace, run_argv: list[str]) -> int:
    """Options `bench submit` does not know are `bench run` options for every shard."""
    from bench.console import ProgressDisplay
    from bench.shard import missing_lines
    from bench.shard.submit import (
        SLURM_LOGS_DIR,
        LocalExecutor,
        SlurmSettings,
        parse_slurm_time,
        slurm_executor,
        submit_shards,
    )
    from bench.suite.load import load_suite

    run_args = build_parser().parse_args(["run", str(args.suite), *run_argv])
    if run_args.resume is not None or run_args.shard is not None:
        raise BenchError("bench submit: --resume and --shard are for bench run; give --shards N")
    suite = load_suite(args.suite)  # a bad suite is refused before any job exists
    if args.executor == "local":
        given = [
            k for k, v in vars(args).items() if k.startswith("slurm_") and v not in (None, False)
        ]
        if given:
            flag = "--" + given[0].replace("_", "-")
            raise BenchError(f"bench submit: {flag} is for --executor slurm, not local")
        executor = LocalExecutor()
    else:
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
        executor = slurm_executor(folder, settings, f"bench-{suite.name}", args.shards)
    display = None if run_args.quiet else ProgressDisplay()
    try:
        outcome = submit_shards(
            executor,
            args.suite,
            args.shards,
            args.out,
            _run_options(run_args),
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


def _doctor(args: argparse.Namespace) -> int:
    from bench.doctor import render_doctor, run_doctor, write_doctor_json

    report = run_doctor(quick=args.quick, threads=args.threads)
    print(render_doctor(report))
    if args.json is not None:
        write_doctor_json(report, args.json)
    return EXIT_OK


def _compare(args: argparse.Namespace) -> int:
    from bench.compare import (
        CompareError,
        compare_runs,
        device_mismatch,
        load_side,
        regressions_beyond,
        render_comparison,
    )

    base, new = load_side(args.base), load_side(args.new)
    mismatch = device_mismatch(base, new)
    if mismatch and not args.force:
        raise CompareError(
            f"{args.base} vs {args.new}: different hardware ({mismatch}); "
            "timings are not comparable; pass --force to compare anyway"
        )
    comparison = compare_runs(base, new, args.threshold)
    text = render_comparison(comparison, mismatch)
    sys.stdout.write(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    if args.fail_on_regression is not None and regressions_beyond(
        comparison, args.fail_on_regression
    ):
        return EXIT_CASE_FAILED
    return EXIT_OK


def _report(args: argparse.Namespace) -> int:
    from bench.report.rebuild import write_report

    print(write_report(args.run_dir))
    return EXIT_OK


VERBS = {
    "compare": _compare,
    "doctor": _doctor,
    "merge": _merge,
    "profile": _profile,
    "report": _report,
}


def _terminate(signum: int, frame: object) -> None:
    raise TerminatedError()


def main(argv: list[str] | None = None) -> int:
    ensure_streams()
    RUN_DIRS.clear()
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown and args.verb != "submit":  # only submit passes options on (to bench run)
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    previous = signal.getsignal(signal.SIGTERM)
    try:
        signal.signal(signal.SIGTERM, _terminate)  # SIGTERM writes the report too, like Ctrl-C
    except ValueError:  # not the main thread (e.g. called from a test thread): leave it be
        previous = None
    try:
        if args.verb == "submit":
            return _submit(args, unknown)
        return VERBS.get(args.verb, _run)(args)
    except WriteError as exc:
        say(f"error: {one_line(str(exc))}")
        return EXIT_CASE_FAILED if exc.finished else EXIT_USAGE
    except BenchError as exc:
        say(f"error: {one_line(str(exc))}")
        return EXIT_USAGE
    except KeyboardInterrupt as exc:
        word = "terminated" if isinstance(exc, TerminatedError) else "interrupted"
        if RUN_DIRS:
            say(f"{word}: finished rows and the report are in the run directory {RUN_DIRS[-1]}")
        else:
            say(f"{word}: stopped before a run directory was made; nothing was written")
        return EXIT_TERMINATED if isinstance(exc, TerminatedError) else EXIT_INTERRUPTED
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
