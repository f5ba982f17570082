"""The `bench` command line: parses arguments, calls the pipeline, maps outcomes to exit codes.

Exit codes: 0 every case ok (or skipped for a missing device), 1 some case failed (its row says
why), 2 bad usage or an invalid suite (one `error:` line on stderr), 130 interrupted (Ctrl-C),
143 terminated (SIGTERM); both keep the finished rows and write the report.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
from pathlib import Path

from bench.errors import BenchError, TerminatedError, one_line
from bench.records import METRICS

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


def _duration(text: str) -> float:
    from bench.measure.timing.engine import parse_duration  # imports torch: only for `run`

    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"budget must be positive, got {text!r}")
    return seconds


def _precision(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"precision must be between 0 and 1, got {text!r}")
    return value


def _threads(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"threads must be a positive integer, got {text!r}")
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
        type=_duration,
        help="time per case, build and FLOP counting included, e.g. 2s or 500ms (default 2s)",
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
        help="skip fvcore's second FLOP count (it costs one traced forward pass per case)",
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
    return parser


def _run(args: argparse.Namespace) -> int:
    from bench.measure.case import RunOptions
    from bench.measure.ceilings import read_matmul_ceilings
    from bench.measure.timing.engine import DEFAULT_POLICY, EXPERIMENT_POLICY, QUICK_POLICY
    from bench.pipeline import run_suite  # imports torch: keep `bench --help` fast

    if args.suite is None and args.resume is None:
        raise BenchError("give a suite file, or --resume RUN_DIR (see `bench --help`)")
    options = RunOptions(
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
    )
    from bench.console import ProgressDisplay, summary_lines

    display = None if args.quiet else ProgressDisplay()
    try:
        outcome = run_suite(
            args.suite,
            args.out,
            options,
            progress=display,
            on_run_dir=lambda run_dir: print(run_dir, flush=True),
            resume=args.resume,
        )
    finally:
        if display is not None:
            display.close()
    if display is not None and sys.stderr.isatty():  # logs already hold one line per case
        print(
            "\n".join([*summary_lines(outcome.results), f"report: {outcome.run_dir}/report.md"]),
            file=sys.stderr,
        )
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


VERBS = {"compare": _compare, "doctor": _doctor, "report": _report}


def _terminate(signum: int, frame: object) -> None:
    raise TerminatedError()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    previous = signal.getsignal(signal.SIGTERM)
    try:
        signal.signal(signal.SIGTERM, _terminate)  # SIGTERM writes the report too, like Ctrl-C
    except ValueError:  # not the main thread (e.g. called from a test thread): leave it be
        previous = None
    try:
        return VERBS.get(args.verb, _run)(args)
    except BenchError as exc:
        print(f"error: {one_line(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except TerminatedError:
        print("terminated: finished rows and the report are in the run directory", file=sys.stderr)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print("interrupted: finished rows and the report are in the run directory", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
