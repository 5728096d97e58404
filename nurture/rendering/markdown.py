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

import phonenumbers
from babel import Locale, UnknownLocaleError
from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.token import Token

from nurture.core.config import get_settings
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


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False})
    md.core.ruler.push("nurture_buttons", _mark_buttons)
    md.core.ruler.push("nurture_phones", _link_phones)
    return md


def _clinic_region() -> str | None:
    try:
        return Locale.parse(get_settings().clinic_locale).territory
    except (ValueError, TypeError, UnknownLocaleError):
        return None


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


def markdown_template(source: str) -> str:
    """Return the HTML template a Markdown step body stands for (its Jinja tags untouched).

    Phone numbers in the text become `tel:` links, read as numbers of the clinic's country.
    """
    return _markdown_template(source, _clinic_region())


@lru_cache(maxsize=256)
def _markdown_template(source: str, region: str | None) -> str:
    if len(source) > MAX_SIZE:
        raise MarkdownTooLong(f"the Markdown is longer than {MAX_SIZE:,} characters")
    prefix = _placeholder_prefix(source)
    tags: list[str] = []

    def park(match: re.Match[str]) -> str:
        tags.append(match.group(0))
        return f"{prefix}{len(tags) - 1}X"

    parked = _JINJA_TAG.sub(park, source.replace("\r\n", "\n"))
    parked = _BUTTON_LINE.sub(_button_line, parked)
    html = _MD.render(parked, {"region": region})

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
