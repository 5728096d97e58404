"""Template text as staff type it, tidied: LF line ends, no trailing spaces where harmless."""

from __future__ import annotations

import re

from pydantic import BaseModel, ValidationInfo, field_validator

from nurture.rendering.limits import limits
from nurture.rendering.markdown import MarkdownTooLong, markdown_template

_HARD_BREAK = re.compile(r"(?<=\S)[ ]{2,}\n(?=[ ]*\S)")
_MAX_LINES_TRIED = 40  # lines with trailing spaces tidied one by one; past that, kept as is


def _strip_ends(value: str) -> str:
    return "\n".join(line.rstrip(" ") for line in value.split("\n"))


def _tidy_markdown(value: str) -> str:
    # Only where the email stays the same: two trailing spaces before a line of the same
    # paragraph are a line break (kept as a backslash), anywhere else they mean nothing.
    before = markdown_template(value)
    quick = _strip_ends(_HARD_BREAK.sub("\\\\\n", value))
    if markdown_template(quick) == before:
        return quick
    lines = value.split("\n")
    ragged = [i for i, line in enumerate(lines) if line != line.rstrip(" ")]
    for i in ragged[:_MAX_LINES_TRIED]:
        bare = lines[i].rstrip(" ")
        for option in (bare + "\\", bare):
            trial = [*lines[:i], option, *lines[i + 1 :]]
            if markdown_template("\n".join(trial)) == before:
                lines[i] = option
                break
    return "\n".join(lines)


def tidy_lines(value: str, *, markdown: bool = False) -> str:
    """Return template text with LF line ends and, where it changes nothing, no spaces at ends.

    Browsers send CRLF and editors leave trailing spaces; either would make a one-line edit
    look like a change to every line, and keeps YAML from writing the text as a `|` block.
    """
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    stripped = _strip_ends(value)
    if not markdown or stripped == value:
        return stripped
    try:
        with limits():  # one render budget for every trial rendering, not one each
            return _tidy_markdown(value)
    except MarkdownTooLong:
        return value  # refused by the field's length check


class MessageText(BaseModel):
    """Base of what a step, an A/B arm or a translation may write: its text tidied the same way.

    Bodies (`html`, `markdown`, `text`) are tidied; `subject` and `preheader` are one line.
    """

    @field_validator("html", "markdown", "text", check_fields=False)
    @classmethod
    def _tidy(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else tidy_lines(value, markdown=info.field_name == "markdown")

    @field_validator("subject", "preheader", check_fields=False)
    @classmethod
    def _single_line(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if "\n" in value.strip() or "\r" in value:
            raise ValueError("must be a single line")
        return value.strip()
