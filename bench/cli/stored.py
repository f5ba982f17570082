"""`bench compare` and `bench report`: verbs over runs already on disk. They never measure, so
they never import torch."""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

from bench.cli.arguments import (
    EXIT_CASE_FAILED,
    EXIT_OK,
    EXIT_UNJUDGED,
    add_instruction_arguments,
    add_verdict_arguments,
)


def add_compare(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser(
        "compare",
        help="what changed between two runs: faster, slower, same or inconclusive per case",
        description="Compare two runs case by case from their raw samples. BASE and NEW are run "
        "directories (or pytest-benchmark JSON files saved with --benchmark-save-data). Prints "
        "markdown; exit 1 with --fail-on-regression when a case is confidently slower.",
    )
    parser.add_argument("base", type=Path, metavar="BASE", help="the earlier run")
    parser.add_argument("new", type=Path, metavar="NEW", help="the run to judge against BASE")
    verdicts = add_verdict_arguments(parser)
    add_instruction_arguments(verdicts)
    verdicts.add_argument(
        "--force", action="store_true", help="compare even if the runs used different hardware"
    )
    output = parser.add_argument_group("output")
    output.add_argument("--out", type=Path, help="also write the markdown to this file")
    parser.set_defaults(handler=compare)


def add_report(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser(
        "report",
        help="rebuild a run's report.md and plots from its record",
        description="Rewrite report.md and the PNG plots of RUN_DIR from its record alone "
        "(run.json and cases.jsonl; the same record gives byte-identical files, for plain, "
        "merged and profiled runs alike).",
    )
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a bench run directory")
    parser.set_defaults(handler=report)


def compare(args: argparse.Namespace) -> int:
    from bench.compare import (
        CompareError,
        compare_runs,
        device_mismatch,
        instruction_regressions,
        instructions_unjudged,
        load_side,
        regressions_beyond,
        render_comparison,
        unjudged_reason,
    )

    base, new = load_side(args.base), load_side(args.new)
    mismatch = device_mismatch(base, new)
    if mismatch and not args.force:
        raise CompareError(
            f"{args.base} vs {args.new}: different hardware ({mismatch}); "
            "timings are not comparable; pass --force to compare anyway"
        )
    from bench.compare.history import aa_floors

    comparison = compare_runs(
        base, new, args.threshold, aa_floors(base, new), args.instruction_margin
    )
    text = render_comparison(comparison, mismatch)
    if args.out is not None:
        write_text_file(args.out, text)
    sys.stdout.write(text)
    if args.fail_on_regression is None:
        return EXIT_OK
    limit = args.fail_on_regression
    gates = {  # each gate asked for: the cases past it, why it cannot judge, what past means
        "time": (
            regressions_beyond,
            partial(unjudged_reason, fraction=limit),
            "confidently slower",
        ),
        "instructions": (
            instruction_regressions,
            instructions_unjudged,
            f"with more than {100 * limit:g}% more instructions",
        ),
    }
    codes = [
        gate_exit_code(
            [c.base.label for c in regressions(comparison, limit)],
            unjudged(comparison),
            args.allow_inconclusive,
            what,
        )
        for name, (regressions, unjudged, what) in gates.items()
        if name in args.gate
    ]
    return EXIT_CASE_FAILED if EXIT_CASE_FAILED in codes else max(codes)


def gate_exit_code(
    regressed: list[str], unjudged: str, allow_inconclusive: bool, what: str = "confidently slower"
) -> int:
    """1 when a case regressed; 3 when the gate could not judge (unless allowed); else 0.
    Says why on stderr, one line, so a CI log shows the cause without the markdown."""
    if regressed:
        shown = ", ".join(f"`{label}`" for label in regressed[:3])
        more = f" and {len(regressed) - 3} more" if len(regressed) > 3 else ""
        print(f"gate: {len(regressed)} case(s) {what}: {shown}{more}", file=sys.stderr)
        return EXIT_CASE_FAILED
    if unjudged and not allow_inconclusive:
        print(f"gate: cannot judge: {unjudged} (--allow-inconclusive to pass)", file=sys.stderr)
        return EXIT_UNJUDGED
    return EXIT_OK


def write_text_file(path: Path, text: str) -> None:
    """Write an --out file; a path that cannot be written is a one-line error (exit 2)."""
    from bench.errors import BenchError

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise BenchError(f"--out {path}: cannot write ({exc.strerror or exc})") from None


def report(args: argparse.Namespace) -> int:
    from bench.errors import write_error
    from bench.report.rebuild import write_report

    try:
        path = write_report(args.run_dir)
    except OSError as exc:  # a read-only run directory, a full disk: one line, not a traceback
        raise write_error(args.run_dir, exc, "cannot write the report") from None
    print(path)
    return EXIT_OK
