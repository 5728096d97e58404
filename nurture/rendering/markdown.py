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

import phonenumbers
from babel import Locale, UnknownLocaleError
from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token

from nurture.core.config import get_settings
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


# Phone numbers are looked for in text nodes only (never inside a link or code), at most this
# many candidates per text node, so a page of digits costs little.
_PHONE_TRIES = 20


def _link_phones(state: StateCore) -> None:
    """Make each valid phone number in the text a `tel:` link, read in the clinic's country."""
    region = state.env.get("region")
    for token in state.tokens:
        if token.type != "inline" or not token.children:
            continue
        out: list[Token] = []
        in_link = 0
        for child in token.children:
            if child.type == "link_open":
                in_link += 1
            elif child.type == "link_close":
                in_link -= 1
            if child.type != "text" or in_link or not any(c.isdigit() for c in child.content):
                out.append(child)
                continue
            check_time()  # inside the render limits, like the rest of the conversion
            out.extend(_phone_tokens(child.content, region))
        token.children = out


def _phone_tokens(text: str, region: str | None) -> list[Token]:
    tokens: list[Token] = []
    last = 0
    matches = phonenumbers.PhoneNumberMatcher(
        text, region, leniency=phonenumbers.Leniency.VALID, max_tries=_PHONE_TRIES
    )
    for match in matches:
        e164 = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
        if match.start > last:
            tokens.append(_text(text[last : match.start]))
        opening = Token("link_open", "a", 1)
        opening.attrSet("href", f"tel:{e164}")
        tokens += [opening, _text(match.raw_string), Token("link_close", "a", -1)]
        last = match.end
    if last < len(text):
        tokens.append(_text(text[last:]))
    return tokens


def _text(content: str) -> Token:
    token = Token("text", "", 0)
    token.content = content
    return token


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
    md.core.ruler.push("nurture_phones", _link_phones)
    return md


def _clinic_region() -> str | None:
    try:
        return Locale.parse(get_settings().clinic_locale).territory
    except (ValueError, TypeError, UnknownLocaleError):
        return None


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


def markdown_template(source: str) -> str:
    """Return the HTML template a Markdown step body stands for (its Jinja tags untouched).

    Phone numbers in the text become `tel:` links, read as numbers of the clinic's country.
    """
    return _markdown_template(source, _clinic_region())


def clear_cache() -> None:
    """Forget the Markdown already converted (each conversion is cached by source and country)."""
    _markdown_template.cache_clear()


@lru_cache(maxsize=256)
def _markdown_template(source: str, region: str | None) -> str:
    if len(source) > MAX_SIZE:
        raise MarkdownTooLong(f"the Markdown is longer than {MAX_SIZE:,} characters")
    try:
        with limits():
            return _convert(source.replace("\r\n", "\n"), region)
    except TemplateLimitError as exc:
        raise MarkdownTooLong(
            "the Markdown takes too long to read; shorten it or split it into several emails"
        ) from exc


def _convert(source: str, region: str | None) -> str:
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
    html = _MD.render(parked, {"region": region})
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
