"""Turn a step's HTML body into Markdown, keeping its Jinja, and say what Markdown cannot keep.

Jinja tags are set aside as plain words before the HTML is read and put back afterwards, so
`{{ booking_url }}` survives as a link target and `{% if %}` blocks stay where they were. A link
with the `button` class becomes a `[[button: Label | URL]]` line, as the Markdown editor writes
it. What Markdown has no words for (tables, inline styles, layout attributes) is listed, so the
marketer can decide before the HTML is replaced.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bs4 import BeautifulSoup, Comment
from markdownify import MarkdownConverter

_JINJA_TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
_MARK = "jinjatag{}x"
_MARKS = re.compile(r"jinjatag(\d+)x")
_BLANK_LINES = re.compile(r"\n{3,}")
# What Markdown cannot say, as a marketer would name it, by what in the HTML shows it.
_LOST_ELEMENTS = {
    "table": "tables (each cell becomes a line of its own)",
    "font": "font choices",
    "center": "centred text",
    "style": "style sheets",
    "div": "boxes and columns (their text is kept)",
    "span": "styled words (the words are kept)",
    "u": "underlining",
}
_LOST_ATTRIBUTES = {
    "style": "inline styles (colours, sizes, spacing)",
    "align": "alignment",
    "width": "fixed widths",
    "bgcolor": "background colours",
    "color": "text colours",
}


@dataclass(frozen=True, slots=True)
class Converted:
    """Markdown made from an HTML body, and what the HTML had that the Markdown lost."""

    markdown: str
    losses: list[str]


class _Converter(MarkdownConverter):
    """markdownify with the studio's button lines."""

    def convert_a(self, el: Any, text: str, parent_tags: set[str]) -> str:
        classes = el.get("class") or []
        href = el.get("href") or ""
        if "button" in classes and href:
            label = " ".join(text.split()).replace("|", "/")
            return f"\n\n[[button: {label} | {href}]]\n\n"
        return str(super().convert_a(el, text, parent_tags))  # type: ignore[misc]


def losses(html: str) -> list[str]:
    """List, in words, what of `html` a Markdown body cannot keep."""
    soup = BeautifulSoup(_JINJA_TAG.sub("", html), "html.parser")
    tags = soup.find_all(True)
    names = {tag.name for tag in tags}
    attributes = {name for tag in tags for name in tag.attrs}
    classes = {str(c) for tag in tags for c in (tag.get_attribute_list("class") or []) if c}
    found = [words for name, words in _LOST_ELEMENTS.items() if name in names]
    found += [words for name, words in _LOST_ATTRIBUTES.items() if name in attributes]
    if classes - {"button"}:
        found.append("classes other than button (their styling)")
    if any(isinstance(s, Comment) for s in soup.find_all(string=True)):
        found.append("HTML comments")
    return found


def html_to_markdown(html: str) -> Converted:
    """Convert an HTML step body into Markdown the editor writes, keeping every Jinja tag."""
    tags: list[str] = []

    def set_aside(match: re.Match[str]) -> str:
        tags.append(match.group(0))
        return _MARK.format(len(tags) - 1)

    marked = _JINJA_TAG.sub(set_aside, html)
    text = _Converter(
        heading_style="ATX", bullets="-", strong_em_symbol="*", escape_underscores=False
    ).convert(marked)
    text = _MARKS.sub(lambda m: tags[int(m.group(1))], text)
    text = "\n".join(line.rstrip() for line in text.splitlines())
    return Converted(_BLANK_LINES.sub("\n\n", text).strip() + "\n", losses(html))
