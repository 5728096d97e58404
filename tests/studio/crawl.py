"""Every studio page, seeded so each has something to show: for tests that read them all."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from sqlalchemy import select

from nurture.appointments.models import Appointment
from nurture.broadcasts.models import Broadcast
from nurture.core import clock
from nurture.enrollments.service import enroll
from nurture.leads.models import Lead
from nurture.outbox.models import Message
from nurture.studio.mount import routers
from tests.factories import make_lead
from tests.studio.conftest import Studio
from tests.studio.test_broadcasts import GOOD
from tests.studio.test_editor import SLUG, open_draft
from tests.studio.test_import_jobs import HEADER, upload
from tests.studio.test_visits import seed_day

# Downloads, and data the pages fetch: not pages.
NOT_PAGES = {
    "/broadcasts/audience",
    "/sequences/{slug}/export",
    "/leads/export",
    "/leads/{lead_id}/export",
    "/jobs/{job_id}/problems.txt",
    "/admin/exports/consent",
}


def page_paths() -> set[str]:
    """Every GET page of the studio, as its route pattern."""
    found = set()
    for router in routers():
        for route in router.routes:
            if "GET" in (getattr(route, "methods", None) or set()):
                found.add(getattr(route, "path", ""))
    return {p for p in found - NOT_PAGES if p}


def seed(studio: Studio, session) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Seed a draft with an A/B test, a lead in a sequence, visits, a broadcast and an import.

    Return the URL to read for each route pattern. The caller is signed in as an admin.
    """
    seed_day(session)
    lead = make_lead(session, email_address="ana@example.com", first_name="Ana")
    enroll(session, lead=lead, now=clock.now())
    session.commit()
    message_id = session.scalar(select(Message.id).where(Message.lead_id == lead.id).limit(1))
    ids = open_draft(studio)
    assert studio.post(f"/studio/sequences/{SLUG}/edit/steps/{ids[0]}/variants").status_code == 303
    page = studio.get(f"/studio/sequences/{SLUG}/edit/steps/{ids[0]}").text
    variant_id = re.findall(rf"/edit/steps/{ids[0]}/variants/(\d+)\"", page)[0]
    response = studio.post("/studio/broadcasts", GOOD)
    assert response.status_code == 303, response.text
    broadcast_id = session.scalar(select(Broadcast.id).order_by(Broadcast.id.desc()).limit(1))
    job_id = upload(studio, HEADER + "not-an-address,Robin,chronic,Europe/Berlin,,old tool\n")
    session.expire_all()
    assert session.get(Lead, lead.id) is not None
    step = f"/sequences/{SLUG}/edit/steps/{ids[0]}"
    live_page = studio.get(f"/studio/sequences/{SLUG}").text
    visit_id = session.scalar(select(Appointment.id).order_by(Appointment.id).limit(1))
    live_step = re.findall(rf"/studio/sequences/{SLUG}/steps/(\d+)\"", live_page)[0]
    urls = {
        "/login": "/studio/login",
        "/sequences": "/studio/sequences",
        "/sequences/{slug}": f"/studio/sequences/{SLUG}",
        "/sequences/{slug}/edit": f"/studio/sequences/{SLUG}/edit",
        "/sequences/{slug}/edit/steps/{step_id}": f"/studio{step}",
        "/sequences/{slug}/edit/steps/{step_id}/variants/{variant_id}": (
            f"/studio{step}/variants/{variant_id}"
        ),
        "/sequences/{slug}/edit/steps/{step_id}/languages/{language}": (
            f"/studio{step}/languages/es"
        ),
        "/sequences/{slug}/edit/steps/{step_id}/variants/{variant_id}/languages/{language}": (
            f"/studio{step}/variants/{variant_id}/languages/es"
        ),
        "/broadcasts/{broadcast_id}/languages/{language}": (
            f"/studio/broadcasts/{broadcast_id}/languages/es"
        ),
        "/sequences/{slug}/publish": f"/studio/sequences/{SLUG}/publish",
        "/sequences/{slug}/steps/{step_id}": f"/studio/sequences/{SLUG}/steps/{live_step}",
        "/sequences/{slug}/history": f"/studio/sequences/{SLUG}/history",
        "/simulator": f"/studio/simulator?sequence={SLUG}",
        "/leads": "/studio/leads",
        "/leads/{lead_id}": f"/studio/leads/{lead.id}",
        "/leads/{lead_id}/next": f"/studio/leads/{lead.id}/next",
        "/broadcasts": "/studio/broadcasts",
        "/broadcasts/new": "/studio/broadcasts/new",
        "/broadcasts/{broadcast_id}/edit": f"/studio/broadcasts/{broadcast_id}/edit",
        "/broadcasts/{broadcast_id}": f"/studio/broadcasts/{broadcast_id}",
        "/jobs/{job_id}": f"/studio/jobs/{job_id}",
        "/visits": "/studio/visits?day=2026-03-24",
        "/outbox": "/studio/outbox",
        "/outbox/{message_id}": f"/studio/outbox/{message_id}",
        "/results": "/studio/results",
        "/results/{slug}": f"/studio/results/{SLUG}",
        "/admin": "/studio/admin",
        "/admin/audit": "/studio/admin/audit",
        "/admin/clinic": "/studio/admin/clinic",
        "/admin/locations": "/studio/admin/locations",
        "/admin/locations/{key}": "/studio/admin/locations/main",
        "/texts": "/studio/texts",
        "/texts/edit/{name}": "/studio/texts/edit/appointment_reminder",
        "/texts/edit/{name}/languages/{language}": (
            "/studio/texts/edit/appointment_reminder/languages/es"
        ),
        "/texts/numbers/{number}": "/studio/texts/numbers/4915112345678",
        "/visits/{appointment_id}/texts": f"/studio/visits/{visit_id}/texts",
    }
    return {pattern: urls[pattern] for pattern in page_paths()}


class _Visible(HTMLParser):
    """The words a reader sees, apart from file contents and email text (in `pre`)."""

    _SKIP = {"script", "style", "template", "title", "head", "pre"}
    _VOID = {"br", "hr", "img", "input", "meta", "link", "wbr", "col", "area", "base", "source"}

    def __init__(self) -> None:
        super().__init__()
        self.words: list[str] = []
        self._stack: list[bool] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._VOID:
            if tag == "input":
                values = dict(attrs)
                if values.get("type") in ("submit", "button") and values.get("value"):
                    self.words.append(values["value"] or "")
                if values.get("placeholder") and not self.hidden:
                    self.words.append(values["placeholder"] or "")
            return
        names = dict(attrs)
        self._stack.append(tag in self._SKIP or "hidden" in names)

    def handle_endtag(self, tag: str) -> None:
        if tag not in self._VOID and self._stack:
            self._stack.pop()

    @property
    def hidden(self) -> bool:
        return any(self._stack)

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.words.append(data)


def visible_text(html: str) -> str:
    """Return the text of a page a reader sees (not its tooltips, scripts or hidden parts)."""
    parser = _Visible()
    parser.feed(html)
    return " ".join(" ".join(parser.words).split())
