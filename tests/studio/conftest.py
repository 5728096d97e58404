"""Studio fixtures: staff accounts and a signed-in client that sends CSRF tokens like a browser."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

PASSWORD = "correct horse battery staple"
_TOKEN = re.compile(r'name="csrftoken" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """Return the CSRF token a studio page put in its forms."""
    match = _TOKEN.search(html)
    assert match, "the page has no CSRF field"
    return match.group(1)


class Studio:
    """A TestClient signed in to the studio, posting forms with the page's CSRF token."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.token = ""

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        response = self.client.get(url, **kwargs)
        match = _TOKEN.search(response.text)
        if match:
            self.token = match.group(1)
        return response

    def post(self, url: str, data: dict[str, Any] | None = None, **kwargs: Any) -> httpx.Response:
        if not self.token:
            self.get("/studio/login")
        body = {"csrftoken": self.token, **(data or {})}
        return self.client.post(url, data=body, follow_redirects=False, **kwargs)

    def sign_in(self, email: str, password: str = PASSWORD) -> httpx.Response:
        self.get("/studio/login")
        response = self.post("/studio/login", {"email": email, "password": password})
        if response.status_code == 303:
            self.get("/studio/sequences")  # signing in starts a new session with a new token
        return response


@pytest.fixture
def make_staff(session) -> Callable[..., Any]:  # type: ignore[no-untyped-def]
    """Create a staff account and return it."""
    from nurture.core import clock
    from nurture.studio.auth import create_staff

    def make(email: str = "editor@clinic.example", role: str = "editor") -> Any:
        staff = create_staff(session, email=email, password=PASSWORD, role=role, now=clock.now())
        session.commit()
        return staff

    return make


@pytest.fixture
def studio(client, make_staff) -> Studio:  # type: ignore[no-untyped-def]
    """A client signed in as an editor."""
    make_staff()
    s = Studio(client)
    response = s.sign_in("editor@clinic.example")
    assert response.status_code == 303, response.text
    return s


@pytest.fixture
def admin_studio(client, make_staff) -> Studio:  # type: ignore[no-untyped-def]
    """A client signed in as an admin."""
    make_staff("admin@clinic.example", "admin")
    s = Studio(client)
    response = s.sign_in("admin@clinic.example")
    assert response.status_code == 303, response.text
    return s
