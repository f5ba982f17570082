#!/bin/bash
# Everything still owed to a GPU, in one call that fits one session's device time (about 450 s
# expected on an H200, at most 570 s by its step limits; from the project's root, `.gpu` carried):
# issue 31's done-when (check.toml beside the references, the CUDA tests) first, then issue 28's
# figures (features.toml: warm and cold L2, eager and CUDA-graph replay, NVML clocks per sample)
# and bench doctor's GPU clocks last, so a slow step costs the least important figures.
set -u
root=$(pwd)
export PYTHONPATH=$root/.gpu/site:$root PYTHONUNBUFFERED=1 MPLBACKEND=Agg
. .gpu/common.sh
{ nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; echo "before: $(smi)"
  python3 -c "import torch,torchvision;print('torch',torch.__version__,'torchvision',torchvision.__version__)"
  nproc; } >"$OUT/env.txt" 2>&1
mkdir -p "$OUT/check" "$OUT/features"
step "bench run check" 170 "$OUT/check/run.txt" python3 -m bench run .gpu/check.toml --out "$OUT/check/runs" --budget 1s
step agree 60 "$OUT/check/agree.md" python3 .gpu/agree.py "$OUT/check/runs" cuda
cuda_tests 100
step "bench run features" 200 "$OUT/features/run.txt" python3 -m bench run .gpu/features.toml --out "$OUT/features/runs" --budget 1s
run=$(ls -d "$OUT"/features/runs/*/ 2>/dev/null | tail -n 1)
[ -n "$run" ] && python3 .gpu/features_table.py "$run" >"$OUT/features/table.md" 2>&1
step doctor 40 "$OUT/doctor.txt" python3 -m bench doctor --quick --json "$OUT/doctor.json"
echo "after: $(smi)" >>"$OUT/env.txt" 2>&1
for d in check features; do (cd "$OUT/$d" && tar -czf runs.tgz runs && rm -rf runs); done
cat "$OUT/env.txt"; tail -n 3 "$OUT/check/run.txt"; cat "$OUT/check/agree.md"; tail -n 15 "$OUT/cuda-tests.txt"
tail -n 3 "$OUT/features/run.txt"; cat "$OUT/features/table.md"; grep -A12 -i "gpu clocks" "$OUT/doctor.txt"
