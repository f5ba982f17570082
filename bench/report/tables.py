"""Markdown tables for report.md: one place that fixes how every table is drawn."""

from __future__ import annotations

import re
from collections.abc import Sequence

from tabulate import tabulate

# a bare | in a cell (a model named "a|b") would split it in two; an escaped one is left alone
_UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


def markdown_table(
    rows: Sequence[Sequence[str]], headers: Sequence[str], align: str | None = None
) -> str:
    """A pipe table of already formatted cells.

    Cells are text on purpose: numbers were formatted with their units and digits by the
    caller, so tabulate must not re-parse them. `align` has one letter per column, `l` or `r`.
    """
    colalign = None
    if align is not None:
        if len(align) != len(headers) or set(align) - {"l", "r"}:
            raise ValueError(f"align {align!r} must give l or r for each of {len(headers)} columns")
        colalign = tuple("left" if a == "l" else "right" for a in align)
    safe = [[_UNESCAPED_PIPE.sub(r"\\|", str(cell)) for cell in row] for row in rows]
    return tabulate(
        safe, headers=list(headers), tablefmt="pipe", disable_numparse=True, colalign=colalign
    )
