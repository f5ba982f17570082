"""Model plots: latency and throughput against batch size, one PNG per model, a line per
device x dtype x mode (so CPU and CUDA share the axes where both ran), and a CPU-vs-CUDA chart.
A model that sweeps a named input dimension (`dims`, e.g. sequence length) is drawn against
that dimension instead, a line per batch size as well.

Drawn from the same Results as the tables, with fixed sizes, colours and order, so the same
run.json draws the same PNG bytes (matplotlib's Agg writes no timestamp into a PNG).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bench.records import Result

PLOTS_DIR = "plots"
PlotIndex = dict[str, str]  # caption -> path relative to the run directory


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


def _x(result: Result) -> tuple[str, int]:
    """The plot's x axis for a result: its first swept dimension if it has one, else batch."""
    dims = result.case.dims
    return dims[0] if dims else ("batch size", result.case.batch_size)


def _series(results: Sequence[Result]) -> dict[str, dict[str, list[Result]]]:
    """model -> line label -> ok results with a latency, sorted along the x axis."""
    by_model: dict[str, dict[str, list[Result]]] = {}
    for r in results:
        if r.status != "ok" or r.latency is None or r.case.backoff_from is not None:
            continue
        c = r.case
        parts = [c.device, c.dtype, c.mode, c.inplace_variant]
        if c.dims:  # x is the first dimension: the batch and any other dimension name the line
            parts += [f"b{c.batch_size}", *(f"{n}={v}" for n, v in c.dims[1:])]
        label = " ".join(p for p in parts if p)
        by_model.setdefault(c.model.name, {}).setdefault(label, []).append(r)
    for lines in by_model.values():
        for points in lines.values():
            points.sort(key=lambda r: _x(r)[1])
    return by_model


def _axis(lines: dict[str, list[Result]]) -> str:
    return _x(next(iter(lines.values()))[0])[0]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "bench"  # irrelevant for PNG; keeps any SVG stable too
    return plt


def _plot_model(plt, model: str, lines: dict[str, list[Result]], path: Path) -> None:
    figure, (latency_axes, throughput_axes) = plt.subplots(1, 2, figsize=(10, 3.8))
    colors = plt.get_cmap("tab10").colors
    axis = _axis(lines)
    for index, (label, points) in enumerate(sorted(lines.items())):
        batches = [_x(r)[1] for r in points]
        medians = [r.latency.median_ms for r in points]
        low = [r.latency.median_ms - (r.latency.ci_low_ms or r.latency.median_ms) for r in points]
        high = [(r.latency.ci_high_ms or r.latency.median_ms) - r.latency.median_ms for r in points]
        style = {"color": colors[index % 10], "marker": "os^Dv"[index % 5], "label": label}
        latency_axes.errorbar(batches, medians, yerr=[low, high], capsize=3, **style)
        throughput_axes.plot(batches, [r.throughput_per_s for r in points], **style)
    latency_axes.set(xlabel=axis, ylabel="median latency (ms), 95% CI")
    throughput_axes.set(xlabel=axis, ylabel="throughput (samples/s)")
    for axes in (latency_axes, throughput_axes):
        axes.set_xscale("log", base=2)
        axes.set_yscale("log")
        axes.grid(True, which="both", alpha=0.3)
    throughput_axes.legend(fontsize=8, loc="best")
    figure.suptitle(f"{model}: latency and throughput against {axis}")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=80)
    plt.close(figure)


def _plot_devices(plt, pairs: list[tuple[str, float, float]], path: Path) -> None:
    """Horizontal bars: CUDA's speedup over CPU per case (same model, dtype, mode, batch)."""
    figure, axes = plt.subplots(figsize=(8, 0.35 * len(pairs) + 1.2))
    labels = [label for label, _, _ in pairs]
    speedups = [cpu / cuda for _, cpu, cuda in pairs]
    axes.barh(range(len(pairs)), speedups, color="tab:green")
    axes.set_yticks(range(len(pairs)), labels, fontsize=8)
    axes.axvline(1.0, color="black", linewidth=0.8)
    axes.set(xscale="log", xlabel="CUDA speedup over CPU (CPU median / CUDA median)")
    axes.invert_yaxis()
    axes.grid(True, axis="x", which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)


def _device_pairs(results: Sequence[Result]) -> list[tuple[str, float, float]]:
    medians: dict[tuple, dict[str, float]] = {}
    for r in results:
        if r.status == "ok" and r.latency is not None:
            c = r.case
            key = (c.model.name, c.dtype, c.mode, c.inplace_variant, c.batch_size, c.dims)
            medians.setdefault(key, {})[c.device.split(":")[0]] = r.latency.median_ms
    pairs = []
    for key, by_device in medians.items():
        if "cpu" in by_device and "cuda" in by_device:
            name, dtype, mode, variant, batch, dims = key
            label = " ".join(p for p in (name, dtype, mode, variant, f"b{batch}") if p)
            label = " ".join([label, *(f"{n}={v}" for n, v in dims)])
            pairs.append((label, by_device["cpu"], by_device["cuda"]))
    return pairs


def write_model_plots(results: Sequence[Result], run_dir: Path) -> PlotIndex:
    """PNG files under plots/; a model gets one when some line of it has two batch sizes."""
    by_model = _series(results)
    wanted = {m: lines for m, lines in by_model.items() if any(len(p) > 1 for p in lines.values())}
    pairs = _device_pairs(results)
    if not wanted and not pairs:
        return {}
    plt = _pyplot()
    index: PlotIndex = {}
    for model, lines in wanted.items():
        relative = f"{PLOTS_DIR}/model-{_slug(model)}.png"
        _plot_model(plt, model, lines, run_dir / relative)
        index[f"{model}: latency and throughput against {_axis(lines)}"] = relative
    if pairs:
        relative = f"{PLOTS_DIR}/cpu-vs-cuda.png"
        (run_dir / PLOTS_DIR).mkdir(parents=True, exist_ok=True)
        _plot_devices(plt, pairs, run_dir / relative)
        index["CPU against CUDA: speedup per case"] = relative
    return index
