#!/bin/bash
# The CUDA features on a real GPU (about 300 s on an H200; from the project's root, `.gpu`
# carried): bench doctor's GPU clocks, `bench run` on features.toml (warm and cold L2, eager and
# CUDA-graph replay, NVML clocks per sample), agree.py on its warm eager rows, the CUDA tests.
set -u
root=$(pwd)
export PYTHONPATH=$root/.gpu/site:$root PYTHONUNBUFFERED=1 MPLBACKEND=Agg
. .gpu/common.sh
{ smi; python3 -c "import torch;print('torch',torch.__version__,torch.cuda.get_device_name(0))"; } >"$OUT/env.txt" 2>&1
step doctor 150 "$OUT/doctor.txt" python3 -m bench doctor --quick --json "$OUT/doctor.json"
step "bench run" 240 "$OUT/run.txt" python3 -m bench run .gpu/features.toml --out "$OUT/runs" --budget 1s
step agree 90 "$OUT/agree.md" python3 .gpu/agree.py "$OUT/runs" cuda
echo "after: $(smi)" >>"$OUT/env.txt" 2>&1
cuda_tests 130
run=$(ls -d "$OUT"/runs/*/ | tail -n 1)
python3 .gpu/features_table.py "$run" >"$OUT/features.md" 2>&1
(cd "$OUT" && tar -czf run.tgz runs && rm -rf runs)
cat "$OUT/env.txt"; grep -A12 -i "gpu clocks" "$OUT/doctor.txt"; tail -n 3 "$OUT/run.txt"
cat "$OUT/features.md" "$OUT/agree.md"; tail -n 15 "$OUT/cuda-tests.txt"
