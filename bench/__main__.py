import sys

from bench.cli import main

# The guard matters: `--isolate` starts workers with multiprocessing's spawn method, which
# imports this module again in each worker (as __mp_main__); it must not start another run there.
if __name__ == "__main__":
    sys.exit(main())
