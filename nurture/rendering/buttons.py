"""Buttons that Outlook for Windows draws too: a link styled as a button sits in a table cell.

Outlook's Word engine ignores padding and rounded corners on links, so a plain styled link
shrinks to coloured text. The cell carries the colour (bgcolor) and, for Outlook only, the
padding (mso-padding-alt); every other client keeps the padded link, so the whole button can
be tapped.
"""

from __future__ import annotations

import re
from functools import partial

BUTTON_COLOUR = "#0b5cad"
_HEX = re.compile(r"#[0-9a-fA-F]{6}")
_BUTTON_LINK = r'<a\b(?=[^>]*\bclass="(?:[^"]*\s)?button(?:\s[^"]*)?")[^>]*>(?:(?!</a>).)*</a>'
# A paragraph that holds nothing but a button becomes the button's table (a table cannot sit
# inside a paragraph: browsers would split the paragraph around it).
_LINK_TAG = re.compile(r"<a\b[^>]*>", re.I)
_LINK_COLOUR = re.compile(rf"color:\s*{BUTTON_COLOUR}\b", re.I)
_BUTTON_PARAGRAPH = re.compile(rf"<p\b[^>]*>\s*({_BUTTON_LINK})\s*</p>", re.S | re.I)


def _table(colour: str, match: re.Match[str]) -> str:
    return (
        '<table role="presentation" class="button-table" cellpadding="0" cellspacing="0" '
        'border="0" style="margin:0 0 16px;border-collapse:separate;"><tr>'
        f'<td class="button-cell" align="center" bgcolor="{colour}" '
        f'style="background-color:{colour};border-radius:6px;mso-padding-alt:14px 24px;">'
        f"{match.group(1)}</td></tr></table>"
    )


def _accent_link(colour: str, match: re.Match[str]) -> str:
    return _LINK_COLOUR.sub(f"color: {colour}", match.group(0))


def bulletproof_buttons(html: str, colour: str = BUTTON_COLOUR) -> str:
    """Put every button that stands in its own paragraph into a table cell Outlook can draw.

    Links written in the layout's link colour take the accent colour too, so links and buttons
    match. The accent is checked for 4.5:1 against white, which is also the email's background.
    """
    # The colour lands in an attribute and a style: only a plain #rrggbb may go there.
    colour = colour if _HEX.fullmatch(colour) else BUTTON_COLOUR
    if colour.lower() != BUTTON_COLOUR:
        html = _LINK_TAG.sub(partial(_accent_link, colour), html)
    return _BUTTON_PARAGRAPH.sub(partial(_table, colour), html)
