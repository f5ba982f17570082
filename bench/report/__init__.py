"""report.md and its plots: pure renderers from Results (and experiment results) to markdown.

`document` assembles the report; `counting`, `memory`, `timing` and `experiments` render their
sections; `experiment_plots` draws the experiments' charts; `tables` makes markdown tables.

Its names are imported on first use, so that a verb needing one renderer (`bench compare`
needs `tables`) imports only that one.
"""

from __future__ import annotations

from bench import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "bench.report.document": ("render_report",),
        "bench.report.experiments": ("write_plots",),
        "bench.report.tables": ("markdown_table",),
    },
)
