"""report.md and its plots: pure renderers from Results (and experiment results) to markdown.

`document` assembles the report; `counting`, `memory`, `timing` and `experiments` render their
sections; `experiment_plots` draws the experiments' charts; `tables` makes markdown tables.

Its names are imported on first use, so that a verb needing one renderer (`bench compare`
needs `tables`) imports only that one.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "bench.report.document": ("render_report",),
    "bench.report.experiments": ("write_plots",),
    "bench.report.tables": ("markdown_table",),
}
_HOME = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_HOME[name]), name)
