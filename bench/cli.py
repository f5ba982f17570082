"""The `bench` command line: parses arguments, calls the pipeline, maps outcomes to exit codes.

Exit codes: 0 every case ok (or skipped for a missing device), 1 some case failed (its row says
why), 2 bad usage or an invalid suite (one `error:` line on stderr), 130 interrupted (Ctrl-C),
143 terminated (SIGTERM); both keep the finished rows and write the report.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from bench.errors import BenchError, TerminatedError, one_line
from bench.records import METRICS, Case, Result
from bench.timing import DEFAULT_POLICY, QUICK_POLICY

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
    run.add_argument("--quiet", action="store_true", help="no per-case progress on stderr")
    # issue 7: robustness
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
        detail = f"median {result.latency.median_ms:.3f} ms"
    line = one_line(f"[{index}/{total}] {case.label}: {result.status} {detail}".rstrip())
    print(line, file=sys.stderr)


def _run(args: argparse.Namespace) -> int:
    from bench.pipeline import run_suite  # imports torch: keep `bench --help` fast
    from bench.runner import RunOptions

    if args.suite is None and args.resume is None:
        raise BenchError("give a suite file, or --resume RUN_DIR (see `bench --help`)")
    options = RunOptions(
        metrics=args.metrics,
        timing=QUICK_POLICY if args.quick else DEFAULT_POLICY,
        oom_backoff=args.oom_backoff,
        isolate=args.isolate,
    )
    outcome = run_suite(
        args.suite,
        args.out,
        options,
        progress=None if args.quiet else _print_progress,
        on_run_dir=lambda run_dir: print(run_dir, flush=True),
        resume=args.resume,
    )
    return EXIT_OK if outcome.all_ok else EXIT_CASE_FAILED


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
        return _run(args)
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
