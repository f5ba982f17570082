#!/bin/bash
# Second GPU pass (after run.sh): bench's sampling beside tub and an event loop, interleaved in one
# process; the model cases of the check suite with a 2 s budget beside the references; the CUDA tests.
set -u
root=$(pwd)
export PYTHONPATH=$root/.gpu/site:$root PYTHONUNBUFFERED=1 MPLBACKEND=Agg
smi() { nvidia-smi --query-gpu=clocks.sm,clocks.max.sm,temperature.gpu,power.draw,pstate,clocks_throttle_reasons.active --format=csv,noheader; }
echo "before: $(smi)" >"$OUT/env.txt"
sed '/^\[\[experiments\]\]/,$d' .gpu/check.toml >.gpu/models.toml
S=$SECONDS
timeout 150 python3 .gpu/interleaved.py .gpu/models.toml 6 >"$OUT/interleaved.md" 2>&1
echo "interleaved rc=$? in $((SECONDS - S))s" >>"$OUT/interleaved.md"
S=$SECONDS
timeout 150 python3 -m bench run .gpu/models.toml --out "$OUT/runs" --budget 2s >"$OUT/run.txt" 2>&1
echo "bench run rc=$? in $((SECONDS - S))s" >>"$OUT/run.txt"
S=$SECONDS
timeout 80 python3 .gpu/agree.py "$OUT/runs" cuda >"$OUT/agree.md" 2>&1
echo "agree rc=$? in $((SECONDS - S))s" >>"$OUT/agree.md"
echo "after: $(smi)" >>"$OUT/env.txt"
. .gpu/cuda_tests.sh 100
(cd "$OUT" && tar -czf run.tgz runs && rm -rf runs)
cat "$OUT/env.txt" "$OUT/interleaved.md"; tail -n 9 "$OUT/run.txt"; cat "$OUT/agree.md"; tail -n 15 "$OUT/cuda-tests.txt"
