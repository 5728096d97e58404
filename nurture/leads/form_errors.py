"""Signup form errors in plain words, in the order the fields appear on the page."""

from __future__ import annotations

from typing import Any

from nurture.core.translations import N_
from nurture.core.translations import gettext as _
from nurture.leads.schemas import without_unusual

# The landing form's fields, top to bottom: the error summary lists problems in this order.
FIELD_ORDER = ("first_name", "email", "numbness_type", "timezone", "location", "consent")

# Marked here, translated into the page's language when a form is answered.
_EMPTY = {
    "first_name": N_("Please enter your first name"),
    "email": N_("Please enter your email address"),
}
_UNUSUAL = {
    "first_name": N_("Please remove the unusual characters from your first name"),
    "email": N_("Please remove the unusual characters from your email address"),
}
_TOO_LONG = {
    "first_name": N_("Please shorten your first name to %(limit)s characters or fewer"),
    "email": N_("Please shorten your email address to %(limit)s characters or fewer"),
}
_ALWAYS = {
    "numbness_type": N_("Please choose the kind of numbness that sounds most like yours"),
    "timezone": N_("Please choose your time zone from the list"),
    "location": N_("Please choose your nearest clinic from the list"),
    "consent": N_("Please tick the box to agree to receive our emails"),
}


def _plain(field: str, error: dict[str, Any]) -> str:
    if field in _ALWAYS:
        return _(_ALWAYS[field])
    given = error.get("input")
    kind = str(error.get("type", ""))
    if field in _UNUSUAL and isinstance(given, str) and given != without_unusual(given):
        # NUL, escape, bidi override...: the page shows the value back without them.
        return _(_UNUSUAL[field])
    if field in _EMPTY and (
        kind in ("missing", "string_too_short") or (isinstance(given, str) and not given.strip())
    ):
        return _(_EMPTY[field])
    if kind == "string_too_long":
        limit = (error.get("ctx") or {}).get("max_length", "")
        words = _TOO_LONG.get(
            field, N_("Please shorten your answer to %(limit)s characters or fewer")
        )
        return _(words) % {"limit": limit}
    message = str(error.get("msg", "")).removeprefix("Value error, ")
    if field == "email":
        if message.startswith("not a valid email address"):
            return _("Please enter a complete email address, like name@example.com")
        return message[:1].upper() + message[1:]  # role or throwaway address: says what to do
    if field == "first_name":
        return _("Please check your first name: it %(problem)s") % {"problem": _(message)}
    return message or _("Please check this answer")


def plain_errors(errors: Any) -> dict[str, str]:
    """Map pydantic errors of the signup form to {field: plain sentence}, in form order."""
    found: dict[str, str] = {}
    for error in errors:
        loc = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path")]
        field = loc[0] if loc else "form"
        found.setdefault(field, _plain(field, error))
    ordered = {field: found.pop(field) for field in FIELD_ORDER if field in found}
    ordered.update(found)  # anything else (the bot trap) last
    return ordered
