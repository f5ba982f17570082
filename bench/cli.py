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
from bench.measure.timing.engine import (
    DEFAULT_POLICY,
    EXPERIMENT_POLICY,
    QUICK_POLICY,
    parse_duration,
)
from bench.records import METRICS, Case, Result

EXIT_OK, EXIT_CASE_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_TERMINATED = 143  # 128 + SIGTERM, as a shell reports it


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one `error:` line and exit 2, like suite errors."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"error: {message} (see `bench --help`)\n")


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


def _repeat(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"repeat must be a positive integer, got {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="bench", description=__doc__.splitlines()[0])
    verbs = parser.add_subparsers(dest="verb", required=True, parser_class=_Parser)
    run = verbs.add_parser("run", help="measure every case of a suite file")
    run.add_argument(
        "suite", type=Path, nargs="?", help="path to a suite .toml file (optional with --resume)"
    )
    run.add_argument("--out", type=Path, default=Path("results"), help="parent of the new run dir")
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
    run.add_argument("--quiet", action="store_true", help="no per-case progress on stderr")
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


def _print_progress(index: int, total: int, case: Case, result: Result | None) -> None:
    if result is None:
        return
    detail = result.error if result.status != "ok" else ""
    if result.latency is not None:
        lat = result.latency
        missed = lat.steady is not False and lat.precision_met is False
        doubts = [d for d in lat.doubts() if not d.startswith("not steady")]
        if missed:
            doubts.insert(0, "precision target not met")
        flags = f" ({'; '.join(doubts)})" if doubts else ""
        detail = f"median {lat.median_ms:.3f} ms, {lat.precision_label()}{flags}"
    line = one_line(f"[{index}/{total}] {case.label}: {result.status} {detail}".rstrip())
    print(line, file=sys.stderr)


def _run(args: argparse.Namespace) -> int:
    from bench.measure.case import RunOptions
    from bench.measure.ceilings import read_matmul_ceilings
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
        repeat=args.repeat,
    )
    outcome = run_suite(
        args.suite,
        args.out,
        options,
        progress=None if args.quiet else _print_progress,
        on_run_dir=lambda run_dir: print(run_dir, flush=True),
        resume=args.resume,
    )
    if args.repeat > 1:
        from bench.report.repeatability import repeat_spreads

        for spread in repeat_spreads(outcome.results):
            print(f"repeatability: {spread.summary()}", file=sys.stderr)
    return EXIT_OK if outcome.all_ok else EXIT_CASE_FAILED


def _doctor(args: argparse.Namespace) -> int:
    from bench.doctor import render_doctor, run_doctor, write_doctor_json

    report = run_doctor(quick=args.quick, threads=args.threads)
    print(render_doctor(report))
    if args.json is not None:
        write_doctor_json(report, args.json)
    return EXIT_OK


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
        return _doctor(args) if args.verb == "doctor" else _run(args)
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
