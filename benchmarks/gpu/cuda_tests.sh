# Sourced by run.sh and run2.sh: the CUDA tests, with bench's pytest plugin found by its entry
# point (installed offline, no dependencies) or, failing that, loaded by name. $1: time limit.
PLUG=""
has_entry() { python3 -c "import importlib.metadata as m, sys; sys.exit(not any(e.name == 'bench' for e in m.entry_points(group='pytest11')))"; }
has_entry || python3 -m pip install -q --no-deps --no-build-isolation --no-index -e . >"$OUT/install.txt" 2>&1 || PLUG="-p bench.pytest_plugin"
S=$SECONDS
timeout "$1" python3 -m pytest -m cuda -q $PLUG -p no:cacheprovider tests >"$OUT/cuda-tests.txt" 2>&1
echo "pytest rc=$? in $((SECONDS - S))s" >>"$OUT/cuda-tests.txt"
