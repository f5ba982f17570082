"""`bench ab`: two versions of the user's code measured interleaved in one run, judged per case.

`sides` resolves BASE and NEW (a git revision checked out into a temporary worktree, or a
directory, each with its own interpreter); `process` runs each side's `worker` (which times cases
with `session`, the same build and timing code as `bench run`) and speaks `protocol` to it;
`controller` alternates the sides block by block in ABBA rounds; `outcome` judges each case from
its paired rounds with the one interval rule; `render` and `files` write the comparison.

Nothing here is imported by `bench` at start-up: only the verb and the worker load it.
"""
