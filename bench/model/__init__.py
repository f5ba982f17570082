"""From a case to something to run: the model, its input, its step and the check of its output.

`factory` resolves a suite's `factory` string and builds the model (with its checkpoint, dtype
and in-place flags) and the seeded input; `checkpoints` loads weights safely (`weights_only`);
`workload` makes the eval or train step that is timed; `outputs` checks what a step returned.
"""

from bench.model.checkpoints import CheckpointError, load_checkpoint
from bench.model.factory import (
    INPUT_SEED,
    build_model,
    make_input,
    resolve_factory,
    set_inplace,
    torch_dtype,
)
from bench.model.outputs import NonFiniteOutputError, OutputError, check_output
from bench.model.workload import MODES, Workload, make_workload, scalar_loss

__all__ = [
    "INPUT_SEED",
    "MODES",
    "CheckpointError",
    "NonFiniteOutputError",
    "OutputError",
    "Workload",
    "build_model",
    "check_output",
    "load_checkpoint",
    "make_input",
    "make_workload",
    "resolve_factory",
    "scalar_loss",
    "set_inplace",
    "torch_dtype",
]
