# Sourced by run.sh and run2.sh (from the project's root, `.gpu` carried): what both do.

# the GPU's clocks, temperature, power and throttle reasons, one CSV line
smi() { nvidia-smi --query-gpu=clocks.sm,clocks.max.sm,clocks.mem,temperature.gpu,power.draw,pstate,clocks_throttle_reasons.active --format=csv,noheader; }

# step NAME LIMIT_S FILE COMMAND...: run COMMAND under a time limit into FILE, then append its
# exit status and seconds, so one slow or failing step leaves the others their time
step() {
  local name=$1 limit=$2 file=$3 started=$SECONDS
  shift 3
  timeout "$limit" "$@" >"$file" 2>&1
  echo "$name rc=$? in $((SECONDS - started))s" >>"$file"
}

# cuda_tests LIMIT_S: the CUDA tests, with bench's pytest plugin found by its entry point
# (installed offline, no dependencies) or, failing that, loaded by name
cuda_tests() {
  local plug=""
  python3 -c "import importlib.metadata as m, sys; sys.exit(not any(e.name == 'bench' for e in m.entry_points(group='pytest11')))" \
    || python3 -m pip install -q --no-deps --no-build-isolation --no-index -e . >"$OUT/install.txt" 2>&1 \
    || plug="-p bench.pytest_plugin"
  step pytest "$1" "$OUT/cuda-tests.txt" python3 -m pytest -m cuda -q $plug -p no:cacheprovider tests
}
