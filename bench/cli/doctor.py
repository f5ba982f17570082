"""`bench doctor`: can this machine be trusted for benchmarking?"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.cli.arguments import EXIT_NOT_FIT, EXIT_OK, add_threads


def add_doctor(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser(
        "doctor",
        help="can this machine be trusted for benchmarking?",
        description="Measure this machine's clock, overhead, noise, contention and ceilings, "
        "show each GPU's clocks, power and throttle reasons with how to lock its clocks "
        "(NVML, from the gpu extra), and give a verdict. Exit 0 when it is fit for "
        "benchmarking, 1 when it is not (every reason is printed), so a script can run it "
        "before measuring.",
    )
    parser.add_argument("--quick", action="store_true", help="seconds, not minutes: rough figures")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    add_threads(parser)
    parser.set_defaults(handler=doctor)


def doctor(args: argparse.Namespace) -> int:
    from bench.doctor import noise_floor_of, render_doctor, run_doctor, write_doctor_json
    from bench.noise_floor import save_floor

    report = run_doctor(quick=args.quick, threads=args.threads)
    print(render_doctor(report))
    if args.json is not None:
        write_doctor_json(report, args.json)
    floor = noise_floor_of(report)
    if floor is None:
        print("noise floor not saved: other processes competed in the fresh processes; run again")
    else:
        path = save_floor(floor)
        print(
            f"noise floor {100 * floor.fraction:.1f}% saved to {path}: later runs record it, and "
            "`bench compare` calls no change below it"
        )
    return EXIT_OK if report.fit else EXIT_NOT_FIT
