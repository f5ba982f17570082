from dataclasses import replace
from pathlib import Path

from bench.records import Case, LatencyStats, ModelSpec, Result
from bench.report.document import human_bytes, render_report

SPEC = ModelSpec(name="net", factory="torch.nn:Identity", input_shape=(3,), batch_sizes=(1,))
CASE = Case(suite="s", model=SPEC, device="cpu", dtype="float32", batch_size=4, base_dir=Path())
ENV = {"date": "2026-01-01T00:00:00+00:00", "torch": "2.14.1", "torch_num_threads": 2}


def test_human_bytes() -> None:
    assert human_bytes(None) == ""
    assert human_bytes(512) == "512 B"
    assert human_bytes(1536) == "1.500 KiB"  # 4 significant figures throughout
    assert human_bytes(44_600_000) == "42.53 MiB"
    assert human_bytes(1023 * 1024) == "1,023 KiB"
    assert human_bytes(3 * 1024**3) == "3.000 GiB"


def _main_table(text: str) -> list[list[str]]:
    """The first table after the suite heading, as cells."""
    lines = text.split("## Suite `s`")[1].splitlines()
    table = [line for line in lines[4:] if line.startswith("|")]
    end = next((i for i, line in enumerate(lines[4:]) if not line.startswith("|")), len(lines))
    return [[c.strip() for c in row.strip("|").split("|")] for row in table[:end]]


def test_report_has_environment_table_units_and_failures() -> None:
    ok = Result(
        case=CASE,
        status="ok",
        params=1_500_000,
        macs=2_000_000_000,
        latency=LatencyStats.from_samples([10.0, 10.0, 14.0]),
        peak_memory_bytes=2 * 1024 * 1024,
    )
    failed = Result(case=CASE, status="error", error="RuntimeError: bad shape")
    text = render_report([ok, failed], ENV, "bench run: s")
    assert text.startswith("# bench run: s\n")
    assert "| torch / torchvision" in text
    assert "2 cases: 1 ok, 1 not ok." in text
    header, _, ok_row, failed_row = _main_table(text)
    cells = dict(zip(header, ok_row, strict=True))
    assert (cells["Params (M)"], cells["GMACs"], cells["Peak memory (MiB)"]) == (
        "1.500",
        "2.000",
        "2.000",
    )
    assert (cells["Median (ms)"], cells["Throughput (samples/s)"]) == ("10.00", "400.0")
    assert dict(zip(header, failed_row, strict=True))["Status"] == "error"
    assert text.index("## Warnings") < text.index("## Suite `s`")
    assert "- **error** `net cpu float32 b4`: RuntimeError: bad shape" in text


def test_report_is_deterministic() -> None:
    result = Result(case=CASE, status="ok", params=1)
    assert render_report([result], ENV, "t") == render_report([result], ENV, "t")


def test_report_breaks_memory_down_in_human_units() -> None:
    from bench.records import MemoryStats

    memory = MemoryStats(
        peak_allocated_bytes=int(44.6 * 2**20) + int(23.1 * 2**20) + 1024,
        resident_bytes=int(44.6 * 2**20) + 1024,
        source="cuda-allocator",
        peak_reserved_bytes=80 * 2**20,
        param_bytes_by_dtype={"float32": int(44.6 * 2**20)},
        buffer_bytes_by_dtype={"int64": 8},
        rss_peak_bytes=None,
        pass_s=0.25,
    )
    result = Result(case=CASE, status="ok", peak_memory_bytes=memory.peak_allocated_bytes)
    text = render_report([replace(result, memory=memory)], ENV, "t")
    row = next(line for line in text.splitlines() if line.startswith("| `net cpu float32 b4`"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells == [
        "`net cpu float32 b4`",
        "float32 44.60 MiB, int64 8 B",
        "44.60 MiB",
        "67.70 MiB",
        "23.10 MiB",
        "80.00 MiB",
        "0.25",  # RSS high-water, empty in every row, is left out
    ]
    assert "*Activation peak* = Peak allocated - Resident" in text
    assert "Activation peak" not in render_report([result], ENV, "t")  # no memory, no section


def test_main_table_tells_modes_and_inplace_builds_apart() -> None:
    train = Result(case=replace(CASE, mode="train"), status="ok")
    built = Result(case=replace(CASE, inplace_variant="out_of_place"), status="ok")
    text = render_report([Result(case=CASE, status="ok"), train, built], ENV, "t")
    header, _, *rows = _main_table(text)
    assert [row[header.index("Mode")] for row in rows] == [
        "eval",
        "train",
        "eval (out_of_place)",
    ]


def test_report_says_not_steady_contended_and_noisy_and_labels_its_interval() -> None:
    from bench.records import Contention

    busy = Contention(wall_s=1.0, others_cpu_s=1.0, cores=2, cores_needed=2, load_avg=3.5)
    steady = LatencyStats.from_samples(
        [10.0 + (7 * i % 20) / 100 for i in range(20)],
        precision_target=0.01,
        steady=True,
        contention=busy,
    )
    unsteady = LatencyStats.from_samples(
        [700.0, 650.0, 90.0] + [20.0] * 7, precision_target=0.01, steady=False
    )
    rows = [
        Result(case=CASE, status="ok", latency=steady),
        Result(case=replace(CASE, batch_size=8), status="ok", latency=unsteady),
    ]
    text = render_report(rows, {**ENV, "load_avg_before_run": [1.5, 1.0, 0.5]}, "t")
    main_table = text.split("## Suite")[1].split("\n\n")[2]
    assert main_table.splitlines()[2].split("|")[-2].strip() == "contended"
    assert "| not steady: raise --budget, noisy, imprecise |" in main_table
    assert "not steady: raise --budget (the budget ran out" in text.split("## Suite")[0]
    assert "CI half-width % (target)" in text  # the column says what its % is
    assert " 50% |" in text and " 3.50 |" in text  # others' CPU share, load average
    assert "1.50 / 1.00 / 0.50" in text  # the load before the run
    assert "2 cases: 2 ok, 0 not ok. Latencies to quote: 0 of 2 timed" in text  # both flagged
    quiet = LatencyStats.from_samples([10.0 + (7 * i % 20) / 100 for i in range(20)], steady=True)
    mixed = render_report([*rows, Result(case=replace(CASE, batch_size=2), status="ok",
                                         latency=quiet)], ENV, "t")  # fmt: skip
    assert "Latencies to quote: 1 of 3 timed" in mixed
    # a run whose speed moved is flagged drifting, in the row and in the warnings
    trend = LatencyStats.from_samples([10.0 * (1 + i / 100) for i in range(20)], steady=True)
    drifted = render_report([Result(case=CASE, status="ok", latency=trend)], ENV, "t")
    assert trend.drifting and "drifting" in drifted.split("## Suite")[1].split("\n\n")[2]
    assert "drifting (the first and second halves" in drifted.split("## Suite")[0]
    # the unsteady row shows no interval over its slow start
    timing = text.split("<summary>Timing precision</summary>")[1]
    line = next(row for row in timing.splitlines() if "b8" in row)
    assert "not steady: raise --budget" in line and "700" not in line


def test_skipped_cases_are_one_warning_per_reason() -> None:
    """A GPU suite on a CPU machine: 303 bullets of the same reason before this."""
    from bench.report.summary import warnings

    skipped = [
        Result(case=replace(CASE, batch_size=b), status="skipped", error="no CUDA device")
        for b in (1, 2, 4, 8, 16)
    ]
    odd = Result(case=replace(CASE, batch_size=32), status="skipped", error="channels_last: 2-D")
    lines = warnings([*skipped, odd])
    assert lines == [
        "skipped 5 cases: no CUDA device: `net cpu float32 b1`, `net cpu float32 b2`, "
        "`net cpu float32 b4` and 2 more",
        "skipped `net cpu float32 b32`: channels_last: 2-D",
    ]
