"""Request bodies read as JSON, with every refusal a clear 4xx rather than a crash.

Python refuses to turn an integer of thousands of digits into a number (int_max_str_digits, a
guard against slow conversions) and `json` gives up on arrays nested thousands deep; both raised
errors that surfaced as a bare 400 or a 500. Here such a number is named by where it stands, as
a validation error of that field.
"""

from __future__ import annotations

import json
from typing import Any


class TooLong:
    """Stands in, while a body is read, for an integer with too many digits to convert."""


class JsonBodyError(ValueError):
    """A body that cannot be used: 400 if it is not JSON, 422 naming each unreadable number."""

    def __init__(self, status: int, error: str, message: str, fields: dict[str, str]) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.fields = fields

    def answer(self) -> dict[str, Any]:
        """Return the error body the API documents (`ErrorOut`)."""
        body: dict[str, Any] = {"error": self.error, "message": str(self)}
        if self.fields:
            body["fields"] = self.fields
        return body


TOO_MANY_DIGITS = "is a number with too many digits"


def _integer(digits: str) -> int | TooLong:
    try:
        return int(digits)
    except ValueError:  # more digits than int_max_str_digits allows
        return TooLong()


def _too_long(value: Any) -> list[str]:
    """Return the dotted path of every TooLong in `value` (walked without recursion)."""
    found: list[str] = []
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, TooLong):
            found.append(path or "body")
        elif isinstance(node, dict):
            stack.extend((f"{path}.{k}" if path else str(k), v) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((f"{path}.{i}" if path else str(i), v) for i, v in enumerate(node))
    return sorted(found)


def loads(raw: bytes | str) -> Any:
    """Parse a UTF-8 JSON body; raise JsonBodyError saying what is wrong with it."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        value = json.loads(text, parse_int=_integer)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        message = f"The body is not valid UTF-8 JSON: {exc}"
        raise JsonBodyError(400, "malformed_json", message, {}) from exc
    except RecursionError as exc:
        message = "The body is not usable JSON: its arrays or objects are nested too deeply."
        raise JsonBodyError(400, "malformed_json", message, {}) from exc
    paths = _too_long(value)
    if paths:
        raise JsonBodyError(
            422,
            "validation_failed",
            "Some fields are missing or invalid: " + ", ".join(paths),
            dict.fromkeys(paths, TOO_MANY_DIGITS),
        )
    return value
