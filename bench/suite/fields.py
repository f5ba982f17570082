"""Field checks shared by every table of a suite file ([suite], [[models]], [[experiments]]).

Each raises SuiteError naming the file, the entry and what is allowed, so every table reports
mistakes the same way.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.errors import SuiteError


def entries_of(
    path: Path, entries: list[Any], section: str
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, table) for each entry of an array of tables; `where` names it by index and name."""
    for index, entry in enumerate(entries):
        where = f"{section}[{index}]"
        if not isinstance(entry, dict):
            raise SuiteError(path, where, f"must be a table ([[{section}]])")
        if isinstance(entry.get("name"), str):
            where = f"{section}[{index}] ({entry['name']})"
        yield where, entry


def check_keys(path: Path, where: str, table: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise SuiteError(
            path, where, f"unknown key {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}"
        )


def string_field(path: Path, where: str, table: dict[str, Any], key: str) -> str:
    value = table.get(key)
    if value is None:
        raise SuiteError(path, where, f"missing {key!r}; it is required (a non-empty string)")
    if not isinstance(value, str) or not value.strip():
        raise SuiteError(path, f"{where} {key}", f"must be a non-empty string, got {value!r}")
    return value


def entry_name(path: Path, where: str, table: dict[str, Any]) -> str:
    """Names go into CSV cells, markdown tables, progress lines and directory names: a control
    character (newline, tab, escape...) would split a CSV record over lines or break a table."""
    name = string_field(path, where, table, "name")
    if any(ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0 for char in name):
        raise SuiteError(
            path, f"{where} name", f"{name!r} contains a control character; use printable text"
        )
    if any(char in BIDI_CONTROLS for char in name):  # e.g. U+202E shows "cba" for "abc"
        raise SuiteError(
            path,
            f"{where} name",
            f"{name!r} contains a bidirectional control character (U+202A-U+202E, U+2066-U+2069, "
            "U+200E, U+200F or U+061C), which makes text display other than it reads",
        )
    problem = name_problem(name)
    if problem is not None:
        raise SuiteError(path, f"{where} name", f"{name!r} {problem}")
    return name


MAX_NAME_CHARS = 100
MARKUP_CHARS = "<>&`|\\"
"""Characters that are markup in report.md (HTML, code spans, table cells): a name holding one
could close a table cell or inject HTML into a report rendered on GitHub or in a browser."""


FORMULA_PREFIXES = "=+-@"


def name_problem(name: str) -> str | None:
    """Why a name cannot be carried by every output (CSV, markdown, HTML, file names, the
    terminal), or None. One rule for every name a suite declares."""
    if len(name) > MAX_NAME_CHARS:
        return f"is {len(name)} characters long; at most {MAX_NAME_CHARS}"
    if name[0] in FORMULA_PREFIXES:
        return (
            f"starts with {name[0]}, which a spreadsheet opening results.csv runs as a formula; "
            "start it with a letter or digit"
        )
    markup = sorted({char for char in name if char in MARKUP_CHARS})
    if markup:
        return f"contains {' '.join(markup)}, which report.md reads as markup; use other text"
    invisible = [char for char in name if unicodedata.category(char) in ("Cf", "Zl", "Zp")]
    if invisible:
        return (
            f"contains an invisible or line-breaking character (U+{ord(invisible[0]):04X}); "
            "use printable text"
        )
    return None


BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
