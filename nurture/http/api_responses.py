"""The API's error answers as OpenAPI documents them: one body shape and one description each."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable
from email.message import Message
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer
from pydantic import BaseModel

from nurture.core import jsonread

# Declares the scheme in the document; the routes check the token themselves.
bearer = HTTPBearer(
    auto_error=False,
    description="An API token from `nurture tokens create NAME` or the studio's admin page.",
)


class ErrorOut(BaseModel):
    """An error: a stable code for programs, a sentence for people, and each bad field."""

    error: str
    message: str
    fields: dict[str, str] | None = None


class DetailOut(BaseModel):
    """An error raised by a dependency (a missing token, an unknown id)."""

    detail: str


USUAL = {
    400: "The body is not valid UTF-8 JSON, or not the shape this route reads.",
    401: "The API token or the signature is missing or wrong.",
    403: "The request is not signed for this address.",
    404: "Nothing has this id.",
    413: "The body is larger than this route accepts.",
    415: "The body is not application/json.",
    422: "A field is missing or invalid; `fields` names each one.",
    429: "Too many requests; `Retry-After` says when to try again.",
    503: "The service is not set up for this yet, or not healthy.",
}


def errors(
    statuses: Iterable[int], *, model: type[BaseModel] = ErrorOut, **described: str
) -> dict[int | str, dict[str, Any]]:
    """Document error answers with their body; `s401="..."` overrides a usual description."""
    return {
        status: {"model": model, "description": described.get(f"s{status}", USUAL[status])}
        for status in statuses
    }


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline(defs[ref.removeprefix("#/$defs/")], defs)
        return {key: _inline(value, defs) for key, value in node.items() if key != "$defs"}
    if isinstance(node, list):
        return [_inline(item, defs) for item in node]
    return node


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """Declare a JSON request body that a route reads itself (to answer 400 and 415 first)."""
    # Pydantic's "#/$defs/..." refs would point into the OpenAPI document's root, where
    # nothing lives; the models read this way are small and not recursive, so inline them.
    schema = model.model_json_schema()
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _inline(schema, schema.get("$defs", {}))}},
        }
    }


def _is_json(request: Request) -> bool:
    kind = Message()
    kind["content-type"] = request.headers.get("content-type", "")
    subtype = kind.get_content_subtype()
    return kind.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


class JsonBodyRoute(APIRoute):
    """A route whose JSON body FastAPI parses, read first by `jsonread`.

    FastAPI answers an integer of thousands of digits with a bare "There was an error parsing
    the body"; here it is a 422 naming the field, and a body that is not JSON a 400, as the
    routes that read their bodies themselves answer.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap FastAPI's handler with the body check, on routes FastAPI reads a body for."""
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler  # a webhook that reads (and verifies) its raw body itself

        async def read_first(request: Request) -> Response:
            if request.method in ("POST", "PUT", "PATCH") and _is_json(request):
                raw = await request.body()  # kept on the request: FastAPI reads it once more
                if raw:
                    try:
                        jsonread.loads(raw)
                    except jsonread.JsonBodyError as exc:
                        return JSONResponse(exc.answer(), status_code=exc.status)
            return await handler(request)

        return read_first
