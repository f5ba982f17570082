"""`compile = "cuda-graph"` / `graphs = true` / `--cuda-graphs`: capture through the fake device,
a capture that fails as a skipped row, the suite expansion, and the launch-bound verdict."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.errors import CaseUnsupported, SuiteError
from bench.measure.timing import CudaTimer, TimingPolicy, measure_latency
from bench.model.graphs import WARMUP_CALLS, capture_graph, graph_problem
from bench.records import LatencyStats, Result
from bench.report.graphs import GraphPair, graph_pairs, graphs_section
from bench.suite.load import expand, load_suite, with_variant_overrides
from tests.fakes import FakeClock, FakeCudaBackend


def test_capture_warms_up_on_a_side_stream_then_captures_once() -> None:
    backend = FakeCudaBackend(repeat_ms=1.0)
    replay = capture_graph(backend.run_kernel, "cuda:0", backend)
    names = [entry[0] for entry in backend.log]
    assert names == [
        "synchronize",
        "wait_stream",  # the side stream waits for the work already queued
        "stream",
        *["kernel"] * WARMUP_CALLS,
        "stream_end",
        "wait_stream",  # and the current stream for the warm-up
        "capture_begin",
        "kernel",
        "capture_end",
        "synchronize",
    ]
    backend.log.clear()
    replay()
    assert backend.log == [("replay",), ("kernel",)]


def test_replays_time_like_any_call() -> None:
    backend = FakeCudaBackend(repeat_ms=0.25)
    replay = capture_graph(backend.run_kernel, "cuda:0", backend)
    policy = TimingPolicy(
        warmup_min_iterations=2, steady_window=0, min_blocks=3, max_samples=3, budget_s=0.0
    )
    stats = measure_latency(
        replay, CudaTimer("cuda:0", backend, FakeClock(1000)), policy, FakeClock(1000)
    )
    assert set(stats.samples_ms) == {0.25}


@pytest.mark.parametrize("where", ["warm-up", "capture"])
def test_a_forward_that_cannot_be_captured_is_unsupported(where: str) -> None:
    backend = FakeCudaBackend(repeat_ms=1.0)
    if where == "capture":
        backend.capture_error = RuntimeError("operation not permitted when stream is capturing")
        run = backend.run_kernel
    else:

        def run() -> None:
            raise RuntimeError("Tensor.item() synchronizes")

    with pytest.raises(CaseUnsupported) as caught:
        capture_graph(run, "cuda:0", backend)
    assert str(caught.value).startswith("cuda-graph: the forward could not be captured")
    assert "RuntimeError" in str(caught.value)


def test_what_cannot_be_a_graph_is_said_before_building() -> None:
    assert graph_problem("eager", "cpu", "eval") is None
    assert graph_problem("cuda-graph", "cuda:0", "eval") is None
    assert "CUDA device" in (graph_problem("cuda-graph", "cpu", "eval") or "")
    assert "reduce-overhead" in (graph_problem("cuda-graph", "cuda", "train") or "")


def test_a_cuda_graph_case_on_the_cpu_is_a_skipped_row(tmp_path: Path) -> None:
    from bench.measure.case import RunOptions, measure_case

    (case,) = expand(load_suite(_suite(tmp_path, 'compile = ["cuda-graph"]')))
    result = measure_case(case, RunOptions(metrics=frozenset({"latency"})))
    assert result.status == "skipped"
    assert result.error.startswith("cuda-graph: CUDA graphs need a CUDA device")


def _suite(tmp_path: Path, header: str, devices: str = '["cpu"]') -> Path:
    path = tmp_path / "suite.toml"
    path.write_text(
        f'[suite]\nname = "s"\ndevices = {devices}\n{header}\n\n[[models]]\nname = "m"\n'
        'factory = "torch.nn:Identity"\ninput_shape = [4]\n'
    )
    return path


def test_graphs_true_adds_a_graph_case_after_eager_on_cuda_only(tmp_path: Path) -> None:
    suite = load_suite(
        _suite(tmp_path, 'graphs = true\ncompile = ["eager", "default"]', '["cpu", "cuda"]')
    )
    got = [(c.device, c.compile) for c in expand(suite)]
    assert got == [
        ("cpu", "eager"),
        ("cpu", "default"),
        ("cuda", "eager"),
        ("cuda", "cuda-graph"),
        ("cuda", "default"),
    ]


def test_cuda_graphs_flag_is_graphs_true_for_every_model(tmp_path: Path) -> None:
    suite = load_suite(_suite(tmp_path, "", '["cuda"]'))
    assert [c.compile for c in expand(suite)] == ["eager"]
    assert [c.compile for c in expand(with_variant_overrides(suite, None, True))] == [
        "eager",
        "cuda-graph",
    ]


def test_graphs_must_be_a_boolean(tmp_path: Path) -> None:
    with pytest.raises(SuiteError) as caught:
        load_suite(_suite(tmp_path, 'graphs = "yes"'))
    assert "graphs" in str(caught.value) and "true or false" in str(caught.value)


def _latency(median_ms: float, half_width: float = 0.01) -> LatencyStats:
    samples = [median_ms * (1 + half_width * (i - 10) / 10) for i in range(21)]
    return LatencyStats.from_samples(samples, precision_target=0.01)


@pytest.mark.parametrize(
    ("eager_ms", "graph_ms", "verdict"),
    [
        (0.130, 0.080, "launch-bound"),  # 1.63x, intervals apart
        (5.25, 5.20, "device-bound"),  # within 10%
        (0.100, 0.120, "graphs slower"),
    ],
)
def test_launch_bound_verdict(eager_ms: float, graph_ms: float, verdict: str) -> None:
    pair = GraphPair("m", _latency(eager_ms), _latency(graph_ms))
    assert pair.verdict == verdict
    assert pair.saved_us == pytest.approx((eager_ms - graph_ms) * 1000)


def test_overlapping_intervals_are_not_launch_bound() -> None:
    wide = GraphPair("m", _latency(0.13, half_width=0.5), _latency(0.11, half_width=0.5))
    assert wide.ratio is not None and wide.ratio >= 1.1
    assert wide.verdict == "device-bound"
    assert GraphPair("m", None, _latency(1.0)).verdict == "unknown"


def test_report_pairs_each_graph_row_with_its_eager_twin(tmp_path: Path) -> None:
    suite = with_variant_overrides(
        load_suite(_suite(tmp_path, 'cache = ["warm", "cold"]', '["cuda"]')), None, True
    )
    cases = expand(suite)
    medians = {("eager", "warm"): 0.13, ("cuda-graph", "warm"): 0.08}
    results = [
        Result(case=c, status="ok", latency=_latency(medians.get((c.compile, c.cache), 1.0)))
        for c in cases
    ]
    pairs = graph_pairs(results)
    assert [p.verdict for p in pairs] == ["launch-bound", "device-bound"]  # cold: 1.0 vs 1.0
    assert "cache=cold" in pairs[1].label
    text = "\n".join(graphs_section(results))
    assert "## CUDA graphs" in text and "launch-bound" in text
    assert graphs_section(results[:1]) == []


def test_report_counts_pairs_timed_neither_way_instead_of_empty_rows(tmp_path: Path) -> None:
    suite = with_variant_overrides(
        load_suite(_suite(tmp_path, 'cache = ["warm", "cold"]', '["cuda"]')), None, True
    )
    cases = expand(suite)  # warm eager, warm graph, cold eager, cold graph
    timed = {("eager", "warm"): 0.13, ("cuda-graph", "warm"): 0.08}
    results = [
        Result(case=c, status="ok", latency=_latency(timed[(c.compile, c.cache)]))
        if (c.compile, c.cache) in timed
        else Result(case=c, status="skipped", error="no CUDA device on this machine")
        for c in cases
    ]
    text = "\n".join(graphs_section(results))
    assert text.count("| `") == 1 and "cache=cold" not in text
    assert "Left out: 1 pair timed neither eager nor replayed" in text
    skipped = [Result(case=c, status="skipped", error="no CUDA device") for c in cases]
    text = "\n".join(graphs_section(skipped))
    assert "| `" not in text and "No case was timed eager or replayed: 2 pairs" in text


def test_cuda_graphs_on_a_cpu_suite_says_it_adds_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench.cli import main

    suite = _suite(tmp_path, "")
    code = main(["run", str(suite), "--cuda-graphs", "--metrics", "params", "--quiet",
                 "--out", str(tmp_path / "out")])  # fmt: skip
    assert code == 0
    assert "--cuda-graphs adds cases on CUDA devices only" in capsys.readouterr().err
