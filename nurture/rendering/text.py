"""Plain-text parts derived from email HTML: what a person reads, with links as visible URLs."""

from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCKS = {
    "address", "article", "blockquote", "div", "footer", "h1", "h2", "h3", "h4", "h5", "h6",
    "header", "hr", "ol", "p", "section", "table", "tr", "ul",
}  # fmt: skip
_SKIPPED = {"head", "script", "style", "title"}
_SPACES = re.compile(r"[ \t\r\n\f\u00a0]+")
_BREAK = "\n"
_PARAGRAPH = "\n\n"


class _TextWriter(HTMLParser):
    """Walks the HTML once, writing paragraphs, list items and links as a reader sees them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skipping: list[str] = []  # open elements whose content is not shown
        self.lists: list[int | None] = []  # None for <ul>, the next number for <ol>
        self.link: tuple[str, list[str], bool] | None = None  # href, text so far, is a button

    def _write(self, text: str) -> None:
        if self.link is not None:
            self.link[1].append(text)
        else:
            self.out.append(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if self.skipping or tag in _SKIPPED or found.get("aria-hidden") == "true":
            if tag not in {"br", "img", "hr", "meta", "link", "input"}:
                self.skipping.append(tag)
            return
        if tag in _BLOCKS:
            self.out.append(_PARAGRAPH)
        if tag == "ul":
            self.lists.append(None)
        elif tag == "ol":
            self.lists.append(1)
        elif tag == "li":
            self.out.append(_BREAK)
            number = self.lists[-1] if self.lists else None
            if number is None:
                self.out.append("- ")
            else:
                self.out.append(f"{number}. ")
                self.lists[-1] = number + 1
        elif tag == "br":
            self._write(_BREAK)
        elif tag == "img" and found.get("alt"):
            self._write(f" {found['alt']} ")
        elif tag == "a" and self.link is None:
            classes = (found.get("class") or "").split()
            self.link = ((found.get("href") or "").strip(), [], "button" in classes)

    def handle_endtag(self, tag: str) -> None:
        if self.skipping:
            if tag == self.skipping[-1]:
                self.skipping.pop()
            return
        if tag == "a" and self.link is not None:
            href, parts, button = self.link
            self.link = None
            self.out.append(_link_text(href, _SPACES.sub(" ", "".join(parts)).strip(), button))
        elif tag in {"ul", "ol"} and self.lists:
            self.lists.pop()
        if tag in _BLOCKS:
            self.out.append(_PARAGRAPH)

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self._write(_SPACES.sub(" ", data))


def _link_text(href: str, label: str, button: bool) -> str:
    """Write a link so its address can be read and copied: "Label: URL" or "label (URL)"."""
    shown = href.removeprefix("mailto:").removeprefix("tel:")
    # A trunk prefix ("0" in "020 7946 0958") is not part of the international number.
    label_digits = re.sub(r"\D", "", label).lstrip("0")
    if href.startswith("tel:") and len(label_digits) >= 6 and shown.endswith(label_digits):
        return label  # the number as written is the number to call
    if not href or href.startswith("#") or shown in label or not label:
        return label or shown
    target = shown if href.startswith(("mailto:", "tel:")) else href
    if button:
        return f"{_BREAK}{label}: {target}{_BREAK}"
    return f"{label} ({target})"


def html_to_text(html: str) -> str:
    """Derive a readable plain-text part from HTML, keeping links as visible URLs."""
    writer = _TextWriter()
    writer.feed(html)
    writer.close()
    lines = [line.strip() for line in "".join(writer.out).split(_BREAK)]
    text = re.sub(r"\n{3,}", _PARAGRAPH, _BREAK.join(lines)).strip()
    return text + _BREAK
