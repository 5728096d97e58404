"""Header values that stay one header, whatever a lead's name or a staff template put in them.

Names and subjects reach headers from outside (signups, imports, bookings, templates). Checks at
every entry point refuse line breaks and encoded words, but rows written before those checks, or
by a path that forgot them, must still never add a header nor break the batch they are sent in.
"""

from __future__ import annotations

import re
from email import policy

# Everything that ends a line for some reader (CR, LF, VT, FF, the FS/GS/RS separators, NEL,
# U+2028, U+2029) and every other control character except tab.
_BREAKS = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]+")
# RFC 5322 field names: printable ASCII except the colon.
_FIELD_NAME = re.compile(r"[!-9;-~]{1,76}\Z")
# Headers the message builder writes itself; a custom header may not add a second one.
RESERVED = frozenset(
    "from to cc bcc subject date message-id reply-to sender return-path mime-version "
    "content-type content-transfer-encoding content-disposition".split()
)
_PARSER = policy.SMTP
# A plain dot-atom address (RFC 5322 atext, DNS labels): the parser returns it unchanged, so
# such an address skips the parse, which costs more than the rest of a send's checks.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_PLAIN_ADDRESS = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*@{_LABEL}(?:\.{_LABEL})+\Z")


class UnsafeHeader(ValueError):
    """A header that could not be kept to one header line; the email is not built."""


def one_line(value: str) -> str:
    """Replace every run of line breaks and control characters with one space."""
    return _BREAKS.sub(" ", value).strip()


def text(name: str, value: str) -> str:
    """Return an unstructured header value (or display name) on one line.

    The email package decodes RFC 2047 encoded words in the values it is given, so
    "=?utf-8?q?Ann=0D=0ABcc:...?=" would come out as a second header line: such a value is
    refused.
    """
    flat = one_line(value)
    if "=?" not in flat:
        return flat  # no encoded word, so nothing decodes to a line break
    decoded = str(_PARSER.header_factory("Subject", flat))
    if _BREAKS.search(decoded):
        raise UnsafeHeader(
            f"the {name} header holds an encoded word ('=?...?=') that decodes to a line break "
            f"or control character: {flat[:120]!r}"
        )
    return flat


def address(name: str, value: str) -> str:
    """Return `value` if it is exactly one bare address (no name, no second recipient)."""
    if _BREAKS.search(value) or any(c.isspace() for c in value):
        raise UnsafeHeader(f"the {name} address holds whitespace or a line break: {value[:120]!r}")
    if _PLAIN_ADDRESS.match(value):
        return value
    parsed = _PARSER.header_factory(name, value)
    found = [a.addr_spec for a in getattr(parsed, "addresses", ())]
    if found != [value]:
        raise UnsafeHeader(f"the {name} header must be exactly one address, not {value[:120]!r}")
    return value


def field_name(name: str) -> str:
    """Return a custom header's name if it is a valid field name the builder does not own."""
    if not _FIELD_NAME.match(name) or name.lower() in RESERVED:
        raise UnsafeHeader(f"{name[:80]!r} cannot be used as a custom header name")
    return name


def check_lines(data: bytes, expected: list[str]) -> None:
    """Raise UnsafeHeader unless the serialised header block has exactly `expected` fields."""
    head = re.split(rb"\r\n\r\n|\n\n", data, maxsplit=1)[0]
    found = [
        line.split(b":", 1)[0].decode("ascii", "replace").lower()
        for line in re.split(rb"\r\n|\r|\n", head)
        if line and line[:1] not in (b" ", b"\t")
    ]
    if found != [n.lower() for n in expected]:
        extra = sorted(set(found) - {n.lower() for n in expected})
        raise UnsafeHeader(f"a header value would have added header lines {extra or found}")
