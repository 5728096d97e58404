"""Signup form errors in plain words, in the order the fields appear on the page."""

from __future__ import annotations

from typing import Any

from nurture.leads.schemas import without_unusual

# The landing form's fields, top to bottom: the error summary lists problems in this order.
FIELD_ORDER = ("first_name", "email", "numbness_type", "timezone", "consent")

_EMPTY = {
    "first_name": "Please enter your first name",
    "email": "Please enter your email address",
}
_NOUNS = {"first_name": "first name", "email": "email address"}
_ALWAYS = {
    "numbness_type": "Please choose the kind of numbness that sounds most like yours",
    "timezone": "Please choose your time zone from the list",
    "consent": "Please tick the box to agree to receive our emails",
}


def _plain(field: str, error: dict[str, Any]) -> str:
    if field in _ALWAYS:
        return _ALWAYS[field]
    given = error.get("input")
    kind = str(error.get("type", ""))
    if field in _NOUNS and isinstance(given, str) and given != without_unusual(given):
        # NUL, escape, bidi override...: the page shows the value back without them.
        return f"Please remove the unusual characters from your {_NOUNS[field]}"
    if field in _EMPTY and (
        kind in ("missing", "string_too_short") or (isinstance(given, str) and not given.strip())
    ):
        return _EMPTY[field]
    if kind == "string_too_long":
        limit = (error.get("ctx") or {}).get("max_length", "")
        noun = _NOUNS.get(field, "answer")
        return f"Please shorten your {noun} to {limit} characters or fewer"
    message = str(error.get("msg", "")).removeprefix("Value error, ")
    if field == "email":
        if message.startswith("not a valid email address"):
            return "Please enter a complete email address, like name@example.com"
        return message[:1].upper() + message[1:]  # role or throwaway address: says what to do
    if field == "first_name":
        return f"Please check your first name: it {message}"
    return message or "Please check this answer"


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
