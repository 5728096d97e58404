"""Read CSV files for imports: every part that cannot be read becomes a problem naming its line.

Imports check every row before they write anything and report all the problems at once, so a
file with bytes that are not UTF-8, a field past the csv module's limit or a NUL character must
say where, never stop with a traceback. A problem is one line of text, "line 7: timezone: unknown
time zone 'Mars/Base'" (`problem` writes it, `Problem.read` takes it apart for a table), so the
command line, the job record and problems.txt all carry the same words.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from nurture.core import csvsafe

_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
# "line N: " then, when the problem is one column's, "column: " (a name, or several joined by
# ", "); a message never starts with a bare identifier and a colon.
_PROBLEM = re.compile(r"line (\d+): (?:([a-z][a-z0-9_]*(?:, [a-z][a-z0-9_]*)*): )?(.*)", re.S)


def problem(line: int, message: str, column: str = "") -> str:
    """Write one problem of an import file: its line, its column when it has one, and what."""
    return f"line {line}: {column}: {message}" if column else f"line {line}: {message}"


@dataclass(frozen=True, slots=True)
class Problem:
    """A problem taken apart for showing in a table: line (None if the file's), column, what."""

    line: int | None
    column: str
    message: str

    @classmethod
    def read(cls, text: str) -> Problem:
        """Take apart a problem written by `problem` (any other text is the file's)."""
        match = _PROBLEM.fullmatch(text)
        if match is None:
            return cls(None, "", text)
        return cls(int(match.group(1)), match.group(2) or "", match.group(3))


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
    """Yield every row that can be read; say why each other one cannot, as a problem of its line.

    The csv module carries on with the next line after an error, so one over-long field does
    not hide the problems of the rows after it.
    """
    failed = 0  # lines refused since the last row read: line_num does not count them
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            # Each error uses up the line it is on, so this ends with the file.
            failed += 1
            problems.append(problem(reader.line_num + failed, unreadable(exc)))
            continue
        failed = 0
        yield row


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


def count_rows(data: bytes) -> int:
    """Count the rows of a CSV file after its header, as well as a damaged file allows."""
    text = data.decode("utf-8", "replace")
    try:
        return max(0, sum(1 for _ in csv.reader(io.StringIO(text, newline=""))) - 1)
    except csv.Error:
        return max(0, text.count("\n") - 1 + (not text.endswith("\n")))


def nul_columns(cells: Mapping[str, str]) -> list[str]:
    """Return the columns whose value holds a NUL character (PostgreSQL cannot store one)."""
    return [key for key, value in cells.items() if "\x00" in value]


ColumnCheck = tuple[str, Callable[[str], object]]


@dataclass(frozen=True, slots=True)
class CheckedRow:
    """One CSV row read through its column checks."""

    values: dict[str, object]  # each checked column's value, when its check passed
    raw: dict[str, str]  # every named cell as typed (blank for a cell holding NUL)
    errors: list[tuple[str, str]]  # (column, problem); column "" for the row as a whole


def check_row(
    cells: Mapping[str | None, object], checks: Iterable[ColumnCheck], *, strip: bool = False
) -> CheckedRow:
    """Check one row from `records`: extra cells, NUL characters, then each column's check."""
    errors: list[tuple[str, str]] = []
    if isinstance(extra := cells.get(None), list) and extra:
        errors.append(("", f"{len(extra)} more cell(s) than the header has columns"))
    # A file this service exported quoted formula-like cells; read them back as typed.
    raw = {k: csvsafe.restore(v) for k, v in cells.items() if k and isinstance(v, str)}
    bad = set(nul_columns(raw))
    errors.extend((name, "must not contain NUL (\\x00) characters") for name in sorted(bad))
    for name in bad:
        raw[name] = ""
    if strip:
        raw = {k: v.strip() for k, v in raw.items()}
    values: dict[str, object] = {}
    for name, check in checks:
        if name in bad:
            continue
        try:
            values[name] = check(raw.get(name, ""))
        except ValueError as exc:
            errors.append((name, str(exc)))
    return CheckedRow(values, raw, errors)
