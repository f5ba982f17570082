#!/bin/bash
# What the GPU machine runs (from the project's root, `.gpu` carried; see benchmarks/gpu/README.md):
# bench's CUDA path on a small suite, its figures beside torch.utils.benchmark / triton do_bench /
# CUDA events, a stage-by-stage diagnosis of any gap, and the CUDA tests. Everything lands in $OUT.
set -u
root=$(pwd)
export PYTHONPATH=$root/.gpu/site:$root PYTHONUNBUFFERED=1 MPLBACKEND=Agg
smi() { nvidia-smi --query-gpu=clocks.sm,clocks.max.sm,clocks.mem,temperature.gpu,power.draw,pstate,clocks_throttle_reasons.active --format=csv,noheader; }
{ nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,clocks.mem,temperature.gpu,power.draw,pstate --format=csv
  python3 -c "import torch,torchvision;print('torch',torch.__version__,'torchvision',torchvision.__version__,'cuda',torch.cuda.is_available())"
  nproc; } >"$OUT/env.txt" 2>&1
S=$SECONDS
timeout 200 python3 -m bench run .gpu/check.toml --out "$OUT/runs" --budget 1s >"$OUT/run.txt" 2>&1
echo "bench run rc=$? in $((SECONDS - S))s" >>"$OUT/run.txt"
S=$SECONDS
timeout 90 python3 .gpu/agree.py "$OUT/runs" cuda >"$OUT/agree.md" 2>&1
echo "agree rc=$? in $((SECONDS - S))s" >>"$OUT/agree.md"
S=$SECONDS
timeout 130 python3 .gpu/diag.py .gpu/check.toml >"$OUT/diag.txt" 2>&1
echo "diag rc=$? in $((SECONDS - S))s" >>"$OUT/diag.txt"
echo "after: $(smi)" >>"$OUT/env.txt" 2>&1
. .gpu/cuda_tests.sh 130
(cd "$OUT" && tar -czf run.tgz runs && rm -rf runs)
cat "$OUT/env.txt"; tail -n 4 "$OUT/run.txt"; cat "$OUT/agree.md" "$OUT/diag.txt"; tail -n 25 "$OUT/cuda-tests.txt"
