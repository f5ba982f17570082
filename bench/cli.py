"""The `bench` command line: parses arguments, calls the pipeline, maps outcomes to exit codes.

Exit codes: 0 every case ok (or skipped for a missing device), 1 some case failed (its row says
why), 2 bad usage or an invalid suite (one `error:` line on stderr), 130 interrupted (Ctrl-C),
143 terminated (SIGTERM); both keep the finished rows and write the report.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import signal
import sys
from pathlib import Path

from bench.errors import BenchError, OutputError, TerminatedError, one_line
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
    if not text.isdigit() or not 1 <= int(text) <= 1024:
        message = f"threads must be a positive integer, at most 1024, got {text!r}"
        raise argparse.ArgumentTypeError(message)
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
    run.add_argument(
        "--timeout",
        type=_timeout,
        metavar="DURATION",
        help="per-case limit, e.g. 90s or 10m (default: the suite's `timeout`, else 10m); "
        "a case past it is a `timeout` row and the run goes on",
    )
    run.add_argument(
        "--retry-timeouts",
        action="store_true",
        help="with --resume: run the cases that timed out again (default: keep their rows)",
    )
    return parser


def _timeout(text: str) -> float:
    from bench.measure.watchdog import parse_timeout

    try:
        return parse_timeout(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _print_progress(index: int, total: int, case: Case, result: Result | None) -> None:
    if result is None:
        return
    detail = result.error if result.status != "ok" else ""
    if result.latency is not None:
        lat = result.latency
        spread = f" +-{100 * lat.relative_half_width:.1f}%" if lat.ci_low_ms is not None else ""
        missed = " (precision target not met)" if lat.precision_met is False else ""
        detail = f"median {lat.median_ms:.3f} ms{spread}{missed}"
    line = one_line(f"[{index}/{total}] {case.label}: {result.status} {detail}".rstrip())
    try:
        print(line, file=sys.stderr, flush=True)
    except (OSError, ValueError):  # progress is a courtesy: a closed stderr does not stop a run
        _silence(sys.stderr)


_RUN_DIR: list[Path] = []  # the run directory, once it exists (for the closing message)


def _announce(run_dir: Path) -> None:
    """Print the run directory on stdout (scripts read it); a closed pipe stops the run."""
    _RUN_DIR.append(run_dir)
    try:
        print(run_dir, flush=True)
    except BrokenPipeError:
        _silence(sys.stdout)  # or Python's exit-time flush reports the same broken pipe again
        raise OutputError(f"stdout: the pipe was closed; the run is in {run_dir}") from None


def _silence(stream: object) -> None:
    """Point a broken stream's descriptor at /dev/null so nothing tries to write to it again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())  # type: ignore[attr-defined]
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def _ensure_streams() -> None:
    """With stdout or stderr closed (`2>&-`) Python sets sys.stderr to None, and every warning
    or print to it would fail inside the cases: give such a stream /dev/null instead. Writes
    past `ulimit -f` become an OSError (EFBIG) rather than killing the run by SIGXFSZ."""
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115
    if hasattr(signal, "SIGXFSZ"):
        with contextlib.suppress(ValueError):  # not the main thread: leave it be
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


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
        timeout_s=args.timeout,
    )
    outcome = run_suite(
        args.suite,
        args.out,
        options,
        progress=None if args.quiet else _print_progress,
        on_run_dir=_announce,
        resume=args.resume,
        retry_timeouts=args.retry_timeouts,
    )
    return EXIT_OK if outcome.all_ok else EXIT_CASE_FAILED


def _doctor(args: argparse.Namespace) -> int:
    from bench.doctor import render_doctor, run_doctor, write_doctor_json

    report = run_doctor(quick=args.quick, threads=args.threads)
    print(render_doctor(report))
    if args.json is not None:
        write_doctor_json(report, args.json)
    return EXIT_OK


def _say(line: str) -> None:
    """The closing line on stderr; a closed stderr cannot hear it, and must not crash us."""
    try:
        print(line, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        _silence(sys.stderr)


def _terminate(signum: int, frame: object) -> None:
    raise TerminatedError()


def main(argv: list[str] | None = None) -> int:
    _ensure_streams()
    _RUN_DIR.clear()
    args = build_parser().parse_args(argv)
    previous = signal.getsignal(signal.SIGTERM)
    try:
        signal.signal(signal.SIGTERM, _terminate)  # SIGTERM writes the report too, like Ctrl-C
    except ValueError:  # not the main thread (e.g. called from a test thread): leave it be
        previous = None
    try:
        return _doctor(args) if args.verb == "doctor" else _run(args)
    except OutputError as exc:
        _say(f"error: {one_line(str(exc))}")
        return EXIT_CASE_FAILED if exc.finished else EXIT_USAGE
    except BenchError as exc:
        _say(f"error: {one_line(str(exc))}")
        return EXIT_USAGE
    except KeyboardInterrupt as exc:
        word = "terminated" if isinstance(exc, TerminatedError) else "interrupted"
        if _RUN_DIR:
            _say(f"{word}: finished rows and the report are in the run directory {_RUN_DIR[-1]}")
        else:
            _say(f"{word}: stopped before a run directory was made; nothing was written")
        return EXIT_TERMINATED if isinstance(exc, TerminatedError) else EXIT_INTERRUPTED
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
