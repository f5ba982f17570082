"""The product's figures beside torch.utils.benchmark, triton's do_bench and a hand CUDA-event loop,
on the same models built the same way; and its peak memory beside a hand reading."""

import csv
import glob
import sys

import torch
import torchvision
from torch.utils.benchmark import Timer

from bench.zoo import mlp_bn

run = sorted(glob.glob(sys.argv[1] + "/*/results.csv"))[-1]
dev = sys.argv[2]
with open(run, newline="") as handle:
    rows = list(csv.DictReader(handle))
DT = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def row_for(model, dtype, batch):
    for r in rows:
        if (r["model"], r["dtype"], r["batch_size"], r["mode"], r["compile"]) == (
            model,
            dtype,
            str(batch),
            "eval",
            "eager",
        ) and r.get("cache", "warm") in ("", "warm"):
            return r
    return None


def sync():
    if dev == "cuda":
        torch.cuda.synchronize()


print(
    "| case | bench median ms (CI) | tub ms | do_bench ms (L2 flushed) | events ms (back-to-back)"
    " | bench/tub | bench/do_bench | flags | peak B bench | peak B hand |"
)
print("|---|---|---|---|---|---|---|---|---|---|")
for name, dtype, batch, shape in [
    ("resnet50", "float32", 1, (3, 224, 224)),
    ("resnet50", "float32", 32, (3, 224, 224)),
    ("resnet50", "bfloat16", 32, (3, 224, 224)),
    ("resnet50", "bfloat16", 1, (3, 224, 224)),
    ("mlp_bn", "float32", 1, (1, 28, 28)),
]:
    r = row_for(name, dtype, batch)
    if r is None:
        print(f"| {name} {dtype} b{batch} | no row | | | | | | | | |")
        continue
    torch.manual_seed(0)
    m = (torchvision.models.resnet50(weights=None) if name == "resnet50" else mlp_bn()).eval()
    m = m.to(dev, DT[dtype])
    x = torch.randn(batch, *shape, device=dev, dtype=DT[dtype])
    with torch.inference_mode():
        for _ in range(10):
            m(x)
        sync()
        tub = (
            Timer("m(x)", globals={"m": m, "x": x}, num_threads=torch.get_num_threads())
            .blocked_autorange(min_run_time=1.0)
            .median
            * 1e3
        )
        db = ev = float("nan")
        peak = ""
        if dev == "cuda":
            import triton.testing

            db = triton.testing.do_bench(
                lambda m=m, x=x: m(x), warmup=25, rep=500, return_mode="median"
            )
            n = max(10, int(200 / max(tub, 0.01)))
            e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            sync()
            e0.record()
            for _ in range(n):
                m(x)
            e1.record()
            sync()
            ev = e0.elapsed_time(e1) / n
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            m(x)
            sync()
            peak = torch.cuda.max_memory_allocated()
    med = float(r["latency_median_ms"] or "nan")
    ci = f"{r['latency_ci_low_ms']}-{r['latency_ci_high_ms']}"
    flags = ",".join(k for k in ("noisy", "launch_bound", "contended") if r.get(k) == "true")
    flags += f" steady={r.get('steady')} first={r.get('first_call_ms')}"
    print(
        f"| {name} {dtype} b{batch} | {med:.4g} ({ci}) | {tub:.4g} | {db:.4g} | {ev:.4g} "
        f"| {med / tub:.3f} | {med / db:.3f} | {flags} | {r['peak_memory_bytes']} | {peak} |"
    )

print()
print("other rows (model, dtype, batch, mode, compile, status, median, compile_ms, peak):")
for r in rows:
    if not r["experiment"] and not (
        r["mode"] == "eval" and r["compile"] == "eager" and r["model"] in ("resnet50", "mlp_bn")
    ):
        print(
            " ",
            r["model"],
            r["dtype"],
            r["batch_size"],
            r["mode"],
            r["compile"],
            r["status"],
            r["error"][:120],
            r["latency_median_ms"],
            r["compile_ms"],
            r["peak_memory_bytes"],
            r["graph_breaks"],
        )
bad = [r for r in rows if r["status"] != "ok"]
print(
    f"rows {len(rows)}, not ok {len(bad)}:",
    [(r["model"] or r["experiment"], r["variant"], r["status"], r["error"][:100]) for r in bad][
        :10
    ],
)
