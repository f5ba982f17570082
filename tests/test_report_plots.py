"""Model plots: file names that neither collide nor overflow, a line per variant with a legend,
hollow markers for flagged points, plain tick labels. The figure object is inspected, not pixels.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from bench.cli import main
from bench.records import Case, Contention, LatencyStats, ModelSpec, Result
from bench.report.model_plots import (
    HOLLOW_LABEL,
    _series,
    flagged,
    model_figure,
    model_plot_path,
    write_model_plots,
)
from bench.report.plot_style import plain_number, plot_file_name, pyplot, slug

LONG_NAME = "m" * 50 + "/" + "x" * 49  # 100 characters, the longest name a suite accepts
SPEC = ModelSpec(name="net", factory="torch.nn:Identity", input_shape=(3,), batch_sizes=(1, 8))
CASE = Case(suite="s", model=SPEC, device="cpu", dtype="float32", batch_size=1, base_dir=Path())


def _steady(median: float) -> LatencyStats:
    """A clean reading: tight blocks, steady, nobody else on the machine."""
    quiet = Contention(wall_s=1.0, others_cpu_s=0.0, cores=2, cores_needed=2, load_avg=0.1)
    samples = [median * (1 + (7 * i % 20) / 20_000) for i in range(40)]
    return LatencyStats.from_samples(
        samples, precision_target=0.01, steady=True, contention=quiet, samples_per_block=2
    )


def _noisy(median: float) -> LatencyStats:
    samples = [median * (1 + (i % 2)) for i in range(40)]  # IQR = the median: noisy
    return LatencyStats.from_samples(samples, precision_target=0.01, steady=True)


def _result(case: Case, latency: LatencyStats) -> Result:
    return Result(case=case, status="ok", latency=latency)


def test_plot_file_names_are_distinct_short_and_plain() -> None:
    names = ["net/a", "net_a", "Net_A", LONG_NAME, LONG_NAME[:-1] + "y"]
    files = [plot_file_name("model", n) for n in names]
    assert len(set(files)) == len(files)
    for file in files:
        assert re.fullmatch(r"model-[a-z0-9_-]{1,40}-[0-9a-f]{8}\.png", file), file
        assert len(file) <= len("model-") + 40 + 1 + 8 + len(".png")
    assert slug("net/a") == slug("net_a") == "net_a"  # the slug reads alike; the hash tells apart
    assert slug("ünïcode!!!") == "n_code" and slug("///") == "_"
    assert model_plot_path("net/a") == f"plots/{files[0]}"


def test_a_run_with_colliding_and_overlong_model_names_writes_its_report(
    write_suite, tmp_path: Path, capsys
) -> None:
    models = "".join(
        f'[[models]]\nname = "{name}"\nfactory = "torch.nn:Linear"\n'
        "kwargs = { in_features = 4, out_features = 2 }\ninput_shape = [4]\n"
        "batch_sizes = [1, 2]\n\n"
        for name in ("net/a", "net_a", LONG_NAME)
    )
    suite = write_suite(f'[suite]\nname = "names"\n\n{models}')
    out = tmp_path / "r"
    code = main(
        ["run", str(suite), "--out", str(out), "--quick", "--quiet", "--metrics", "latency"]
    )
    assert code == 0, capsys.readouterr().err
    run_dir = Path(capsys.readouterr().out.strip())
    report = (run_dir / "report.md").read_text(encoding="utf-8")
    plots = sorted(p.name for p in (run_dir / "plots").iterdir())
    assert len(plots) == 3 and all(len(p) <= 60 for p in plots)
    for name in ("net/a", "net_a", LONG_NAME):
        assert f"]({model_plot_path(name)})" in report
        assert (run_dir / model_plot_path(name)).stat().st_size > 0
    # `bench report` on a run an older bench wrote under other names: the old PNGs go, the
    # report's stay (they were left side by side)
    (run_dir / "plots" / "model-net_a.png").write_bytes(b"an older bench's plot")
    assert main(["report", str(run_dir)]) == 0
    assert sorted(p.name for p in (run_dir / "plots").iterdir()) == plots


def _variants() -> list[Result]:
    """Five variants of one model at b1 and b8; contiguous and channels_last share all else."""
    results = []
    for batch in (1, 8):
        base = replace(CASE, batch_size=batch)
        for case in (
            base,
            replace(base, memory_format="channels_last"),
            replace(base, compile="default"),
            replace(base, dtype="amp_bfloat16"),
            replace(base, mode="train"),
        ):
            results.append(_result(case, _steady(2.0 * batch)))
    return results


def test_each_variant_is_its_own_line_with_a_legend_entry() -> None:
    results = _variants()
    lines = _series(results)["net"]
    assert sorted(lines) == [
        "cpu amp_bfloat16 eval",
        "cpu float32 channels_last eval",
        "cpu float32 compile=default eval",
        "cpu float32 eval",
        "cpu float32 train",
    ]
    assert all([r.case.batch_size for r in points] == [1, 8] for points in lines.values())
    plt = pyplot()
    figure = model_figure(plt, "net", lines)
    try:
        (legend,) = figure.legends
        assert [t.get_text() for t in legend.get_texts()] == sorted(lines)  # nothing flagged
        latency_axes = figure.axes[0]
        joined = [a for a in latency_axes.get_lines() if a.get_linestyle() != "None"]
        assert len(joined) == 5 and all(len(a.get_xdata()) == 2 for a in joined)
    finally:
        plt.close(figure)


def test_flagged_points_are_hollow_and_the_legend_says_what_hollow_means() -> None:
    results = _variants()
    results[0] = _result(results[0].case, _noisy(2.0))  # float32 contiguous b1: noisy
    assert flagged(results[0]) and not any(flagged(r) for r in results[1:])
    lines = _series(results)["net"]
    plt = pyplot()
    figure = model_figure(plt, "net", lines)
    try:
        texts = [t.get_text() for t in figure.legends[0].get_texts()]
        assert texts == [*sorted(lines), HOLLOW_LABEL]
        for axes in figure.axes:
            hollow = [a for a in axes.get_lines() if a.get_gid() == "flagged"]
            (point,) = hollow
            assert point.get_markerfacecolor() == "none"
            assert list(point.get_xdata()) == [1]
            filled = [a for a in axes.get_lines() if a.get_gid() == "clean"]
            assert len(filled) == 5 and all(a.get_markerfacecolor() != "none" for a in filled)
    finally:
        plt.close(figure)


@pytest.mark.parametrize("scale", [0.3, 30.0, 3000.0])
def test_tick_labels_are_plain_numbers(scale: float) -> None:
    """Within one decade matplotlib's default labels read `6x10^-1`; these read `0.6`."""
    results = [
        _result(replace(CASE, batch_size=b), _steady(scale * (1 + b / 20))) for b in (1, 2, 8)
    ]
    plt = pyplot()
    figure = model_figure(plt, "net", _series(results)["net"])
    try:
        figure.canvas.draw()
        for axes in figure.axes:
            labels = [
                t.get_text()
                for axis in (axes.xaxis, axes.yaxis)
                for t in axis.get_ticklabels(minor=False) + axis.get_ticklabels(minor=True)
                if t.get_text()
            ]
            assert labels, "some tick is labelled"
            assert all(re.fullmatch(r"[0-9][0-9,]*(\.[0-9]+)?", t) for t in labels), labels
        assert [t.get_text() for t in figure.axes[0].get_xticklabels()] == ["1", "2", "8"]
    finally:
        plt.close(figure)


def test_plain_number() -> None:
    assert [plain_number(v) for v in (0.0006, 0.6, 20.0, 1500.0, 130_000.0, 0)] == [
        "0.0006",
        "0.6",
        "20",
        "1,500",
        "130,000",
        "0",
    ]


def test_no_model_with_two_sizes_no_plot(tmp_path: Path) -> None:
    assert write_model_plots([_result(CASE, _steady(1.0))], tmp_path) == {}
    assert not (tmp_path / "plots").exists()
