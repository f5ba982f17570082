"""`bench ab SUITE --base SIDE --new SIDE`: what a change did, measured interleaved in one run.

Two runs made one after the other on a machine that drifts 20-30% between runs cannot tell a 10%
change from noise; `bench ab` alternates the two sides block by block, so drift cancels in each
round's ratio. What interleaving cannot cancel, a worker process's fixed state, is spread over
--processes worker pairs. Its gate has the same flags and exit codes as `bench compare`'s.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bench.cli.arguments import (
    EXIT_CASE_FAILED,
    EXIT_OK,
    EXIT_UNJUDGED,
    add_instruction_arguments,
    add_threads,
    add_verdict_arguments,
    duration,
    positive_int,
)
from bench.console.streams import say
from bench.durations import BUDGET, TIMEOUT, DurationLimit
from bench.errors import BenchError

if TYPE_CHECKING:
    from bench.ab.instructions import SideCounts
    from bench.ab.outcome import AbRun, CaseRun

BLOCK_TIME = DurationLimit("block time", 60.0, "1 minute")


def add_ab(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser(
        "ab",
        help="what a change did: BASE and NEW measured interleaved in one run, a verdict per case",
        description="Measure every case of SUITE on two sides, BASE and NEW, alternating block "
        "by block (ABBA rounds) in one run, so machine drift hits both alike; judge each case "
        "from the paired per-round ratios. A SIDE is a git revision of the current repository "
        "(checked out into a temporary worktree) or a directory. Prints markdown; writes "
        "comparison.md, .csv and .json into a new directory.",
    )
    parser.add_argument("suite", type=Path, metavar="SUITE", help="path to a suite .toml file")
    sides = parser.add_argument_group("sides")
    sides.add_argument(
        "--base",
        metavar="SIDE",
        help="the reference: a git revision or a directory (default: . when an interpreter "
        "option is given)",
    )
    sides.add_argument("--new", metavar="SIDE", default=".", help="the side to judge (default: .)")
    sides.add_argument("--base-python", metavar="PY", help="BASE's interpreter (default: this one)")
    sides.add_argument("--new-python", metavar="PY", help="NEW's interpreter (default: this one)")
    rounds = parser.add_argument_group("rounds")
    rounds.add_argument(
        "--budget",
        type=duration(BUDGET),
        default=3.0,
        metavar="DURATION",
        help="time for each case's rounds, both sides together (default 3s)",
    )
    rounds.add_argument(
        "--block-time",
        type=duration(BLOCK_TIME),
        default=0.1,
        metavar="DURATION",
        help="about how long one side's block lasts (default 100ms)",
    )
    rounds.add_argument(
        "--min-rounds",
        type=positive_int(),
        default=10,
        metavar="N",
        help="rounds per case at least, whatever the budget (default 10)",
    )
    rounds.add_argument(
        "--order",
        choices=("abba", "random"),
        default="abba",
        help="abba: even rounds BASE first, odd rounds NEW first (default); random: seeded",
    )
    rounds.add_argument("--seed", type=int, default=0, help="the seed of --order random")
    rounds.add_argument(
        "--processes",
        type=positive_int(64),
        default=2,
        metavar="N",
        help="worker pairs per case, one after another: each pair (its own BASE and NEW "
        "processes, restarted between pairs) prepares the case and runs 1/N of the rounds, and "
        "the interval resamples pairs, then rounds, so a process that landed slow for its whole "
        "life cannot pass for a change (default 2; each restart costs a torch import)",
    )
    rounds.add_argument(
        "--timeout",
        type=duration(TIMEOUT),
        metavar="DURATION",
        help="per-case limit, for each worker pair (default: the suite's `timeout`, else 10m); "
        "a worker past it is killed and the case is an error row",
    )
    add_threads(rounds)
    verdicts = add_verdict_arguments(parser)
    verdicts.add_argument(
        "--instructions",
        action="store_true",
        help="also count each side's instructions per call (CPU cases, one thread) under "
        "valgrind after the timing, shown beside the verdicts; gate on them with --gate",
    )
    add_instruction_arguments(verdicts)
    output = parser.add_argument_group("output")
    output.add_argument(
        "--out", type=Path, help="the new directory to write (default: results/ab-<UTC time>)"
    )
    parser.set_defaults(handler=ab)


class _Progress:
    """One line on stderr per case started and finished."""

    def case_started(self, index: int, total: int, label: str) -> None:
        say(f"[{index}/{total}] {label}: measuring")

    def case_finished(self, index: int, total: int, case: CaseRun) -> None:
        j = case.judgement
        figures = ""
        if j.ratio is not None and j.ci_low is not None and j.ci_high is not None:
            figures = f", NEW/BASE {j.ratio:.3f}x ({j.ci_low:.3f}-{j.ci_high:.3f})"
        pairs = f" in {case.pairs} pairs" if case.pairs > 1 else ""
        say(
            f"[{index}/{total}] {case.label}: {j.verdict}{figures}, {len(case.rounds)} rounds"
            f"{pairs} ({j.reason})"
        )


def ab(args: argparse.Namespace) -> int:
    from bench.ab.files import default_out, refuse_existing, write_comparison
    from bench.ab.process import ProcessWorker
    from bench.ab.sides import open_sides

    if args.base is None and args.base_python is None and args.new_python is None:
        raise BenchError(
            "give --base SIDE (a git revision or a directory), or --base-python/--new-python PY "
            "(see `bench ab --help`)"
        )
    if "instructions" in args.gate and not args.instructions:
        raise BenchError("--gate instructions needs --instructions (count them on both sides)")
    out = args.out if args.out is not None else default_out()
    refuse_existing(out)
    created = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    with open_sides(
        args.suite,
        args.base or ".",
        args.new,
        args.base_python or sys.executable,
        args.new_python or sys.executable,
        Path.cwd(),
    ) as sides:
        workers = [
            ProcessWorker(
                side.name,
                side.python,
                side.directory,
                side.suite,
                args.threads,
                sides.scratch / f"{side.name.lower()}.log",
            )
            for side in (sides.base, sides.new)
        ]
        try:
            for worker in workers:
                worker.start()
            # imported while the workers start: statistics and reports load numpy and scipy
            from bench.ab.controller import AbSettings, run_ab
            from bench.ab.render import SideDescription, render_csv, render_json, render_markdown

            settings = AbSettings(
                threshold=args.threshold,
                budget_s=args.budget,
                block_time_s=args.block_time,
                min_rounds=args.min_rounds,
                order=args.order,
                seed=args.seed,
                timeout_s=args.timeout,
                processes=args.processes,
            )
            listings = (workers[0].list_cases(), workers[1].list_cases())
            run = run_ab(workers[0], workers[1], listings, settings, observer=_Progress())
        except BaseException:  # Ctrl-C, a bad side: stop the workers now, mid-block or not
            for worker in workers:
                worker.kill()
            raise
        for worker in workers:
            worker.close()
        counts = None
        if args.instructions:
            from bench.ab.instructions import count_sides

            say("counting instructions under valgrind: BASE, then NEW")
            counts = count_sides(
                run, (sides.base, sides.new), args.instruction_margin, args.timeout
            )
        described = tuple(
            SideDescription(
                side.name,
                side.given,
                side.kind,
                str(side.directory),
                side.python,
                side.commit,
                listing.python_version,
                listing.torch_version,
            )
            for side, listing in zip((sides.base, sides.new), listings, strict=True)
        )
        markdown = render_markdown(run, described, settings)
        record = render_json(run, described, settings, str(args.suite), created)
        if counts is not None:
            markdown = "\n".join([markdown, *counts.lines(run)]).rstrip("\n") + "\n"
            record = json.dumps({**json.loads(record), "instructions": counts.record()}, indent=2)
        write_comparison(
            out,
            markdown,
            render_csv(run),
            record + "\n" if not record.endswith("\n") else record,
            {f"worker-{w.name.lower()}.log": w.log for w in workers},
        )
    sys.stdout.write(markdown)
    say(f"written: {out}")
    codes = []
    if "time" in args.gate or args.fail_on_regression is None:
        codes.append(exit_code(run, args.fail_on_regression, args.allow_inconclusive))
    if "instructions" in args.gate and args.fail_on_regression is not None and counts:
        codes.append(
            instruction_exit_code(counts, args.fail_on_regression, args.allow_inconclusive)
        )
    return EXIT_CASE_FAILED if EXIT_CASE_FAILED in codes else max(codes)


def exit_code(run: AbRun, fail_on_regression: float | None, allow_inconclusive: bool) -> int:
    """The gate, as `bench compare`'s: without --fail-on-regression 0, or 1 when a case failed;
    with it 1 for a confident regression past the limit, else 3 when the run cannot be judged
    (NEW failed a case, no case matched, every case inconclusive, an inconclusive case slower
    than the limit by its ratio) unless --allow-inconclusive,
    else 0. Says why on stderr."""
    from bench.ab.outcome import regressions_beyond, unjudged_reason

    if fail_on_regression is None:
        return EXIT_CASE_FAILED if any(c.errored for c in run.cases) else EXIT_OK
    limit = f"{100 * fail_on_regression:g}%"
    regressed = regressions_beyond(run, fail_on_regression)
    for case in regressed:
        low = case.judgement.ci_low
        say(f"regression: {case.label}: NEW/BASE interval starts at {low:.3f}x, past 1 + {limit}")
    if regressed:
        return EXIT_CASE_FAILED
    reason = unjudged_reason(run, fail_on_regression)
    if reason and not allow_inconclusive:
        say(f"gate: cannot judge ({reason}); exit {EXIT_UNJUDGED} (--allow-inconclusive passes)")
        return EXIT_UNJUDGED
    return EXIT_OK


def instruction_exit_code(
    counts: SideCounts, fail_on_regression: float, allow_inconclusive: bool
) -> int:
    """`--gate instructions`: 1 when a case's instructions per call rose by more than the
    limit, 3 when no case was counted on both sides (unless allowed), else 0."""
    more = counts.regressions(fail_on_regression)
    for key in more:
        limit = f"{100 * fail_on_regression:g}%"
        say(f"regression: {key.label}: more than {limit} more instructions per call")
    if more:
        return EXIT_CASE_FAILED
    if not counts.changes and not allow_inconclusive:
        say(f"gate: cannot judge (no case counted on both sides); exit {EXIT_UNJUDGED}")
        return EXIT_UNJUDGED
    return EXIT_OK
