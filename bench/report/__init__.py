"""report.md and its plots: pure renderers from Results (and experiment results) to markdown.

`document` assembles the report; `counting`, `memory`, `timing` and `experiments` render their
sections; `experiment_plots` draws the experiments' charts; `tables` makes markdown tables.
"""

from bench.report.document import render_report
from bench.report.experiments import write_plots
from bench.report.tables import markdown_table

__all__ = ["markdown_table", "render_report", "write_plots"]
