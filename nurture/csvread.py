"""Read CSV files for imports: every part that cannot be read becomes a problem naming its line.

Imports check every row before they write anything and report all the problems at once, so a
file with bytes that are not UTF-8, a field past the csv module's limit or a NUL character must
say where, never stop with a traceback.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


class CsvImportError(ValueError):
    """The file has bad rows; nothing was imported. `problems` lists them, one per line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def unreadable(exc: csv.Error) -> str:
    """Say why the csv module stopped reading, in words staff can act on."""
    if "field limit" in str(exc):
        return f"a field is longer than {csv.field_size_limit()} characters"
    return f"the file cannot be read as CSV here: {exc}"


def records(
    reader: csv.DictReader[str], problems: list[str]
) -> Iterator[dict[str | Any, str | Any]]:
    """Yield rows until one cannot be read; say why as a problem of its line."""
    try:
        yield from reader
    except csv.Error as exc:
        # line_num counts the lines read before the one the reader stopped on.
        problems.append(f"line {reader.line_num + 1}: {unreadable(exc)}")


def utf8_lines(raw: Iterable[bytes], problems: list[str]) -> Iterator[str]:
    """Decode a file's lines as UTF-8, with or without a BOM; name each line that is not UTF-8.

    A line that cannot be decoded is still yielded (with replacement characters) so the rest
    of the file is checked too and every problem is reported in one go.
    """
    for number, line in enumerate(raw, start=1):
        if number == 1 and line.startswith(codecs.BOM_UTF8):
            line = line[len(codecs.BOM_UTF8) :]
        elif number == 1 and line.startswith(_UTF16_BOMS):
            problems.append("line 1: the file is UTF-16 text; save it as UTF-8")
            return
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.append(
                f"line {number}: byte 0x{line[exc.start]:02x} at position {exc.start + 1} is "
                "not UTF-8 text; save the file as UTF-8"
            )
            text = line.decode("utf-8", "replace")
        yield text


def nul_columns(cells: Mapping[str, str]) -> list[str]:
    """Return the columns whose value holds a NUL character (PostgreSQL cannot store one)."""
    return [key for key, value in cells.items() if "\x00" in value]
