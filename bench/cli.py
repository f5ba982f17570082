"""The `bench` command line: parses arguments, calls the pipeline, maps outcomes to exit codes.

Exit codes: 0 every case ok (or skipped for a missing device), 1 some case failed (its row says
why), 2 bad usage or an invalid suite (one `error:` line on stderr), 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.errors import BenchError
from bench.records import METRICS, Case, Result
from bench.timing import QUICK_POLICY

EXIT_OK, EXIT_CASE_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


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
    run.add_argument("suite", type=Path, help="path to a suite .toml file")
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
    return parser


def _print_progress(index: int, total: int, case: Case, result: Result | None) -> None:
    if result is None:
        return
    detail = result.error if result.status != "ok" else ""
    if result.latency is not None:
        detail = f"median {result.latency.median_ms:.3f} ms"
    print(f"[{index}/{total}] {case.label}: {result.status} {detail}".rstrip(), file=sys.stderr)


def _run(args: argparse.Namespace) -> int:
    from bench.pipeline import run_suite  # imports torch: keep `bench --help` fast
    from bench.runner import RunOptions

    options = RunOptions(metrics=args.metrics)
    if args.quick:
        options = RunOptions(
            metrics=args.metrics, timing=QUICK_POLICY, experiment_timing=QUICK_POLICY
        )
    outcome = run_suite(
        args.suite,
        args.out,
        options,
        progress=None if args.quiet else _print_progress,
        on_run_dir=lambda run_dir: print(run_dir, flush=True),
    )
    return EXIT_OK if outcome.all_ok else EXIT_CASE_FAILED


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted: finished rows and the report are in the run directory", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
