"""Phone numbers: read in the clinic's country, stored in E.164 (+15550100000)."""

from __future__ import annotations

import phonenumbers


class InvalidPhone(ValueError):
    """A phone number that cannot be dialled."""


def to_e164(raw: str, *, country: str) -> str:
    """Return `raw` in E.164; a national number is read as one of `country`.

    Raises InvalidPhone (a ValueError) with a message a person can act on.
    """
    text = raw.strip()
    if not text:
        raise InvalidPhone("a phone number is required")
    try:
        number = phonenumbers.parse(text, country)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(f"{text!r} is not a phone number") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone(
            f"{text!r} is not a valid phone number (national numbers are read as {country}; "
            "write others with their country code, such as +44)"
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def maybe_e164(raw: str | None, *, country: str) -> str | None:
    """Return `raw` in E.164, or None when it is missing or not a valid number."""
    if not raw:
        return None
    try:
        return to_e164(raw, country=country)
    except InvalidPhone:
        return None
