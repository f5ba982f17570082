import os
import sys
import threading

from bench.cli import main


def _exit(code: int) -> None:
    """Exit with `code` even if a model left a non-daemon thread running.

    Python joins every non-daemon thread at exit, so one thread a model started and never
    stopped would keep a finished run (rows and report written) alive forever. Flush what was
    printed, then leave without waiting for such threads.
    """
    lingering = [
        t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon
    ]
    if not lingering:
        sys.exit(code)
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


# The guard matters: `--isolate` starts workers with multiprocessing's spawn method, which
# imports this module again in each worker (as __mp_main__); it must not start another run there.
if __name__ == "__main__":
    _exit(main())
