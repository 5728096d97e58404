"""Buttons that Outlook for Windows draws too: a link styled as a button sits in a table cell.

Outlook's Word engine ignores padding and rounded corners on links, so a plain styled link
shrinks to coloured text. The cell carries the colour (bgcolor) and, for Outlook only, the
padding (mso-padding-alt); every other client keeps the padded link, so the whole button can
be tapped.
"""

from __future__ import annotations

import re

BUTTON_COLOUR = "#0b5cad"
_BUTTON_LINK = r'<a\b(?=[^>]*\bclass="(?:[^"]*\s)?button(?:\s[^"]*)?")[^>]*>(?:(?!</a>).)*</a>'
# A paragraph that holds nothing but a button becomes the button's table (a table cannot sit
# inside a paragraph: browsers would split the paragraph around it).
_BUTTON_PARAGRAPH = re.compile(rf"<p\b[^>]*>\s*({_BUTTON_LINK})\s*</p>", re.S | re.I)


def _table(match: re.Match[str]) -> str:
    return (
        '<table role="presentation" class="button-table" cellpadding="0" cellspacing="0" '
        'border="0" style="margin:0 0 16px;border-collapse:separate;"><tr>'
        f'<td class="button-cell" align="center" bgcolor="{BUTTON_COLOUR}" '
        f'style="background-color:{BUTTON_COLOUR};border-radius:6px;mso-padding-alt:14px 24px;">'
        f"{match.group(1)}</td></tr></table>"
    )


def bulletproof_buttons(html: str) -> str:
    """Put every button that stands in its own paragraph into a table cell Outlook can draw."""
    return _BUTTON_PARAGRAPH.sub(_table, html)
