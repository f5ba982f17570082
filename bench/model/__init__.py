"""From a case to something to run: the model, its input, its step and the check of its output.

`resolve` finds the callable a suite's `factory` string names; `factory` builds the model with
it (with its checkpoint, dtype and in-place flags); `inputs` makes the seeded inputs and calls the
model with them; `checkpoints` loads weights safely (`weights_only`); `workload` makes the eval or
train step that is timed; `outputs` checks what a step returned; `inplace` compares a
compare_inplace model's two builds; `downloads` keeps weights random and refuses any download
while a case runs; `variants` owns precision (cast or autocast), memory format and torch.compile.

Its names are imported on first use, so that importing one of its modules imports only that
one: the suite loader uses `resolve`, which imports no torch of its own.
"""

from __future__ import annotations

from bench import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "bench.records.axes": ("AMP_DTYPES", "COMPILE_MODES", "DTYPES", "MEMORY_FORMATS", "MODES"),
        "bench.model.checkpoints": ("CheckpointError", "load_checkpoint"),
        "bench.model.downloads": ("DownloadBlocked", "block_downloads", "random_weight_kwargs"),
        "bench.model.factory": ("build_model", "set_inplace", "torch_dtype"),
        "bench.model.inplace": ("InplaceCheck", "check_inplace"),
        "bench.model.inputs": ("INPUT_SEED", "ModelInput", "input_problem", "make_input"),
        "bench.model.resolve": ("resolve_factory",),
        "bench.model.outputs": (
            "NonFiniteOutputError",
            "OutputError",
            "check_output",
            "compare_outputs",
            "output_leaves",
        ),
        "bench.model.variants": (
            "CompileWarmup",
            "autocast",
            "compile_model",
            "compile_problem",
            "memory_format_problem",
            "storage_dtype",
            "unsupported_dtype",
            "warm_compiled",
        ),
        "bench.model.workload": ("Workload", "make_workload", "scalar_loss", "train_workload"),
    },
)
