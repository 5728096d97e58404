"""HEAD works wherever GET does: headers, status and length, and no body."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("path", ["/", "/privacy", "/outbox", "/docs", "/favicon.ico"])
def test_head_answers_like_get_without_a_body(client, path: str) -> None:
    got = client.get(path, headers={"Accept": "text/html"})
    head = client.head(path, headers={"Accept": "text/html"})
    assert head.status_code == got.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]
    assert head.headers["content-length"] == str(len(got.content))
    assert head.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in head.headers["Content-Security-Policy"]


def test_head_on_a_post_only_route_is_still_refused(client) -> None:
    response = client.head("/api/subscribe")
    assert response.status_code == 405
    assert response.content == b""


def test_head_is_not_documented_as_an_operation(client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not any("head" in operations for operations in paths.values())
