import contextlib

import pytest
import torch
from torch import nn

from bench.model.inputs import ModelInput
from bench.model.variants import autocast
from bench.model.workload import make_workload, scalar_loss


def test_eval_workload_runs_forward_without_autograd() -> None:
    model = nn.Linear(3, 2).train()
    workload = make_workload(model, torch.randn(4, 3), "eval")
    assert not model.training
    assert workload.setup is None
    with workload.context():
        assert torch.is_inference_mode_enabled()
        workload.run()
    assert model.weight.grad is None


def test_train_workload_steps_the_optimizer_and_setup_clears_gradients() -> None:
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    before = model.weight.detach().clone()
    workload = make_workload(model, torch.randn(4, 3), "train")
    assert model.training
    with workload.context():
        workload.run()
        assert model.weight.grad is not None
        # the optimizer stepped (its momentum buffers exist) at learning rate 0: the weights
        # stay put, so many timed steps cannot drive them to inf on the synthetic loss
        assert len(workload.held_state()["optimizer_state"]) == 2
        assert torch.equal(model.weight.detach(), before)
        workload.setup()
    assert model.weight.grad is None


def test_scalar_loss_handles_structured_outputs() -> None:
    # the sum of the floating leaves' means: 2 + 1 (the integer leaf is left out)
    out = {"a": torch.full((2,), 2.0), "b": (torch.ones(3), torch.zeros(1, dtype=torch.long))}
    assert scalar_loss(out).item() == 3.0
    with pytest.raises(TypeError):
        scalar_loss("text")


def test_unknown_mode() -> None:
    with pytest.raises(ValueError, match="unknown mode"):
        make_workload(nn.Identity(), torch.zeros(1), "infer")


def test_train_workload_names_the_state_it_keeps_between_steps() -> None:
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    workload = make_workload(model, torch.randn(4, 3), "train")
    assert workload.held_state() == {"optimizer_state": [], "gradients": []}
    with workload.context():
        workload.setup()
        workload.run()
    held = workload.held_state()
    # SGD with momentum keeps one buffer per parameter, shaped like it
    assert [t.shape for t in held["optimizer_state"]] == [(2, 3), (2,)]
    assert [t.shape for t in held["gradients"]] == [(2, 3), (2,)]
    workload.setup()
    assert workload.held_state()["gradients"] == []
    assert make_workload(model, torch.randn(4, 3), "eval").held_state() == {}


class CountingContext:
    """A context factory that counts how often a forward asked for a context."""

    def __init__(self) -> None:
        self.entered = 0

    def __call__(self) -> contextlib.AbstractContextManager[None]:
        self.entered += 1
        return contextlib.nullcontext()


def test_a_float32_forward_enters_no_context(monkeypatch: pytest.MonkeyPatch) -> None:
    # autocast's "nothing to do" is nullcontext itself, which make_workload recognises and drops:
    # the timed forward is then the bare model call (a no-op context costs ~0.3 us per call).
    # Made a counting factory here, so a forward that still entered it would be seen.
    counting = CountingContext()
    monkeypatch.setattr(contextlib, "nullcontext", counting)
    assert autocast("float32", "cpu") is counting
    model = nn.Linear(3, 2)
    for mode in ("eval", "train"):
        for no_context in (None, autocast("float32", "cpu")):
            workload = make_workload(model, torch.randn(4, 3), mode, no_context)
            with workload.context():
                workload.run()
    assert counting.entered == 0


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_a_needed_context_is_entered_once_per_call(mode: str) -> None:
    factory = CountingContext()
    workload = make_workload(nn.Linear(3, 2), torch.randn(4, 3), mode, factory)
    assert factory.entered == 0
    with workload.context():
        for _ in range(3):
            if workload.setup is not None:
                workload.setup()
            workload.run()
    assert factory.entered == 3


def test_keyword_inputs_reach_the_forward() -> None:
    class Model(nn.Module):
        def forward(self, x: torch.Tensor, *, scale: float) -> torch.Tensor:
            return x * scale

    example = ModelInput((torch.ones(2),), {"scale": 3.0})
    for factory in (None, CountingContext()):
        workload = make_workload(Model(), example, "eval", factory)
        with workload.context():
            assert torch.equal(workload.run(), torch.full((2,), 3.0))


def test_the_overhead_benchmark_times_the_workload_against_the_bare_call() -> None:
    from bench.measure.timing.agreement import identity_workload

    run, reference = identity_workload()
    # bench's side is the float32 eval forward, which is the bare call torch's side times
    assert reference.stmt == "model(x)"
    with torch.inference_mode():
        assert run() is eval(reference.stmt, {}, reference.globals)
