"""features.toml's rows as one markdown table, then the run report's CUDA graphs section: what
run4.sh and next.sh print for the warm/cold, eager/graph and clock figures."""

import csv
import sys
from pathlib import Path

COLUMNS = [
    "model", "dtype", "batch_size", "compile", "cache", "status", "latency_median_ms",
    "latency_ci_low_ms", "latency_ci_high_ms", "sm_clock_min_mhz", "throttled", "error",
]  # fmt: skip

run = Path(sys.argv[1])
with open(run / "results.csv", newline="") as handle:
    rows = list(csv.DictReader(handle))
print("| " + " | ".join(COLUMNS) + " |")
print("|" + "---|" * len(COLUMNS))
for row in rows:
    print("| " + " | ".join(row.get(c, "")[:60] for c in COLUMNS) + " |")
report = (run / "report.md").read_text().splitlines()
start = next((i for i, line in enumerate(report) if line.startswith("## CUDA graphs")), None)
if start is None:
    print("\n(no CUDA graphs section in report.md)")
else:
    end = next((i for i in range(start + 1, len(report)) if report[i].startswith("## ")), None)
    print("\n" + "\n".join(report[start:end]))
