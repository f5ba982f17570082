"""From a case to something to run: the model, its input, its step and the check of its output.

`factory` resolves a suite's `factory` string and builds the model (with its checkpoint, dtype
and in-place flags); `inputs` makes the seeded inputs and calls the model with them;
`checkpoints` loads weights safely (`weights_only`); `workload` makes the eval or train step that
is timed; `outputs` checks what a step returned; `inplace` compares a compare_inplace model's two
builds; `downloads` keeps weights random and refuses any download while a case runs; `variants`
owns precision (cast or autocast), memory format and torch.compile.
"""

from bench.model.checkpoints import CheckpointError, load_checkpoint
from bench.model.downloads import DownloadBlocked, block_downloads, random_weight_kwargs
from bench.model.factory import (
    build_model,
    resolve_factory,
    set_inplace,
    torch_dtype,
)
from bench.model.inplace import InplaceCheck, check_inplace
from bench.model.inputs import INPUT_SEED, ModelInput, input_problem, make_input
from bench.model.outputs import (
    NonFiniteOutputError,
    OutputError,
    check_output,
    compare_outputs,
    output_leaves,
)
from bench.model.variants import (
    AMP_DTYPES,
    COMPILE_MODES,
    DTYPES,
    MEMORY_FORMATS,
    CompileWarmup,
    autocast,
    compile_model,
    compile_problem,
    memory_format_problem,
    storage_dtype,
    unsupported_dtype,
    warm_compiled,
)
from bench.model.workload import MODES, Workload, make_workload, scalar_loss, train_workload

__all__ = [
    "AMP_DTYPES",
    "COMPILE_MODES",
    "DTYPES",
    "INPUT_SEED",
    "MEMORY_FORMATS",
    "MODES",
    "CheckpointError",
    "CompileWarmup",
    "DownloadBlocked",
    "InplaceCheck",
    "ModelInput",
    "NonFiniteOutputError",
    "OutputError",
    "Workload",
    "autocast",
    "block_downloads",
    "build_model",
    "check_inplace",
    "check_output",
    "compare_outputs",
    "compile_model",
    "compile_problem",
    "input_problem",
    "load_checkpoint",
    "make_input",
    "make_workload",
    "memory_format_problem",
    "output_leaves",
    "random_weight_kwargs",
    "resolve_factory",
    "scalar_loss",
    "set_inplace",
    "storage_dtype",
    "torch_dtype",
    "train_workload",
    "unsupported_dtype",
    "warm_compiled",
]
