#!/bin/bash
# What the GPU machine runs (from the project's root, `.gpu` carried; see benchmarks/gpu/README.md):
# bench's CUDA path on a small suite, its figures beside torch.utils.benchmark / triton do_bench /
# CUDA events, a stage-by-stage diagnosis of any gap, and the CUDA tests. Everything lands in $OUT.
set -u
root=$(pwd)
export PYTHONPATH=$root/.gpu/site:$root PYTHONUNBUFFERED=1 MPLBACKEND=Agg
. .gpu/common.sh
{ nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,clocks.mem,temperature.gpu,power.draw,pstate --format=csv
  python3 -c "import torch,torchvision;print('torch',torch.__version__,'torchvision',torchvision.__version__,'cuda',torch.cuda.is_available())"
  nproc; } >"$OUT/env.txt" 2>&1
step "bench run" 200 "$OUT/run.txt" python3 -m bench run .gpu/check.toml --out "$OUT/runs" --budget 1s
step agree 90 "$OUT/agree.md" python3 .gpu/agree.py "$OUT/runs" cuda
step diag 130 "$OUT/diag.txt" python3 .gpu/diag.py .gpu/check.toml
echo "after: $(smi)" >>"$OUT/env.txt" 2>&1
cuda_tests 130
(cd "$OUT" && tar -czf run.tgz runs && rm -rf runs)
cat "$OUT/env.txt"; tail -n 4 "$OUT/run.txt"; cat "$OUT/agree.md" "$OUT/diag.txt"; tail -n 25 "$OUT/cuda-tests.txt"
