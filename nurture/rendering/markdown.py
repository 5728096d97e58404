"""Markdown step bodies: turned into an HTML template that then renders like any staff HTML.

The order keeps every guarantee of the HTML pipeline. Markdown becomes HTML first, with raw
HTML switched off so a `<script>` typed in the text is shown as text. The Jinja tags are set
aside before that (Markdown would escape their quotes and could not read a link to
`{{ booking_url }}`, which has spaces) and put back afterwards, untouched. The result is a
template for the sandboxed, autoescaped environment: variables are escaped when the email is
rendered, within the same limits as a step written in HTML.

A button is a link followed by `{.button}`, or a line `[[button: Label | URL]]`; either becomes
`<a class="button">` alone in its paragraph, which the layout draws as a bulletproof button.
"""

from __future__ import annotations

import re
from functools import lru_cache

from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore

from nurture.rendering.limits import MAX_SIZE

_JINJA_TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
_BUTTON_LINE = re.compile(
    r"^[ ]{0,3}\[\[[ \t]*button[ \t]*:(?P<label>[^|\n]*)\|(?P<url>[^\n]*?)\]\][ \t]*$", re.M
)
_BUTTON_MARK = "{.button}"


class MarkdownTooLong(ValueError):
    """The Markdown source is longer than any email could use."""


def _mark_buttons(state: StateCore) -> None:
    """Give a link followed by `{.button}` the button class, and drop the mark."""
    for token in state.tokens:
        if token.type != "inline" or not token.children:
            continue
        children = token.children
        for i, child in enumerate(children):
            if child.type != "text" or not child.content.startswith(_BUTTON_MARK):
                continue
            if i == 0 or children[i - 1].type != "link_close":
                continue
            opening = next((c for c in reversed(children[: i - 1]) if c.type == "link_open"), None)
            if opening is None:
                continue
            opening.attrSet("class", "button")
            child.content = child.content[len(_BUTTON_MARK) :]


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False})
    md.core.ruler.push("nurture_buttons", _mark_buttons)
    return md


_MD = _parser()


def _placeholder_prefix(source: str) -> str:
    # Letters only, so Markdown neither escapes nor emphasises nor percent-encodes it; made
    # longer until it cannot be confused with anything the author wrote.
    prefix = "nurtureJ"
    while prefix in source:
        prefix += "J"
    return prefix


def _button_line(match: re.Match[str]) -> str:
    label = re.sub(r"([\\\[\]])", r"\\\1", match["label"].strip())
    url = match["url"].strip().replace(" ", "%20")
    return f"[{label}](<{url}>){_BUTTON_MARK}"


@lru_cache(maxsize=256)
def markdown_template(source: str) -> str:
    """Return the HTML template a Markdown step body stands for (its Jinja tags untouched)."""
    if len(source) > MAX_SIZE:
        raise MarkdownTooLong(f"the Markdown is longer than {MAX_SIZE:,} characters")
    prefix = _placeholder_prefix(source)
    tags: list[str] = []

    def park(match: re.Match[str]) -> str:
        tags.append(match.group(0))
        return f"{prefix}{len(tags) - 1}X"

    parked = _JINJA_TAG.sub(park, source.replace("\r\n", "\n"))
    parked = _BUTTON_LINE.sub(_button_line, parked)
    html = _MD.render(parked)

    def tag(match: re.Match[str]) -> str | None:
        # An entity such as &#74; can spell a placeholder the author did not get from us:
        # one that names no parked tag is left as the text it is.
        index = int(match.group(1))
        return tags[index] if index < len(tags) else None

    def restore(match: re.Match[str]) -> str:
        return tag(match) or match.group(0)

    def unwrap(match: re.Match[str]) -> str:
        # A block tag ({% if %}) written on its own line is not a paragraph of the email.
        found = tag(match)
        if found is None or found.startswith("{{"):
            return match.group(0)
        return f"{prefix}{match.group(1)}X\n"

    html = re.sub(rf"<p>{prefix}(\d+)X</p>\n?", unwrap, html)
    return re.sub(rf"{prefix}(\d+)X", restore, html)
