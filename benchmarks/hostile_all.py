"""Every hostile model of the containment work in one suite, run with and without --isolate.

The models (tests/failing_models.py) raise BaseExceptions, take the SIGALRM timer away and
sleep, turn off oneDNN and turn on anomaly mode, leave threads, print megabytes, fork and stay,
os._exit(0), ignore SIGTERM, write into their input, change the cwd and torch's defaults, raise
`</details><script>`, hang, and delete the results folder the run writes into; a plain Linear
runs first and last. For each mode the script prints the exit code, the wall time, rows written
against cases in the suite, the statuses, whether the last Linear is still ok and not slowed
(its note-free row), and whether report.md holds any raw `<script>`. It asserts nothing.

    PYTHONPATH=. python benchmarks/hostile_all.py [--out DIR]
"""

from __future__ import annotations

import argparse
import collections
import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FAILING = Path(__file__).resolve().parent.parent / "tests" / "failing_models.py"
MODELS = [  # (name, factory function, kwargs)
    ("first_linear", "torch.nn:Linear", "{ in_features = 4, out_features = 4 }"),
    ("raises_cancelled", ":raises_cancelled", ""),
    ("raises_keyboard_interrupt", ":raises_keyboard_interrupt", ""),
    ("exits", ":exits", ""),
    ("takes_the_timer_away", ":takes_the_timer_away", ""),
    ("slows_the_process", ":slows_the_process", ""),
    ("leaves_thread", ":leaves_thread", ""),
    ("leaves_a_waiting_thread", ":leaves_a_waiting_thread", ""),
    ("raises_markup", ":raises_markup", ""),
    ("scales_its_input", ":scales_its_input", ""),
    ("ignores_sigterm", ":ignores_sigterm", ""),
    ("forks_and_stays", ":forks_and_stays", ""),
    ("prints_a_lot", ":prints_a_lot", ""),
    ("changes_settings", ":changes_settings", "{ cwd = CWD }"),
    ("hangs", ":hangs", ""),
    ("nan_output", ":nan_output", ""),
    ("build_fails", ":build_fails", ""),
    ("deletes_results", "wipe.py:make", ""),
    ("exits_the_process", ":exits_the_process", ""),
    ("last_linear", "torch.nn:Linear", "{ in_features = 4, out_features = 4 }"),
]
WIPE = (
    "import shutil\nimport torch\n"
    "def make():\n    shutil.rmtree({out!r}, ignore_errors=True)\n"
    "    return torch.nn.Linear(4, 4)\n"
)


def suite_text(folder: Path, out: Path) -> str:
    lines = ['[suite]\nname = "hostile-all"\n']
    for name, factory, kwargs in MODELS:
        if factory.startswith(":"):
            factory = f"{FAILING}{factory}"
        lines += ["[[models]]", f'name = "{name}"', f'factory = "{factory}"', "input_shape = [4]"]
        if kwargs:
            lines.append("kwargs = " + kwargs.replace("CWD", f'"{folder}"'))
        lines.append("")
    (folder / "wipe.py").write_text(WIPE.format(out=str(out)), encoding="utf-8")
    return "\n".join(lines)


def run(folder: Path, isolate: bool) -> None:
    label = "--isolate" if isolate else "in process"
    out = folder / ("out-isolate" if isolate else "out")
    suite = folder / f"suite-{'isolate' if isolate else 'plain'}.toml"
    suite.write_text(suite_text(folder, out), encoding="utf-8")
    command = [sys.executable, "-m", "bench", "run", str(suite), "--out", str(out),
               "--metrics", "params,latency,memory", "--budget", "0.3s", "--timeout", "10s",
               "--quiet", *(["--isolate"] if isolate else [])]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800, check=False)
    wall = time.perf_counter() - started
    run_dir = Path(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else None
    print(f"{label}: exit {done.returncode}, {wall:.0f} s, stderr {done.stderr.strip()[:200]!r}")
    if run_dir is None or not (run_dir / "results.csv").is_file():
        print("    no results.csv")
        return
    with (run_dir / "results.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    statuses = collections.Counter(r["status"] for r in rows)
    print(f"    {len(rows)} rows for {len(MODELS)} cases: {dict(statuses)}")
    names = [r["model"] for r in rows]
    missing = [name for name, _, _ in MODELS if name not in names]
    print(f"    missing rows: {missing or 'none'}; duplicated: {len(names) - len(set(names))}")
    last = next((r for r in rows if r["model"] == "last_linear"), None)
    if last is not None:
        print(f"    last_linear: {last['status']}, median {last['latency_median_ms']} ms, "
              f"contended {last['contended']}")  # fmt: skip
    report = (run_dir / "report.md").read_text(encoding="utf-8")
    raw, escaped = "<script>" in report, "&lt;script&gt;" in report
    print(f"    report.md: raw <script>: {raw}; escaped: {escaped}")
    for row in rows:
        print(f"      {row['model']:<28} {row['status']:<8} {row['error'][:90]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    folder = args.out or Path(tempfile.mkdtemp(prefix="hostile-all-"))
    folder.mkdir(parents=True, exist_ok=True)
    for isolate in (False, True):
        run(folder, isolate)


if __name__ == "__main__":
    main()
