"""Preferences, pause, erase, resubscribe, purge, consent export, throttling, CORS."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import func, select

from nurture.cli import main
from nurture.core import clock
from nurture.core.config import get_settings
from nurture.delivery import service
from nurture.delivery.channels.registry import get_backend
from nurture.delivery.models import DeliveryEvent, Message, Suppression
from nurture.enrollments.models import Enrollment
from nurture.leads.models import ConsentRecord, Lead, LeadStatus
from nurture.messages.links import preferences_url
from tests.factories import link_in, outbox_messages, text_part

SIGNUP = {
    "email": "kai@example.com",
    "first_name": "Kai",
    "numbness_type": "acute",
    "timezone": "Europe/Berlin",
    "consent": True,
}


def _tick(at: datetime | None = None) -> list[str]:
    sent: list[str] = []
    with clock.frozen_at(at or datetime.now(UTC)):
        service.tick(
            dispatch=lambda ids: sent.extend(
                o.subject or ""
                for o in service.deliver_batch(ids, backend=get_backend())
                if o.status == "sent"
            )
        )
    return sent


def _confirmed_lead(client, session) -> Lead:  # type: ignore[no-untyped-def]
    client.post("/api/subscribe", json=SIGNUP)
    _tick()
    link = link_in(text_part(outbox_messages(get_settings().resolved_outbox_dir)[-1]), "/confirm/")
    client.post(link.removeprefix("https://nurture.test"))
    _tick()
    session.expire_all()
    return session.scalars(select(Lead)).one()


def _path(url: str) -> str:
    return url.removeprefix("https://nurture.test")


def test_preference_link_is_in_every_marketing_email(client, session, sequences_loaded) -> None:
    lead = _confirmed_lead(client, session)
    welcome = outbox_messages(get_settings().resolved_outbox_dir)[-1]
    link = link_in(text_part(welcome), "/preferences/")
    page = client.get(_path(link))
    assert page.status_code == 200
    assert 'value="acute" checked' in page.text
    assert lead.status == LeadStatus.ACTIVE


def test_changing_type_moves_sequence_without_repeating(client, session, sequences_loaded) -> None:
    lead = _confirmed_lead(client, session)
    response = client.post(
        _path(preferences_url(lead)), data={"action": "type", "numbness_type": "chronic"}
    )
    assert response.status_code == 200
    assert "Saved" in response.text
    session.expire_all()
    enrollments = session.scalars(select(Enrollment).order_by(Enrollment.id)).all()
    assert [(e.status, e.exit_reason) for e in enrollments] == [
        ("exited", "type_changed"),
        ("active", None),
    ]
    assert _tick() == ["Your email preferences are updated"]
    # The chronic welcome has the same key as the one already read: it is skipped.
    later = _tick(datetime.now(UTC) + timedelta(days=4))
    assert later == ["Something worth asking your doctor about"]


def test_pause_holds_email_until_it_ends(client, session, sequences_loaded) -> None:
    lead = _confirmed_lead(client, session)
    response = client.post(_path(preferences_url(lead)), data={"action": "pause2"})
    assert "Paused" in response.text
    assert _tick(datetime.now(UTC) + timedelta(days=5)) == ["Your email preferences are updated"]
    session.expire_all()
    held = session.scalars(select(Message).where(Message.status == "pending")).one()
    assert held.due_at >= datetime.now(UTC) + timedelta(days=13)
    assert _tick(datetime.now(UTC) + timedelta(days=15)) == ["A lesson from the football field"]


def test_delete_my_data_keeps_only_suppression_and_anonymous_trail(
    client, session, sequences_loaded
) -> None:
    lead = _confirmed_lead(client, session)
    sent = session.scalars(select(Message).where(Message.status == "sent")).first()
    session.add(
        DeliveryEvent(
            provider_event_id="e1",
            message_id=sent.id,
            event="open",  # type: ignore[union-attr]
            occurred_at=datetime.now(UTC),
            payload={"email": lead.email},
        )
    )
    session.commit()
    url = _path(preferences_url(lead))
    unconfirmed = client.post(url, data={"action": "delete"})
    assert unconfirmed.status_code == 422
    done = client.post(url, data={"action": "delete", "confirm_delete": "yes"})
    assert "deleted" in done.text
    session.expire_all()
    assert session.scalars(select(Lead)).all() == []
    assert session.scalar(select(func.count()).select_from(Message)) == 0
    assert session.scalar(select(func.count()).select_from(DeliveryEvent)) == 0
    assert session.scalars(select(Suppression.email)).all() == ["kai@example.com"]
    trail = session.scalars(select(ConsentRecord)).one()
    assert (trail.lead_id, trail.ip_address, trail.user_agent) == (None, None, None)
    assert trail.confirmed_at is not None
    assert trail.withdrawn_at is not None
    # The link is dead and signing up again mails nothing to a suppressed address.
    assert client.get(url).status_code == 400
    client.post("/api/subscribe", json=SIGNUP)
    _tick()
    subjects = [m["Subject"] for m in outbox_messages(get_settings().resolved_outbox_dir)]
    assert subjects.count("Please confirm your email address") == 1


def test_resubscribing_needs_a_new_opt_in(client, session, sequences_loaded) -> None:
    lead = _confirmed_lead(client, session)
    old_confirm = link_in(
        text_part(outbox_messages(get_settings().resolved_outbox_dir)[0]), "/confirm/"
    )
    client.post(_path(preferences_url(lead)), data={"action": "unsubscribe"})
    # The old confirmation link cannot switch mail back on.
    assert client.post(_path(old_confirm)).status_code == 400
    client.post("/api/subscribe", json=SIGNUP)
    session.expire_all()
    assert session.scalars(select(Lead)).one().status == LeadStatus.UNSUBSCRIBED
    assert _tick() == ["You're unsubscribed", "Please confirm your email address"]
    # The two were sent concurrently, so their files can land in either order.
    confirmations = [
        m
        for m in outbox_messages(get_settings().resolved_outbox_dir)
        if m["Subject"] == "Please confirm your email address"
    ]
    fresh = link_in(text_part(confirmations[-1]), "/confirm/")
    assert client.post(_path(fresh)).status_code == 200
    session.expire_all()
    assert session.scalars(select(Lead)).one().status == LeadStatus.ACTIVE


def test_a_token_for_one_lead_acts_only_on_that_lead(client, session, sequences_loaded) -> None:
    lead = _confirmed_lead(client, session)
    other = client.post("/api/subscribe", json={**SIGNUP, "email": "other@example.com"})
    assert other.status_code == 202
    client.post(_path(preferences_url(lead)), data={"action": "unsubscribe"})
    session.expire_all()
    states = dict(session.execute(select(Lead.email, Lead.status)).all())
    assert states == {"kai@example.com": "unsubscribed", "other@example.com": "pending"}
    forged = client.post("/preferences/forged.token", data={"action": "unsubscribe"})
    assert forged.status_code == 400


def test_honeypot_answers_as_usual_and_keeps_nothing(client, session) -> None:
    response = client.post("/api/subscribe", json={**SIGNUP, "website": "http://spam.example"})
    assert response.status_code == 202
    assert session.scalars(select(Lead)).all() == []


def test_signups_are_rate_limited_per_address_and_per_client(client, session, settings) -> None:
    settings(signup_rate_per_address="2/hour", signup_rate_per_ip="4/minute")
    codes = [client.post("/api/subscribe", json=SIGNUP).status_code for _ in range(3)]
    assert codes == [202, 202, 429]
    others = [
        client.post("/api/subscribe", json={**SIGNUP, "email": f"p{i}@example.com"}).status_code
        for i in range(3)
    ]
    assert others == [202, 429, 429]  # the client has now made four
    limited = client.post("/api/subscribe", json={**SIGNUP, "email": "new@example.com"})
    assert int(limited.headers["Retry-After"]) >= 1
    assert "retry in" in limited.json()["message"]


def test_cors_allows_only_configured_origins(settings) -> None:
    from fastapi.testclient import TestClient

    from nurture.web.app import create_app

    settings(cors_origins="https://clinic.example.org")
    with TestClient(create_app()) as client:
        preflight = {
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        }
        ok = client.options(
            "/api/subscribe", headers={"Origin": "https://clinic.example.org", **preflight}
        )
        assert ok.headers["access-control-allow-origin"] == "https://clinic.example.org"
        bad = client.options(
            "/api/subscribe", headers={"Origin": "https://evil.example", **preflight}
        )
        assert "access-control-allow-origin" not in bad.headers


def test_unconfirmed_leads_are_purged(client, session, settings) -> None:
    settings(purge_unconfirmed_days="7")
    with clock.frozen_at(datetime.now(UTC) - timedelta(days=8)):
        client.post("/api/subscribe", json=SIGNUP)
    client.post("/api/subscribe", json={**SIGNUP, "email": "fresh@example.com"})
    result = CliRunner().invoke(main, ["leads", "purge"])
    assert result.exit_code == 0
    assert "1 unconfirmed leads deleted" in result.output
    session.expire_all()
    assert session.scalars(select(Lead.email)).all() == ["fresh@example.com"]
    assert session.scalar(select(func.count()).select_from(ConsentRecord)) == 1


def test_consent_export(client, session, tmp_path: Path, sequences_loaded) -> None:
    _confirmed_lead(client, session)
    out = tmp_path / "consent.csv"
    result = CliRunner().invoke(main, ["consent", "export", str(out)])
    assert result.exit_code == 0, result.output
    [row] = list(csv.DictReader(out.open()))
    assert row["email"] == "kai@example.com"
    assert row["text_version"]
    assert row["confirmed_at"]
    assert row["ip_address"] == "testclient"
