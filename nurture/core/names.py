"""What a person's name may hold: nothing that ends a header line, hides text or encodes a word.

Every entry point (API, form, CSV imports, Cal.com, studio, clinic settings) cleans names here.
"""

from __future__ import annotations

import re
import unicodedata

from nurture.core.translations import N_

# Characters that end a header line somewhere (CR, LF, NEL, the Unicode line and paragraph
# separators) or hide text (format characters such as bidi overrides): no name needs them.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
# Zero-width (non-)joiners are format characters that Persian, Indic and emoji spellings need.
_JOINERS = frozenset("\u200c\u200d")
# RFC 2047 encoded words: a mail client decodes them in headers, so "=?utf-8?q?...?=" could
# smuggle anything into a From or To line that quotes the name.
_ENCODED_WORD = re.compile(r"=\?[^?]*\?[bBqQ]\?", re.ASCII)


def unusual(char: str) -> bool:
    """Tell whether `char` could end a header line or hide text (no name or address needs it)."""
    return unicodedata.category(char) in _REFUSED_CATEGORIES and char not in _JOINERS


def without_unusual(value: str) -> str:
    """Return `value` without unusual characters, to show a person back what they typed."""
    return "".join(c for c in value if not unusual(c))


def clean_first_name(value: str, *, max_length: int = 100) -> str:
    """Return a first name fit for greetings and headers, or raise ValueError saying why.

    Every entry point (API, form, CSV import, Cal.com, studio) calls this one function.
    """
    name = unicodedata.normalize("NFC", value).strip()
    if len(name) > max_length:
        raise ValueError(f"must be at most {max_length} characters")
    if any(unusual(c) for c in name):
        raise ValueError(N_("must not contain line breaks, control or invisible characters"))
    if _ENCODED_WORD.search(name):
        raise ValueError(N_("must not contain '=?', which mail programs read as an encoded word"))
    return name
