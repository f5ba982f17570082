"""Retired instructions per call (`--metrics instructions`): the CPU's own counter where the
machine exposes it, else valgrind's callgrind, run once per suite in one process.

`counter` opens the hardware counter; `calls` is the loop both ways share (warm-up, then the
minimum over repeats, one intra-op thread); `callgrind` starts the one valgrind process and
reads back what it counted; `worker` is what runs inside it; `dumps` reads callgrind's files.
"""
