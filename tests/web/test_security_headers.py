"""Every response carries the security headers; no page needs an inline script."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from nurture.core import clock
from nurture.core.config import PACKAGE_DIR
from nurture.studio.auth import create_staff
from nurture.web.app import create_app
from tests.studio.conftest import PASSWORD, Studio


def _directives(policy: str) -> dict[str, list[str]]:
    parts = (p.split() for p in policy.split(";") if p.strip())
    return {words[0]: words[1:] for words in parts}


def assert_secure(response) -> None:  # type: ignore[no-untyped-def]
    """Check the headers every response must carry."""
    headers = response.headers
    policy = _directives(headers["content-security-policy"])
    assert policy["script-src"] == ["'self'"], policy  # no inline script, no eval
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in policy["default-src"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"


@pytest.mark.parametrize(
    ("method", "url", "status"),
    [
        ("GET", "/", 200),
        ("GET", "/docs", 200),
        ("GET", "/openapi.json", 200),
        ("GET", "/static/landing.js", 200),
        ("GET", "/docs/assets/swagger-ui-bundle.js", 200),
        ("GET", "/studio/login", 200),
        ("GET", "/studio/sequences", 303),  # off to sign in
        ("GET", "/no/such/page", 404),
        ("GET", "/preferences/not-a-token", 400),
        ("POST", "/api/appointments", 401),  # no token
        ("POST", "/subscribe", 415),  # an error page
        ("POST", "/studio/logout", 401),
    ],
)
def test_public_pages_api_answers_and_errors_carry_the_headers(
    client: TestClient, method: str, url: str, status: int
) -> None:
    response = client.request(method, url, follow_redirects=False)
    assert response.status_code == status, response.text
    assert_secure(response)
    assert "strict-transport-security" in response.headers  # the client is on https


def test_a_body_too_large_and_a_server_error_carry_the_headers(settings) -> None:
    settings(max_request_bytes="1000")
    app = create_app()

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("boom")

    with TestClient(app, raise_server_exceptions=False) as c:
        too_large = c.post("/api/subscribe", content=b"x" * 5000)
        assert too_large.status_code == 413
        assert_secure(too_large)
        error = c.get("/boom")
        assert error.status_code == 500
        assert_secure(error)


def test_signed_in_studio_pages_carry_the_headers(client: TestClient, session) -> None:
    create_staff(
        session, email="admin@clinic.example", password=PASSWORD, role="admin", now=clock.now()
    )
    session.commit()
    studio = Studio(client)
    assert studio.sign_in("admin@clinic.example").status_code == 303
    for url in ["/studio/sequences", "/studio/leads", "/studio/admin", "/studio/leads/export"]:
        response = studio.get(url)
        assert response.status_code == 200, url
        assert_secure(response)


def test_hsts_only_when_the_service_is_served_over_https(settings) -> None:
    settings(base_url="http://127.0.0.1:8000")
    with TestClient(create_app()) as c:
        assert "strict-transport-security" not in c.get("/").headers
    settings(base_url="https://clinic.example")
    with TestClient(create_app()) as c:
        assert c.get("/").headers["strict-transport-security"].startswith("max-age=")


def test_no_template_has_an_inline_script_or_event_handler() -> None:
    folders = [PACKAGE_DIR / "pages", PACKAGE_DIR / "studio" / "templates"]
    inline = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+\s*=|javascript:", re.I)
    found = [
        f"{path.name}: {match.group(0)}"
        for folder in folders
        for path in sorted(Path(folder).glob("*.html"))
        for match in inline.finditer(path.read_text(encoding="utf-8"))
    ]
    assert found == []
