"""Which language a message goes out in: the patient's, when the message has it."""

from __future__ import annotations

from nurture.broadcasts.models import Broadcast
from nurture.core import languages
from nurture.leads.models import Lead
from nurture.rendering.markdown import markdown_template
from nurture.sequences import translations
from nurture.sequences.variants import StepContent, overlay


def reader_language(lead: Lead | None) -> str | None:
    """Return the offered language `lead` reads when it is not the default, else None."""
    if lead is None:
        return None
    chosen = languages.choose_leniently(lead.language)
    return None if chosen == languages.default() else chosen


def broadcast_content(broadcast: Broadcast, language: str | None) -> tuple[StepContent, bool]:
    """Return what a broadcast says in `language` and whether that is a translation."""
    base = StepContent(
        subject=broadcast.subject,
        preheader=broadcast.preheader,
        body_markdown=broadcast.body_markdown,
        body_html=markdown_template(broadcast.body_markdown),
        body_text=None,
    )
    fields = translations.fields_of(broadcast.translations, language) if language else None
    return (base, False) if fields is None else (overlay(base, fields), True)
