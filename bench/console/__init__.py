"""What `bench run` shows on the terminal while it works and when it is done.

`progress` is the pipeline's progress observer: a live display (case i of n, model, phase,
elapsed) when stderr is a terminal, one plain line per finished case otherwise (logs, CI, pipes);
`summary` the compact table printed at the end; `streams` keeps a closed stdout or stderr from
crashing a run. Nothing here measures or decides anything.
"""

from bench.console.progress import ProgressDisplay, case_line
from bench.console.streams import RUN_DIRS, announce, ensure_streams, say, silence
from bench.console.summary import summary_lines

__all__ = [
    "RUN_DIRS",
    "ProgressDisplay",
    "announce",
    "case_line",
    "ensure_streams",
    "say",
    "silence",
    "summary_lines",
]
