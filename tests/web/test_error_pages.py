"""Errors are pages in the site's (or the studio's) layout for browsers, JSON for APIs."""

from __future__ import annotations

from fastapi.testclient import TestClient

from nurture.web.app import create_app

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def _is_site_page(response) -> bool:  # type: ignore[no-untyped-def]
    return (
        response.headers["content-type"].startswith("text/html")
        and "<footer>" in response.text
        and 'href="/privacy"' in response.text
    )


def test_browser_errors_are_pages_and_api_errors_stay_json(client) -> None:
    missing = client.get("/no-such-page", headers=BROWSER)
    assert missing.status_code == 404
    assert _is_site_page(missing)
    assert "find that page" in missing.text
    assert client.get("/no-such-page").json() == {"detail": "Not Found"}
    api = client.get("/api/no-such-thing", headers=BROWSER)
    assert api.status_code == 404
    assert api.headers["content-type"] == "application/json"

    wrong_method = client.get("/subscribe", headers=BROWSER)
    assert wrong_method.status_code == 405
    assert _is_site_page(wrong_method)
    assert wrong_method.headers["allow"] == "POST"

    too_big = client.post(
        "/subscribe",
        content=b"email=" + b"x" * 20000,
        headers={**BROWSER, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert too_big.status_code == 413
    assert _is_site_page(too_big)
    assert "too much" in too_big.text
    api_too_big = client.post("/api/subscribe", json={"x": "y" * 20000}, headers=BROWSER)
    assert api_too_big.status_code == 413
    assert api_too_big.json()["error"] == "payload_too_large"


def test_a_crash_is_a_page_with_the_security_headers() -> None:
    app = create_app()

    def boom() -> None:
        raise RuntimeError("kaput")

    app.add_api_route("/boom", boom)
    app.add_api_route("/studio/boom", boom)
    app.add_api_route("/api/boom", boom)
    with TestClient(app, base_url="https://nurture.test", raise_server_exceptions=False) as c:
        page = c.get("/boom", headers=BROWSER)
        assert page.status_code == 500
        assert _is_site_page(page)
        assert "went wrong on our side" in page.text
        assert "kaput" not in page.text
        assert page.headers["content-security-policy"]
        studio = c.get("/studio/boom", headers=BROWSER)
        assert "Nurture studio" in studio.text
        assert 'href="/studio"' in studio.text
        # API clients, webhooks and scripts get the documented JSON error, never plain text.
        for path, headers in (("/api/boom", BROWSER), ("/boom", {"Accept": "*/*"})):
            api = c.get(path, headers=headers)
            assert api.status_code == 500
            assert api.headers["content-type"] == "application/json"
            assert api.json()["error"] == "internal_error"
            assert "kaput" not in api.text
            assert api.headers["content-security-policy"]


def test_favicon_exists(client) -> None:
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200
    assert icon.headers["content-type"] == "image/x-icon"
    assert icon.content[:4] == b"\x00\x00\x01\x00"
    assert '<link rel="icon" href="/favicon.ico">' in client.get("/").text


def test_error_pages_speak_the_browsers_language(client) -> None:
    spanish = {**BROWSER, "Accept-Language": "es-419,es;q=0.9"}
    wrong_method = client.get("/subscribe", headers=spanish)
    assert wrong_method.status_code == 405
    assert '<html lang="es">' in wrong_method.text
    assert 'href="/privacy?lang=es"' in wrong_method.text
    bad_link = client.get("/confirm/not-a-token", headers=spanish)
    assert bad_link.status_code == 400
    assert "Este enlace no funciona" in bad_link.text
    switched = client.get("/no-such-page?lang=es", headers=BROWSER)
    assert "No encontramos esa página" in switched.text
    assert '<a href="/no-such-page?lang=en" lang="en" hreflang="en">English</a>' in switched.text
    app = create_app()

    def boom() -> None:
        raise RuntimeError("kaput")

    app.add_api_route("/boom", boom)
    with TestClient(app, base_url="https://nurture.test", raise_server_exceptions=False) as c:
        crash = c.get("/boom", headers=spanish)
        assert crash.status_code == 500
        assert '<html lang="es">' in crash.text
        assert "Algo falló de nuestro lado" in crash.text
