"""Studio access: sign-in, sessions, CSRF, roles, lockout and the template sandbox."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from starlette.routing import Route

from nurture.core import clock
from nurture.sequences.models import Step
from nurture.staff.models import AuditEntry, StaffUser
from nurture.studio.mount import routers
from nurture.web.app import create_app
from tests.studio.conftest import PASSWORD, Studio

PUBLIC = {("GET", "/studio/login"), ("POST", "/studio/login"), ("POST", "/studio/logout")}


def studio_routes() -> list[tuple[str, str]]:
    """Every (method, path) the studio serves, with sample path parameters."""
    found = []
    for router in routers():
        for route in router.routes:
            assert isinstance(route, Route)
            full = "/studio" + route.path
            path = re.sub(r"\{(\w+)\}", lambda m: "x" if m.group(1) == "slug" else "1", full)
            for method in sorted(route.methods or ()):
                if method != "HEAD" and (method, full) not in PUBLIC:
                    found.append((method, path))
    return found


ROUTES = studio_routes()
POSTS = [path for method, path in ROUTES if method == "POST"]


def test_the_studio_has_the_routes_the_security_tests_walk() -> None:
    # The lists below are built from the app itself; make sure they are not empty.
    assert len([m for m, _ in ROUTES if m == "GET"]) >= 15
    assert len(POSTS) >= 20


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_studio_route_refuses_anonymous_requests(client, method: str, path: str) -> None:
    response = client.request(method, path, follow_redirects=False)
    if method == "GET":
        assert response.status_code == 303
        assert response.headers["location"].startswith("/studio/login?next=")
    else:
        assert response.status_code == 401
        assert "Sign in" in response.text


def test_every_studio_form_refuses_a_request_without_the_csrf_token(
    studio: Studio, session, sequences_loaded
) -> None:
    before = session.scalar(select(AuditEntry.id).order_by(AuditEntry.id.desc()).limit(1))
    for path in POSTS:
        response = studio.client.post(path, data={"action": "pause"}, follow_redirects=False)
        assert response.status_code == 403, path
        assert "This form has expired" in response.text
        forged = studio.client.post(
            path, data={"csrftoken": "forged", "action": "pause"}, follow_redirects=False
        )
        assert forged.status_code == 403, path
    session.expire_all()
    after = session.scalar(select(AuditEntry.id).order_by(AuditEntry.id.desc()).limit(1))
    assert after == before  # not one of them changed anything


def test_sign_in_itself_needs_the_csrf_token(client, make_staff) -> None:
    make_staff()
    client.get("/studio/login")  # sets the CSRF cookie, as a browser would
    response = client.post(
        "/studio/login",
        data={"email": "editor@clinic.example", "password": PASSWORD},
        follow_redirects=False,
    )
    assert response.status_code == 403


def test_session_cookie_is_signed_httponly_samesite_and_scoped_to_the_studio(
    client, make_staff
) -> None:
    make_staff()
    response = Studio(client).sign_in("editor@clinic.example")
    cookie = next(
        v for k, v in response.headers.multi_items() if k == "set-cookie" and "nurture_studio" in v
    )
    assert "httponly" in cookie.lower()
    assert "samesite=lax" in cookie.lower()
    assert "path=/studio" in cookie.lower()
    # A tampered cookie is no session at all.
    value = client.cookies.get("nurture_studio")
    client.cookies.set("nurture_studio", value[:-4] + "AAAA", path="/studio")
    assert client.get("/studio/sequences", follow_redirects=False).status_code == 303


def test_session_cookie_is_secure_when_the_service_runs_on_https(settings, make_staff) -> None:
    settings(base_url="https://nurture.test")
    make_staff()
    with TestClient(create_app(), base_url="https://nurture.test") as c:
        response = Studio(c).sign_in("editor@clinic.example")
    cookies = [v for k, v in response.headers.multi_items() if k == "set-cookie"]
    assert any(v.startswith("nurture_studio=") for v in cookies)
    assert all("secure" in v.lower() for v in cookies)


def test_wrong_passwords_lock_the_account_and_an_admin_can_unlock_it(
    client, make_staff, session, settings
) -> None:
    settings(studio_lockout_failures="3", studio_lockout_minutes="15")
    make_staff()
    s = Studio(client)
    for _ in range(3):
        response = s.sign_in("editor@clinic.example", "wrong password!")
        assert response.status_code == 401
        assert "do not match" in response.text
    assert "After 3 wrong passwords an account is locked for 15 minutes" in response.text
    staff = session.scalar(select(StaffUser).where(StaffUser.email == "editor@clinic.example"))
    assert staff.locked_until > clock.now() + timedelta(minutes=14)
    # Even the right password is refused while the lock lasts.
    response = s.sign_in("editor@clinic.example")
    assert response.status_code == 401
    assert "do not match" in response.text
    # The lock ends by itself...
    with clock.frozen_at(clock.now() + timedelta(minutes=16)):
        assert s.sign_in("editor@clinic.example").status_code == 303


def test_unknown_locked_and_wrong_get_one_answer_after_the_same_work(
    client, make_staff, session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nurture.studio import auth

    make_staff()
    locked = make_staff("locked@clinic.example")
    locked.locked_until = clock.now() + timedelta(minutes=10)
    session.commit()
    hashes: list[str] = []
    verify = auth._verify

    def counted(password_hash: str, password: str) -> bool:
        hashes.append(password_hash)
        return verify(password_hash, password)

    monkeypatch.setattr(auth, "_verify", counted)
    s = Studio(client)
    attempts = {
        "unknown": ("nobody@clinic.example", PASSWORD),
        "wrong": ("editor@clinic.example", "not the password"),
        "locked, wrong password": ("locked@clinic.example", "not the password"),
        "locked, right password": ("locked@clinic.example", PASSWORD),
    }
    bodies = {}
    for name, (email, password) in attempts.items():
        hashes.clear()
        response = s.sign_in(email, password)
        assert response.status_code == 401, name
        assert len(hashes) == 1, name  # one argon2 verification, whatever the case
        assert hashes[0].startswith("$argon2id$"), name
        bodies[name] = response.text.replace(email, "ADDRESS")
    assert len(set(bodies.values())) == 1, bodies  # byte for byte the same page
    assert "That email and password do not match an account." in bodies["unknown"]


def test_sign_in_attempts_are_throttled_per_client(client, make_staff, session, settings) -> None:
    settings(studio_signin_rate_per_ip="3/minute")
    make_staff()
    make_staff("other@clinic.example")
    s = Studio(client)
    for email in ("editor@clinic.example", "other@clinic.example", "nobody@clinic.example"):
        assert s.sign_in(email, "wrong password!").status_code == 401
    held = s.sign_in("editor@clinic.example")  # even the right password waits its turn
    assert held.status_code == 429
    assert 1 <= int(held.headers["retry-after"]) <= 60
    assert "Too many sign-in attempts from your network" in held.text
    staff = session.scalar(select(StaffUser).where(StaffUser.email == "editor@clinic.example"))
    assert staff.failed_logins == 1  # the held attempt never reached the account
    with TestClient(create_app(), base_url="https://nurture.test", client=("203.0.113.9", 1)) as c:
        assert Studio(c).sign_in("editor@clinic.example").status_code == 303


def test_sign_in_returns_to_the_page_asked_for_but_never_to_another_site(
    client, make_staff
) -> None:
    make_staff()
    s = Studio(client)
    s.get("/studio/login")
    to_page = s.post(
        "/studio/login",
        {"email": "editor@clinic.example", "password": PASSWORD, "next": "/studio/leads"},
    )
    assert to_page.headers["location"] == "/studio/leads"
    s.post("/studio/logout")
    s.get("/studio/login")
    away = s.post(
        "/studio/login",
        {"email": "editor@clinic.example", "password": PASSWORD, "next": "https://evil.example/"},
    )
    assert away.headers["location"] == "/studio/sequences"


def test_an_editor_cannot_reach_admin_pages(studio: Studio) -> None:
    for path in (
        "/studio/admin",
        "/studio/admin/audit",
        "/studio/admin/exports/consent",
        "/studio/leads/export",
        "/studio/leads/1/export",
    ):
        response = studio.get(path, follow_redirects=False)
        assert response.status_code == 403, path
        assert "Admins only" in response.text
    for path in ("/studio/admin/staff", "/studio/admin/tokens", "/studio/admin/staff/1"):
        response = studio.post(path, {"email": "x@clinic.example", "name": "x", "action": "role"})
        assert response.status_code == 403, path
    assert "/studio/admin" not in studio.get("/studio/sequences").text  # not even linked


def test_disabling_or_demoting_someone_ends_their_session(
    admin_studio: Studio, make_staff, session
) -> None:
    editor = make_staff()
    other = Studio(TestClient(create_app(), base_url="https://nurture.test"))
    assert other.sign_in("editor@clinic.example").status_code == 303
    assert other.get("/studio/sequences").status_code == 200
    response = admin_studio.post(f"/studio/admin/staff/{editor.id}", {"action": "disable"})
    assert response.status_code == 303
    assert other.get("/studio/sequences", follow_redirects=False).status_code == 303
    assert "disabled" in other.sign_in("editor@clinic.example").text


def test_signing_out_ends_the_session(studio: Studio) -> None:
    assert studio.post("/studio/logout").status_code == 303
    assert studio.get("/studio/sequences", follow_redirects=False).status_code == 303


def test_signing_out_ends_the_session_on_the_server_so_a_copied_cookie_stops_working(
    client, make_staff
) -> None:
    make_staff()
    mine = Studio(client)
    assert mine.sign_in("editor@clinic.example").status_code == 303
    copied, token = client.cookies.get("nurture_studio"), mine.token
    with TestClient(create_app(), base_url="https://nurture.test") as other:
        other.cookies.set("nurture_studio", copied, path="/studio")
        assert other.get("/studio/sequences", follow_redirects=False).status_code == 200
        assert mine.post("/studio/logout").status_code == 303
        replay = other.get("/studio/sequences", follow_redirects=False)
        assert replay.status_code == 303
        assert replay.headers["location"].startswith("/studio/login")
    with TestClient(create_app(), base_url="https://nurture.test") as other:
        other.cookies.set("nurture_studio", copied, path="/studio")
        post = other.post(
            "/studio/sequences",
            data={"csrftoken": token, "name": "X", "slug": "x", "audience": "x"},
            follow_redirects=False,
        )
        assert post.status_code == 401


def test_signing_out_ends_only_that_session(client, make_staff) -> None:
    make_staff()
    laptop = Studio(client)
    assert laptop.sign_in("editor@clinic.example").status_code == 303
    with TestClient(create_app(), base_url="https://nurture.test") as phone_client:
        phone = Studio(phone_client)
        assert phone.sign_in("editor@clinic.example").status_code == 303
        assert phone.post("/studio/logout").status_code == 303
    assert laptop.get("/studio/sequences", follow_redirects=False).status_code == 200


def test_a_studio_cookie_from_another_installation_is_refused(
    make_staff, settings, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    # Two default installations (no NURTURE_SECRET_KEY) sharing one database for the test.
    monkeypatch.setenv("NURTURE_DATABASE_URL", settings().resolved_database_url)
    monkeypatch.delenv("NURTURE_SECRET_KEY")
    make_staff()
    settings(data_dir=str(tmp_path / "first"))
    with TestClient(create_app(), base_url="https://nurture.test") as first:
        assert Studio(first).sign_in("editor@clinic.example").status_code == 303
        cookie = first.cookies.get("nurture_studio")
        assert first.get("/studio/sequences", follow_redirects=False).status_code == 200
    settings(data_dir=str(tmp_path / "second"))
    with TestClient(create_app(), base_url="https://nurture.test") as second:
        second.cookies.set("nurture_studio", cookie, path="/studio")
        assert second.get("/studio/sequences", follow_redirects=False).status_code == 303


def test_a_template_reaching_for_python_internals_is_refused_by_the_sandbox(
    studio: Studio, session, sequences_loaded
) -> None:
    studio.post("/studio/sequences/chronic-basics/draft")
    page = studio.get("/studio/sequences/chronic-basics/edit").text
    step_id = int(re.search(r"/edit/steps/(\d+)\"", page).group(1))
    form = {
        "key": "welcome",
        "kind": "education",
        "delay_days": "0",
        "delay_minutes": "0",
        "subject": "A quick read",
        "preheader": "",
        "html": "<p>Hello</p>\n<p>{{ ''.__class__.__mro__[1].__subclasses__() }}</p>",
        "text": "",
    }
    response = studio.post(f"/studio/sequences/chronic-basics/edit/steps/{step_id}", form)
    assert response.status_code == 422
    assert "Python internals" in response.text
    assert "sandbox refuses" in response.text
    assert "line 2" in response.text
    session.expire_all()
    assert "__class__" not in session.get(Step, step_id).body_html  # nothing saved
    preview = studio.client.post(
        f"/studio/sequences/chronic-basics/edit/steps/{step_id}/preview",
        data=form,
        headers={"x-csrftoken": studio.token},
    ).json()
    assert any("sandbox refuses" in p["message"] for p in preview["problems"])
    assert "html" not in preview


def test_sign_ins_and_changes_are_in_the_audit_log(admin_studio: Studio, session) -> None:
    admin_studio.post(
        "/studio/admin/staff",
        {"email": "new@clinic.example", "password": "a long enough password", "role": "editor"},
    )
    page = admin_studio.get("/studio/admin/audit").text
    assert "staff.sign_in" in page
    assert "staff.create" in page
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "staff.create"))
    assert entry.actor == "admin@clinic.example"
    assert entry.target == "new@clinic.example"
    assert entry.after == {"role": "editor", "disabled": False}


def test_staff_create_command_makes_an_account_with_an_argon2_hash(session) -> None:
    from click.testing import CliRunner

    from nurture.cli import main

    result = CliRunner().invoke(
        main,
        ["staff", "create", "Boss@Clinic.example", "--role", "admin", "--password-stdin"],
        input="a very long password\n",
    )
    assert result.exit_code == 0, result.output
    assert "boss@clinic.example (admin) can sign in at" in result.output
    staff = session.scalar(select(StaffUser))
    assert staff.password_hash.startswith("$argon2id$")
    assert "a very long password" not in staff.password_hash
    again = CliRunner().invoke(
        main,
        ["staff", "create", "boss@clinic.example", "--password-stdin"],
        input="a very long password\n",
    )
    assert again.exit_code != 0
    assert "exists already" in again.output
    short = CliRunner().invoke(
        main, ["staff", "create", "x@clinic.example", "--password-stdin"], input="short\n"
    )
    assert "at least 12 characters" in short.output
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "staff.create"))
    assert entry.actor == "command line"


def test_studio_bodies_have_their_own_size_limits(studio: Studio, settings) -> None:
    # The editor may post a large email (up to 1 MiB); uploads get NURTURE_MAX_UPLOAD_BYTES;
    # the public API keeps its 16 KiB.
    huge = studio.post("/studio/sequences/x/edit/window", {"start_hour": "9" * (1100 * 1024)})
    assert huge.status_code == 413
    big = studio.post("/studio/sequences/x/edit/window", {"start_hour": "9" * (200 * 1024)})
    assert big.status_code == 404  # got through to the view: no such sequence
    upload = studio.client.post(
        "/studio/leads/import",
        data={"csrftoken": studio.token},
        files={"file": ("leads.csv", b"email\n" + b"x" * (2 * 1024 * 1024), "text/csv")},
    )
    assert upload.status_code == 422  # read and checked, not refused for its size
    api = studio.client.post("/api/subscribe", content=b"{" + b" " * (20 * 1024) + b"}")
    assert api.status_code == 413
