"""Error responses for bad input: 422 with a JSON body that names every bad field."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse


def field_errors(errors: Any) -> dict[str, str]:
    """Map pydantic errors to {field: message}, naming each field once."""
    fields: dict[str, str] = {}
    for error in errors:
        loc = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path")]
        name = ".".join(loc) or "body"
        message = str(error.get("msg", "is invalid"))
        message = message.removeprefix("Value error, ")
        if error.get("type") == "literal_error" and name == "consent":
            message = "consent must be true: tick the box to agree to receive emails"
        fields.setdefault(name, message)
    return fields


def errors_text(errors: Any) -> str:
    """The pydantic errors as one line, "field: message; field: message", for a page."""
    return "; ".join(f"{name}: {message}" for name, message in field_errors(errors).items())


def validation_response(errors: Any) -> JSONResponse:
    """Answer 422 with a JSON body that names every bad field."""
    fields = field_errors(errors)
    return JSONResponse(
        status_code=422,
        content={
            "error": "validation_failed",
            "message": "Some fields are missing or invalid: " + ", ".join(sorted(fields)),
            "fields": fields,
        },
    )
