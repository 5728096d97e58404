"""Markdown step bodies: turned into an HTML template that then renders like any staff HTML.

The order keeps every guarantee of the HTML pipeline. Markdown becomes HTML first, with raw
HTML switched off so a `<script>` typed in the text is shown as text. The Jinja tags are set
aside before that (Markdown would escape their quotes and could not read a link to
`{{ booking_url }}`, which has spaces) and put back afterwards, untouched. The result is a
template for the sandboxed, autoescaped environment: variables are escaped when the email is
rendered, within the same limits as a step written in HTML.

Every step is linear in the length of the source (no pattern that can backtrack, no search
that restarts), the length is checked first, and the whole conversion runs inside the render
limits: past the CPU budget it stops with MarkdownTooLong rather than holding the process.

A button is a link followed by `{.button}`, or a line `[[button: Label | URL]]`; either becomes
`<a class="button">` alone in its paragraph, which the layout draws as a bulletproof button.
"""

from __future__ import annotations

import re
from functools import lru_cache
from itertools import product
from string import ascii_uppercase

from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.rules_inline import StateInline

from nurture.rendering.limits import MAX_SIZE, TemplateLimitError, check_time, limits

# Openers and closers of Jinja's three kinds of tag, in the order a regex alternation
# `\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}` would try them at one position.
_TAG_ENDS = (("{{", "}}"), ("{%", "%}"), ("{#", "#}"))
_BUTTON_LINE = re.compile(
    r"^[ ]{0,3}\[\[[ \t]*button[ \t]*:(?P<label>[^|\n]*)\|(?P<url>[^\n]*?)\]\][ \t]*$", re.M
)
_BUTTON_MARK = "{.button}"
_PREFIX = "nurture"
# Four capitals after the prefix: 26**4 = 456,976 choices, more than a source within MAX_SIZE
# can hold occurrences of the prefix, so one is always free.
_SUFFIX_LENGTH = 4
_CHECK_EVERY = 256  # inline positions between two looks at the clock


class MarkdownTooLong(ValueError):
    """The Markdown source is longer, or costs more to read, than any email could use."""


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


def _budget(state: StateInline, silent: bool) -> bool:
    """Look at the render budget's clock now and then while reading inline text; match nothing."""
    seen = state.env.get("nurture_positions", 0) + 1
    state.env["nurture_positions"] = seen
    if seen % _CHECK_EVERY == 0:
        check_time()
    return False


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False})
    md.core.ruler.push("nurture_buttons", _mark_buttons)
    md.inline.ruler.before("text", "nurture_budget", _budget)
    return md


_MD = _parser()


def placeholder_prefix(source: str) -> str:
    """Return letters that occur nowhere in `source`, in one pass over it.

    Letters only, so Markdown neither escapes nor emphasises nor percent-encodes them; the
    prefix's own letter `n` opens it and never recurs, so no placeholder can begin inside the
    author's text either.
    """
    taken: set[str] = set()
    at = source.find(_PREFIX)
    while at != -1:
        start = at + len(_PREFIX)
        taken.add(source[start : start + _SUFFIX_LENGTH])
        at = source.find(_PREFIX, start)
    # At most len(taken) + 1 candidates are looked at before a free one.
    for letters in product(ascii_uppercase, repeat=_SUFFIX_LENGTH):
        suffix = "".join(letters)
        if suffix not in taken:
            return _PREFIX + suffix
    raise MarkdownTooLong(f"the Markdown is longer than {MAX_SIZE:,} characters")  # unreachable


def jinja_tags(source: str) -> list[tuple[int, int]]:
    """Return the (start, end) of each Jinja tag, leftmost first, in linear time.

    Reads as the lazy pattern `{{.*?}}|{%.*?%}|{#.*?#}` would, without its quadratic search:
    once an opener finds no closer, no later opener of that kind can, so that kind is done.
    """
    spans: list[tuple[int, int]] = []
    nearest = [source.find(opener) for opener, _ in _TAG_ENDS]
    pos = 0
    while True:
        live = [(at, kind) for kind, at in enumerate(nearest) if at != -1]
        if not live:
            return spans
        at, kind = min(live)
        opener, closer = _TAG_ENDS[kind]
        end = source.find(closer, at + len(opener))
        if end == -1:
            nearest[kind] = -1
            continue
        pos = end + len(closer)
        spans.append((at, pos))
        for other, (other_opener, _) in enumerate(_TAG_ENDS):
            if nearest[other] != -1 and nearest[other] < pos:
                nearest[other] = source.find(other_opener, pos)


def _button_line(match: re.Match[str]) -> str:
    label = re.sub(r"([\\\[\]])", r"\\\1", match["label"].strip())
    url = match["url"].strip().replace(" ", "%20")
    return f"[{label}](<{url}>){_BUTTON_MARK}"


@lru_cache(maxsize=256)
def markdown_template(source: str) -> str:
    """Return the HTML template a Markdown step body stands for (its Jinja tags untouched)."""
    if len(source) > MAX_SIZE:
        raise MarkdownTooLong(f"the Markdown is longer than {MAX_SIZE:,} characters")
    try:
        with limits():
            return _convert(source.replace("\r\n", "\n"))
    except TemplateLimitError as exc:
        raise MarkdownTooLong(
            "the Markdown takes too long to read; shorten it or split it into several emails"
        ) from exc


def _convert(source: str) -> str:
    prefix = placeholder_prefix(source)
    tags: list[str] = []
    parts: list[str] = []
    done = 0
    for start, end in jinja_tags(source):
        tags.append(source[start:end])
        parts += [source[done:start], f"{prefix}{len(tags) - 1}X"]
        done = end
    parts.append(source[done:])
    check_time()
    parked = _BUTTON_LINE.sub(_button_line, "".join(parts))
    html = _MD.render(parked, {})
    check_time()

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
