"""report.md's timing section: CI, precision, first call, threads, CUDA wall time."""

from pathlib import Path

from bench.records import Case, LatencyStats, ModelSpec, Result
from bench.report.timing import timing_section

SPEC = ModelSpec(name="net", factory="torch.nn:Identity", input_shape=(3,), batch_sizes=(1,))
CPU = Case(suite="s", model=SPEC, device="cpu", dtype="float32", batch_size=1, base_dir=Path())
CUDA = Case(suite="s", model=SPEC, device="cuda", dtype="float32", batch_size=1, base_dir=Path())


def test_timing_section_shows_interval_target_and_flags() -> None:
    precise = LatencyStats.from_samples(
        [100.0, 101.0] * 5, precision_target=0.01, first_call_ms=350.0, warmup_iterations=12
    )
    launch_bound = LatencyStats.from_samples(
        [1.0] * 6, precision_target=0.01, wall_samples_ms=[4.0] * 6, iterations_per_sample=8
    )
    results = [
        Result(case=CPU, status="ok", latency=precise, threads=2, interop_threads=2),
        Result(case=CUDA, status="ok", latency=launch_bound, threads=2, interop_threads=2),
        Result(case=CPU, status="error", error="boom"),
    ]
    lines = timing_section(results)
    assert "Precision target met in 2 of 2 timed cases." in "\n".join(lines)
    table = "\n".join(lines).split("\n\n")[2].splitlines()
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in table[2:]]
    # CPU: CI [100, 101] is +-0.5% of 100.5 against a 1% target, met; cold call and warmup shown
    assert cells[0] == [
        "net cpu float32 b1",
        "100.5",
        "100 - 101",
        "0.5% (1%)",
        "yes",
        "350",
        "12",
        "1",
        "10",
        "10 x 1",
        "0.5%",
        "-0.90",  # alternating samples: each block the opposite of the one before
        "2/2",
        "",
        "",
    ]  # fmt: skip  (Others' CPU and Load are empty in every row, so the table leaves them out)
    # CUDA: wall 4 ms for 1 ms of device time is launch-bound; 8 calls per sample
    assert cells[1][0] == "net cuda float32 b1"
    assert (cells[1][7], cells[1][13], cells[1][14]) == ("8", "4", "launch-bound")
    assert (cells[1][9], cells[1][10], cells[1][11]) == ("6 x 1", "0.0%", "")
    assert len(cells) == 2  # the failed case has no timing row


def test_no_timed_case_no_section() -> None:
    assert timing_section([Result(case=CPU, status="ok", params=3)]) == []


def test_a_case_noisy_by_its_interval_says_so_not_only_its_iqr() -> None:
    """IQR 5% is under the 10% rule; the interval (+-2.5% against a 0.1% target) made it noisy."""
    from bench.report.summary import warnings

    wide = LatencyStats.from_samples([100.0, 105.0] * 6, precision_target=0.001)
    assert wide.noisy
    (line,) = [w for w in warnings([Result(case=CPU, status="ok", latency=wide)]) if "noisy" in w]
    assert "`net cpu float32 b1` (IQR 4.88%, interval +-" in line
