"""The fixed words of the email layout (footer and unsubscribe lines), one set per language.

The layout (templates/emails/layouts/base.*) is shared by every language, so its HTML, CSS
and links stay one; only these words change. A language with no set here reads English.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LayoutWords:
    """The layout's own sentences; each piece is whole words, joined around the links."""

    lang: str  # the <html lang> of the email
    from_before: str  # "From" {clinician}
    from_middle: str  # "and the team at" {clinic}
    why_marketing: str
    change_preferences: str  # a link
    joiner: str  # between the two links
    unsubscribe: str  # a link
    one_click: str
    why_service: str
    privacy: str  # a link
    preferences_label: str  # text part: "Change your preferences:" {url}
    unsubscribe_label: str
    privacy_label: str


WORDS_EN = LayoutWords(
    lang="en",
    from_before="From",
    from_middle="and the team at",
    why_marketing="You are getting this email because you asked for it on our website.",
    change_preferences="Change your preferences",
    joiner="or",
    unsubscribe="unsubscribe",
    one_click="with one click.",
    why_service="This is a service email about a request you made.",
    privacy="How we handle your data",
    preferences_label="Change your preferences:",
    unsubscribe_label="Unsubscribe with one click:",
    privacy_label="How we handle your data:",
)

WORDS_ES = LayoutWords(
    lang="es",
    from_before="De parte de",
    from_middle="y de todo el equipo de",
    why_marketing="Recibe este correo porque lo pidió en nuestro sitio web.",
    change_preferences="Cambie sus preferencias",
    joiner="o",
    unsubscribe="cancele su suscripción",
    one_click="con un solo clic.",
    why_service="Este es un correo de servicio sobre algo que usted solicitó.",
    privacy="Cómo cuidamos sus datos",
    preferences_label="Cambiar sus preferencias:",
    unsubscribe_label="Cancelar su suscripción con un solo clic:",
    privacy_label="Cómo cuidamos sus datos:",
)

_WORDS = {"en": WORDS_EN, "es": WORDS_ES}


def words_for(language: str | None) -> LayoutWords:
    """Return the layout's words in `language` ("es", "es-MX"); English when there are none."""
    if not language:
        return WORDS_EN
    return _WORDS.get(language, _WORDS.get(language.split("-")[0].lower(), WORDS_EN))


def has_words(language: str) -> bool:
    """Tell whether the layout has its own words in `language`."""
    return language in _WORDS or language.split("-")[0].lower() in _WORDS
