"""The `bench` command line: parses arguments, calls the pipeline, maps outcomes to exit codes.

Each verb's module declares that verb's options (grouped as its `--help` shows them) and its
handler; this module only assembles them and maps errors to exit codes. Exit codes: 0 every case
ok (or skipped for a missing device), 1 some case failed (its row says why) or `bench doctor`
found the machine NOT fit, 2 bad usage or an invalid suite (one `error:` line on stderr), 130
interrupted (Ctrl-C), 143 terminated (SIGTERM); both keep the finished rows and write the report.
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
from collections.abc import Callable

from bench.cli.ab import add_ab
from bench.cli.arguments import (
    EXIT_CASE_FAILED,
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    EXIT_USAGE,
    UsageParser,
)
from bench.cli.doctor import add_doctor
from bench.cli.profile import add_profile
from bench.cli.run import add_run
from bench.cli.shards import add_merge, add_submit
from bench.cli.stored import add_compare, add_report
from bench.console.streams import RUN_DIRS, ensure_streams, say
from bench.errors import BenchError, TerminatedError, WriteError, one_line

__all__ = ["build_parser", "main"]


def _version() -> str:
    import bench

    return bench.__version__


def build_parser() -> argparse.ArgumentParser:
    parser = UsageParser(
        prog="bench",
        description="Numbers you can trust about PyTorch models: parameters, FLOPs/MACs, CPU and "
        "CUDA latency with confidence intervals, peak memory. `bench run SUITE` measures; "
        "`bench compare BASE NEW` says what changed between two runs; `bench ab SUITE --base REV` "
        "measures two versions interleaved in one run; `bench report RUN_DIR` rebuilds a report.",
        epilog="Exit codes: 0 ok, 1 a case failed (or --fail-on-regression tripped, or doctor's "
        "verdict is NOT fit), 2 bad usage or input, 3 a gate could not judge, 130 interrupted, "
        "143 terminated. More: README.md.",
    )
    parser.add_argument("--version", action="version", version=f"bench {_version()}")
    verbs = parser.add_subparsers(dest="verb", required=True, parser_class=UsageParser)
    for add_verb in (
        add_run,
        add_compare,
        add_ab,
        add_report,
        add_doctor,
        add_profile,
        add_merge,
        add_submit,
    ):
        add_verb(verbs)
    return parser


def _terminate(signum: int, frame: object) -> None:
    raise TerminatedError()


def _negative_values_attached(argv: list[str] | None) -> list[str]:
    """`--budget -1s` as `--budget=-1s`: argparse takes `-1s` for an option and said only
    "expected one argument"; attached, the value reaches the option's own check, which says
    what is allowed. (No bench option or positional argument takes a value that starts with a
    dash and a digit other than such a number.)"""
    words = list(sys.argv[1:] if argv is None else argv)
    joined: list[str] = []
    for word in words:
        previous = joined[-1] if joined else ""
        if re.match(r"-\.?\d", word) and previous.startswith("--") and "=" not in previous:
            joined[-1] = f"{previous}={word}"
        else:
            joined.append(word)
    return joined


def main(argv: list[str] | None = None) -> int:
    ensure_streams()
    RUN_DIRS.clear()
    parser = build_parser()
    args, unknown = parser.parse_known_args(_negative_values_attached(argv))
    if unknown:
        if "run_argv" not in args:  # only submit passes options on (to each shard's bench run)
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        args.run_argv = unknown
    previous = signal.getsignal(signal.SIGTERM)
    try:
        signal.signal(signal.SIGTERM, _terminate)  # SIGTERM writes the report too, like Ctrl-C
    except ValueError:  # not the main thread (e.g. called from a test thread): leave it be
        previous = None
    try:
        handler: Callable[[argparse.Namespace], int] = args.handler  # set by each verb
        return handler(args)
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
