"""Uploads to the studio: refused before reading from no one signed in, capped while streamed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient

from nurture.web.app import create_app
from tests.studio.conftest import Studio

# Each upload page with a body within its own limit (sequence files go under the studio's 1 MiB).
UPLOADS = {
    "/studio/leads/import": 30 * 1024 * 1024,
    "/studio/sequences/chronic-basics/import": 960 * 1024,
}
BOUNDARY = "nurture-test-boundary"


def _call(path: str, headers: list[tuple[bytes, bytes]], body: bytes) -> tuple[int, int, int]:
    """Run one request through the whole app; return its status and how much body was read."""
    app = create_app()
    chunks = [body[i : i + 64 * 1024] for i in range(0, len(body), 64 * 1024)]
    pulled = 0
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        if pulled < len(chunks):
            pulled += 1
            return {
                "type": "http.request",
                "body": chunks[pulled - 1],
                "more_body": pulled < len(chunks),
            }
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "https",
        "server": ("nurture.test", 443),
        "client": ("203.0.113.9", 50000),
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"nurture.test"), *headers],
    }
    anyio.run(app, scope, receive, send)
    return status, pulled, len(chunks)


@pytest.mark.parametrize(("path", "size"), UPLOADS.items())
def test_an_upload_from_no_one_signed_in_is_refused_before_its_body_is_read(
    path: str, size: int
) -> None:
    body = b"x" * size
    headers = [
        (b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode()),
        (b"content-length", str(len(body)).encode()),
        (b"accept", b"text/html"),
    ]
    status, pulled, chunks = _call(path, headers, body)
    assert status == 401
    assert pulled == 0  # not one chunk of the body was asked for
    assert chunks == size // (64 * 1024)


def _multipart(size: int, filename: str, token: str) -> Iterator[bytes]:
    yield (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="csrftoken"\r\n\r\n{token}\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()
    for _ in range(size // (64 * 1024)):
        yield b"a" * (64 * 1024)
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


@pytest.mark.parametrize("declared", [True, False], ids=["with length", "chunked"])
def test_an_upload_past_the_limit_gets_413_with_the_limit_in_words(
    settings, make_staff, declared: bool
) -> None:
    settings(max_upload_bytes=str(1024 * 1024))
    make_staff()
    with TestClient(create_app(), base_url="https://nurture.test") as client:
        studio = Studio(client)
        assert studio.sign_in("editor@clinic.example").status_code == 303
        parts = _multipart(2 * 1024 * 1024, "leads.csv", studio.token)
        content: bytes | Iterator[bytes] = b"".join(parts) if declared else parts
        response = client.post(
            "/studio/leads/import",
            content=content,
            headers={
                "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
                "Accept": "text/html",
            },
        )
    assert response.status_code == 413
    assert "That was too much to send" in response.text
    assert "The most this page accepts is 1 MiB." in response.text
