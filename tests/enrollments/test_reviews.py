"""Review requests: one neutral ask to every patient after a visit, at most once per cool-down."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from nurture.core.config import get_settings
from nurture.outbox.models import Message, MessageStatus
from nurture.sequences.models import Step
from tests.enrollments.test_journeys import DAY, NOW, _book, _outcome, _publish, _sequence, _tick
from tests.factories import make_lead, outbox_messages, text_part

REVIEW_URL = "https://reviews.example.com/example-clinic"
REVIEW_STEP = ("review", "delay_days: 1\n    condition: review_due")


def _visit(session, at: datetime) -> datetime:  # type: ignore[no-untyped-def]
    """Book a visit at `at` and mark it attended; return when it was marked."""
    marked = at + 3 * DAY
    _outcome(session, _book(session, at=at), "attended", marked)
    return marked


def _review_rows(session) -> list[Message]:  # type: ignore[no-untyped-def]
    session.expire_all()
    return list(
        session.scalars(
            select(Message)
            .join(Step, Step.id == Message.step_id)
            .where(Step.condition == "review_due")
            .order_by(Message.id)
        )
    )


@pytest.fixture
def after_visit(session, settings) -> None:  # type: ignore[no-untyped-def]
    """A patient with a review page set, and a sequence that asks after every visit."""
    settings(review_url=REVIEW_URL)
    head = "trigger: attended\ngoal: []"
    _publish(session, _sequence("after-visit", head, [REVIEW_STEP]))
    make_lead(session)
    session.commit()


@pytest.mark.usefixtures("after_visit")
def test_asked_after_the_first_visit_then_not_again_until_the_cool_down_ends(session) -> None:
    first = _visit(session, NOW)
    assert _tick(first + 2 * DAY) == ["review"]

    second = _visit(session, first + 30 * DAY)  # a follow-up a month later: no second ask
    assert _tick(second + 2 * DAY) == []
    skipped = _review_rows(session)[-1]
    assert skipped.status == MessageStatus.SKIPPED
    assert "at most one per 180 days" in (skipped.last_error or "")

    third = _visit(session, first + 200 * DAY)  # past the 180 days since the first ask
    assert _tick(third + 2 * DAY) == ["review"]
    assert [m.status for m in _review_rows(session)] == [
        MessageStatus.SENT,
        MessageStatus.SKIPPED,
        MessageStatus.SENT,
    ]


@pytest.mark.usefixtures("after_visit")
def test_review_after_visits_waits_for_the_second_visit(session, settings) -> None:
    settings(review_url=REVIEW_URL, review_after_visits="2")
    first = _visit(session, NOW)
    assert _tick(first + 2 * DAY) == []
    [early] = _review_rows(session)
    assert early.status == MessageStatus.SKIPPED
    assert "1 attended visit(s); requests go after 2" in (early.last_error or "")

    second = _visit(session, first + 7 * DAY)
    assert _tick(second + 2 * DAY) == ["review"]


@pytest.mark.usefixtures("after_visit")
def test_no_review_page_skips_the_request_with_the_reason(session, settings) -> None:
    settings(review_url="")
    first = _visit(session, NOW)
    assert _tick(first + 2 * DAY) == []
    [row] = _review_rows(session)
    assert row.status == MessageStatus.SKIPPED
    assert "no review page is set for the location visited" in (row.last_error or "")


@pytest.mark.usefixtures("sequences_loaded")
def test_the_visited_sites_review_page_is_enough_without_the_clinics(session, settings) -> None:
    from tests.locations.conftest import add_site

    settings(review_url="")  # the clinic has none; the site visited has its own
    add_site("north")
    make_lead(session)
    session.commit()
    visit = _book(session, at=NOW)
    visit.location_key = "north"
    session.commit()
    marked = NOW + 3 * DAY
    _outcome(session, visit, "attended", marked)
    sent: list[str] = []
    for half_days in range(1, 30):
        sent += _tick(marked + half_days * DAY / 2)
    assert sent[-1] == "review"
    emails = outbox_messages(get_settings().resolved_outbox_dir)
    assert [m for m in emails if "https://reviews.example.com/north" in text_part(m)]


@pytest.mark.usefixtures("after_visit")
def test_two_sequences_asking_in_the_same_batch_send_one_request(session) -> None:
    head = "trigger: attended\ngoal: []"
    _publish(session, _sequence("thanks", head, [("review-too", REVIEW_STEP[1])]))
    first = _visit(session, NOW)
    assert len(_tick(first + 2 * DAY)) == 1
    assert sorted(m.status for m in _review_rows(session)) == sorted(
        [MessageStatus.SENT, MessageStatus.SKIPPED]
    )


def test_the_review_url_must_be_https(settings) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="NURTURE_REVIEW_URL must be an https://"):
        settings(review_url="http://reviews.example.com/clinic")


@pytest.mark.usefixtures("sequences_loaded")
def test_the_shipped_after_visit_sequence_ends_with_the_review_request(session, settings) -> None:
    settings(review_url=REVIEW_URL)
    make_lead(session)
    session.commit()
    marked = _visit(session, NOW)
    sent: list[str] = []
    for half_days in range(1, 30):
        sent += _tick(marked + half_days * DAY / 2)
    assert sent == ["after-your-visit", "between-visits", "review"]
    emails = outbox_messages(get_settings().resolved_outbox_dir)
    [email] = [m for m in emails if REVIEW_URL in text_part(m)]
    assert email["Subject"] == "Would you share a few words about us?"
    body = text_part(email)
    assert "/unsubscribe/" in body  # marketing: it carries the one-click unsubscribe
