#!/bin/bash
# Third GPU pass: the lead call shown on a model built to need it; the memory a training case
# leaves behind, read by the next case (its peak beside a hand reading).
set -u
root=$(pwd)
export PYTHONPATH=$root/.gpu/site:$root PYTHONUNBUFFERED=1 MPLBACKEND=Agg
S=$SECONDS
timeout 120 python3 .gpu/lead_proof.py >"$OUT/lead.md" 2>&1
echo "lead_proof rc=$? in $((SECONDS - S))s" >>"$OUT/lead.md"
S=$SECONDS
timeout 90 python3 -m bench run .gpu/memory.toml --out "$OUT/runs" --budget 0.5s >"$OUT/run.txt" 2>&1
echo "bench run rc=$? in $((SECONDS - S))s" >>"$OUT/run.txt"
timeout 60 python3 .gpu/agree.py "$OUT/runs" cuda >"$OUT/agree.md" 2>&1
(cd "$OUT" && tar -czf run.tgz runs && rm -rf runs)
cat "$OUT/lead.md"; tail -n 4 "$OUT/run.txt"; cat "$OUT/agree.md"
