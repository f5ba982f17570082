"""Markdown tables for report.md: one place that fixes how every table is drawn."""

from __future__ import annotations

import html
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


def compact_table(
    rows: Sequence[Sequence[str]], headers: Sequence[str], align: str | None = None
) -> str:
    """A markdown table without the columns that are empty in every row.

    A column that is always empty (Peak reserved on a CPU-only run, latency with `--metrics
    params`) tells the reader nothing and pushes the rest off the screen.
    """
    keep = [i for i in range(len(headers)) if any(row[i] for row in rows)] or [0]
    return markdown_table(
        [[row[i] for i in keep] for row in rows],
        [headers[i] for i in keep],
        None if align is None else "".join(align[i] for i in keep),
    )


def free_text(text: str) -> str:
    """A model's or library's message as report.md prints it: HTML escaped (an error holding
    `</details><script>` must not close a block or run in a browser), pipes escaped (tables),
    on one line."""
    one_line = " ".join(str(text).split())
    return _UNESCAPED_PIPE.sub(r"\\|", html.escape(one_line, quote=False))
