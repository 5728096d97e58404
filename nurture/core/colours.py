"""Colour checks for the clinic's accent colour (WCAG 2 contrast against white text)."""

from __future__ import annotations

import re

HEX_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
MIN_CONTRAST = 4.5


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def contrast_with_white(colour: str) -> float:
    """Return the WCAG contrast ratio of white text on `colour` (#RRGGBB)."""
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    luminance = 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)
    return 1.05 / (luminance + 0.05)


def check_accent(value: str) -> str:
    """Return `value` as a lower-case #rrggbb fit for white button text, or raise ValueError."""
    value = value.strip()
    if not HEX_COLOUR.fullmatch(value):
        raise ValueError("must be a colour written #RRGGBB, e.g. #0b5cad")
    ratio = contrast_with_white(value)
    if ratio < MIN_CONTRAST:
        raise ValueError(
            f"is too light for white button text to be read (contrast {ratio:.2f}:1, "
            f"at least {MIN_CONTRAST}:1 is needed); pick a darker colour"
        )
    return value.lower()
