"""The path a lead takes from signup to the last drip email, moved by `nurture tick --now`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from nurture.cli import main
from nurture.core.config import get_settings
from nurture.enrollments.models import Enrollment, EnrollmentStatus
from nurture.leads.models import ConsentRecord, Lead, LeadStatus
from nurture.outbox.models import Message, MessageStatus
from tests.factories import link_in, outbox_messages, text_part

SIGNUP = {
    "email": "sam@example.com",
    "first_name": "Sam",
    "numbness_type": "acute",
    "timezone": "America/Chicago",
    "consent": True,
}
# Inside the drip's send window in the lead's zone (Chicago), so nothing waits for morning.
MONDAY_MORNING = datetime(2027, 1, 4, 15, 0, tzinfo=UTC)


def tick(at: datetime) -> str:
    """Run `nurture tick --now AT` and return what it printed."""
    result = CliRunner().invoke(main, ["tick", "--now", at.isoformat()])
    assert result.exit_code == 0, result.output
    return result.output


def test_signup_confirm_and_drip_through_outbox(client, session, sequences_loaded) -> None:
    from nurture.core import clock

    # A fixed Monday, 09:00 in Chicago, so the send window gives the same answer every run.
    start = datetime(2027, 1, 4, 15, 0, tzinfo=UTC)
    with clock.frozen_at(start - timedelta(seconds=5)):
        assert client.post("/api/subscribe", json=SIGNUP).status_code == 202
    out = tick(start)
    assert "sent: Please confirm your email address" in out
    outbox = get_settings().resolved_outbox_dir
    [confirmation] = outbox_messages(outbox)
    assert confirmation["To"] == "sam@example.com"
    assert "List-Unsubscribe" not in confirmation  # transactional mail
    link = link_in(text_part(confirmation), "/confirm/")
    assert link.startswith("https://nurture.test/confirm/")

    with clock.frozen_at(start + timedelta(seconds=30)):
        # Opening the link (as a mail scanner does) only shows the button.
        shown = client.get(link.removeprefix("https://nurture.test"))
        assert shown.status_code == 200
        assert "Yes, confirm my email" in shown.text
        session.expire_all()
        assert session.scalars(select(Lead)).one().status == LeadStatus.PENDING
        assert session.scalars(select(Enrollment)).all() == []
        page = client.post(link.removeprefix("https://nurture.test"))
    assert page.status_code == 200
    assert "confirmed" in page.text
    session.expire_all()
    lead = session.scalars(select(Lead)).one()
    assert lead.status == LeadStatus.ACTIVE
    assert session.scalars(select(ConsentRecord)).one().confirmed_at is not None
    enrollment = session.scalars(select(Enrollment)).one()
    assert enrollment.status == EnrollmentStatus.ACTIVE

    # The welcome step has no delay: the next tick sends it.
    out = tick(start + timedelta(minutes=1))
    assert "sent: Welcome, Sam: your first short read" in out
    welcome = outbox_messages(outbox)[-1]
    assert welcome["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "<https://nurture.test/unsubscribe/" in welcome["List-Unsubscribe"]
    assert get_settings().clinic_address in text_part(welcome)
    html = welcome.get_body(preferencelist=("html",))
    assert html is not None
    assert "unsubscribe</a>" in html.get_content()
    assert "/preferences/" in html.get_content()

    # Step 2 waits three days (then the send window); nothing goes early.
    assert "0 due" in tick(start + timedelta(days=2, hours=23))
    out = tick(start + timedelta(days=4))
    assert "sent: A lesson from the football field" in out
    # Step 3 (a booking reminder) is three days after step 2 was sent, step 4 a week later.
    assert "0 due" in tick(start + timedelta(days=6, hours=12))
    out = tick(start + timedelta(days=7, hours=1))
    assert "sent: Still on your mind? Book a visit with us" in out
    out = tick(start + timedelta(days=14, hours=2))
    assert "sent: Three signs it is time to get checked" in out
    assert len(outbox_messages(outbox)) == 5

    session.expire_all()
    enrollment = session.scalars(select(Enrollment)).one()
    assert enrollment.status == EnrollmentStatus.COMPLETED
    assert enrollment.last_position == 4
    statuses = session.scalars(select(Message.status)).all()
    assert statuses == [MessageStatus.SENT] * 5
    # Nothing more to do, and a repeated tick sends no duplicate.
    assert "0 due" in tick(start + timedelta(days=30))
    assert len(outbox_messages(outbox)) == 5


def test_drip_emails_respect_the_send_window_in_the_leads_zone(
    client, session, sequences_loaded
) -> None:
    # Confirm at 21:00 Chicago time: step 2 (3 days later, 21:00) must wait for 09:00.
    from nurture.core import clock

    confirmed_at = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)  # 21:00 CST on 1 March
    with clock.frozen_at(confirmed_at - timedelta(minutes=2)):
        assert client.post("/api/subscribe", json=SIGNUP).status_code == 202
    tick(confirmed_at - timedelta(minutes=1))
    link = link_in(text_part(outbox_messages(get_settings().resolved_outbox_dir)[0]), "/confirm/")
    with clock.frozen_at(confirmed_at):
        assert client.post(link.removeprefix("https://nurture.test")).status_code == 200
    tick(confirmed_at + timedelta(seconds=5))
    session.expire_all()
    pending = session.scalars(select(Message).where(Message.status == "pending")).one()
    # 4 March 21:00 CST + window -> 5 March 09:00 CST = 15:00 UTC.
    assert pending.due_at == datetime(2026, 3, 5, 15, 0, tzinfo=UTC)


def test_unsubscribe_one_click_stops_pending_email(client, session, sequences_loaded) -> None:
    from nurture.core import clock

    # Signup and confirmation at a fixed Monday 09:00 in Chicago: the welcome is due at the
    # tick a second later, whatever the hour of the run or however long the requests take.
    start = MONDAY_MORNING
    with clock.frozen_at(start):
        client.post("/api/subscribe", json=SIGNUP)
    tick(start)
    outbox = get_settings().resolved_outbox_dir
    link = link_in(text_part(outbox_messages(outbox)[0]), "/confirm/")
    with clock.frozen_at(start):
        client.post(link.removeprefix("https://nurture.test"))
    tick(start + timedelta(seconds=1))
    welcome = outbox_messages(outbox)[-1]
    target = welcome["List-Unsubscribe"].split(",")[0].strip("<> ")
    with clock.frozen_at(start + timedelta(seconds=1)):
        response = client.post(
            target.removeprefix("https://nurture.test"),
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert response.status_code == 200
    session.expire_all()
    assert session.scalars(select(Lead)).one().status == LeadStatus.UNSUBSCRIBED
    assert session.scalars(select(Enrollment)).one().status == EnrollmentStatus.EXITED
    # One goodbye note confirms it; no drip email follows.
    assert "sent: You're unsubscribed" in tick(start + timedelta(seconds=2))
    assert "0 due" in tick(start + timedelta(days=30))
    assert len(outbox_messages(outbox)) == 3


@pytest.mark.parametrize(
    "tamper",
    [
        "flip",
        "other-purpose",
        "garbage",
        "compact-flip",
        "compact-other-purpose",
        "compact-other-lead",
        "compact-extra-number",
    ],
)
def test_bad_confirmation_links_change_nothing(client, session, sequences_loaded, tamper) -> None:
    from nurture.core.tokens import make_compact_token, make_token

    client.post("/api/subscribe", json=SIGNUP)
    lead = session.scalars(select(Lead)).one()
    good = make_token("confirm", {"lead": lead.id, "v": lead.token_version})
    compact = make_compact_token("confirm", (lead.id, lead.token_version))
    numbers, _, mac = compact.rpartition("-")
    token = {
        "flip": good[:-2] + ("AA" if not good.endswith("AA") else "BB"),
        "other-purpose": make_token("unsubscribe", {"lead": lead.id}),
        "garbage": "not-a-token",
        "compact-flip": f"{numbers}-{mac[:-2]}{'AA' if not mac.endswith('AA') else 'BB'}",
        "compact-other-purpose": make_compact_token("unsubscribe", (lead.id, lead.token_version)),
        "compact-other-lead": f"{lead.id + 1}{compact[len(str(lead.id)) :]}",
        "compact-extra-number": make_compact_token("confirm", (lead.id, lead.token_version, 0)),
    }[tamper]
    for page in (client.get(f"/confirm/{token}"), client.post(f"/confirm/{token}")):
        assert page.status_code == 400
        assert "This link" in page.text
    session.expire_all()
    assert session.scalars(select(Lead)).one().status == LeadStatus.PENDING
    assert session.scalars(select(Enrollment)).all() == []


def test_expired_confirmation_link_changes_nothing(client, session, sequences_loaded) -> None:
    from nurture.core import clock
    from nurture.messages.links import confirm_url

    client.post("/api/subscribe", json=SIGNUP)
    lead = session.scalars(select(Lead)).one()
    long_ago = datetime.now(UTC) - timedelta(hours=get_settings().confirm_link_max_age_hours + 1)
    with clock.frozen_at(long_ago):
        link = confirm_url(lead)
    for page in (
        client.get(link.removeprefix("https://nurture.test")),
        client.post(link.removeprefix("https://nurture.test")),
    ):
        assert page.status_code == 400
        assert "expired" in page.text
    session.expire_all()
    assert session.scalars(select(Lead)).one().status == LeadStatus.PENDING


def test_same_path_through_sendgrid(client, session, sequences_loaded, sendgrid) -> None:
    from nurture.core import clock

    start = MONDAY_MORNING
    with clock.frozen_at(start):
        client.post("/api/subscribe", json=SIGNUP)
    tick(start)
    [confirmation] = sendgrid.state.accepted
    assert confirmation["from"]["email"] == get_settings().transactional_from_email
    # Transactional mail is never tracked; marketing mail follows the tracking settings.
    assert confirmation["tracking_settings"]["open_tracking"] == {"enable": False}
    assert confirmation["tracking_settings"]["click_tracking"]["enable"] is False
    text = confirmation["content"][0]["value"]
    link = link_in(text, "/confirm/")
    with clock.frozen_at(start):  # the welcome is due at once, whatever the requests took
        client.post(link.removeprefix("https://nurture.test"))
    tick(start + timedelta(seconds=1))
    welcome = sendgrid.state.emails()[-1]
    assert welcome["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert welcome["categories"] == ["marketing"]
    assert welcome["tracking_settings"]["open_tracking"] == {"enable": True}
    assert welcome["from"]["email"] == get_settings().marketing_from_email
    session.expire_all()
    sent = session.scalars(select(Message).where(Message.status == "sent")).all()
    assert len(sent) == 2
    assert {m.provider_message_id for m in sent}
    assert all(m.provider_message_id for m in sent)
    assert sorted(sendgrid.state.custom_ids()) == sorted(str(m.id) for m in sent)


def test_confirmation_links_of_the_earlier_signed_form_still_confirm(
    client, session, sequences_loaded
) -> None:
    from nurture.core.tokens import is_compact_token, make_token
    from nurture.messages.links import confirm_url

    client.post("/api/subscribe", json=SIGNUP)
    lead = session.scalars(select(Lead)).one()
    # What emails carry now: short enough to copy, and wrappable on a phone.
    token = confirm_url(lead).rpartition("/confirm/")[2]
    assert is_compact_token(token)
    assert len(token) <= 45
    earlier = make_token("confirm", {"lead": lead.id, "v": lead.token_version})
    assert client.get(f"/confirm/{earlier}").status_code == 200
    assert client.post(f"/confirm/{earlier}").status_code == 200
    session.expire_all()
    assert session.scalars(select(Lead)).one().status == LeadStatus.ACTIVE
