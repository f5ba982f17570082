#!/bin/bash
# Second GPU pass (after run.sh): bench's sampling beside tub and an event loop, interleaved in one
# process; the model cases of the check suite with a 2 s budget beside the references; the CUDA tests.
set -u
root=$(pwd)
export PYTHONPATH=$root/.gpu/site:$root PYTHONUNBUFFERED=1 MPLBACKEND=Agg
. .gpu/common.sh
echo "before: $(smi)" >"$OUT/env.txt"
sed '/^\[\[experiments\]\]/,$d' .gpu/check.toml >.gpu/models.toml
step interleaved 150 "$OUT/interleaved.md" python3 .gpu/interleaved.py .gpu/models.toml 6
step "bench run" 150 "$OUT/run.txt" python3 -m bench run .gpu/models.toml --out "$OUT/runs" --budget 2s
step agree 80 "$OUT/agree.md" python3 .gpu/agree.py "$OUT/runs" cuda
echo "after: $(smi)" >>"$OUT/env.txt"
cuda_tests 100
(cd "$OUT" && tar -czf run.tgz runs && rm -rf runs)
cat "$OUT/env.txt" "$OUT/interleaved.md"; tail -n 9 "$OUT/run.txt"; cat "$OUT/agree.md"; tail -n 15 "$OUT/cuda-tests.txt"
