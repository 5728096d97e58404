"""Variant results on bookings, the chance each variant is best, and making the winner the step."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape

from sqlalchemy import select

from nurture.appointments.models import Appointment
from nurture.enrollments.bayes import compare
from nurture.enrollments.variant_results import chance, variant_tests
from nurture.outbox.models import DeliveryEvent, Message, MessageStatus, Stream
from nurture.rendering.markdown import markdown_template
from nurture.sequences import drafts, variants
from nurture.sequences import service as sequences
from nurture.sequences.files import parse_sequence
from nurture.sequences.models import Sequence, SequenceVersion, StepVariant, VersionState
from nurture.staff.models import AuditEntry
from tests.factories import make_lead
from tests.studio.conftest import Studio

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
B_MARKDOWN = "# Book this week\n\n[[button: Book | {{ booking_url }}]]\n"
FILE = """slug: ab
name: AB test
audience: chronic
window: {start_hour: 0, end_hour: 24}
steps:
  - key: welcome
    subject: Welcome to the clinic
    html: '<p>Hi {{ first_name }}</p>'
    text: Hi there
    variants:
      - key: a
        subject: Welcome to the clinic
      - key: b
        subject: Book this week
        markdown: |
          # Book this week

          [[button: Book | {{ booking_url }}]]
  - key: later
    delay_days: 3
    subject: A later note
    html: '<p>Later</p>'
"""


def _sequence(session) -> Sequence:  # type: ignore[no-untyped-def]
    """Publish the sequence: its first step tests a (as the step) against b."""
    sequences.publish_spec(session, spec=parse_sequence(FILE))
    session.commit()
    return session.scalar(select(Sequence).where(Sequence.slug == "ab"))


def _sent(session, sequence: Sequence, arm: str, n: int, booked: int, **extra) -> list[Message]:  # type: ignore[no-untyped-def]
    """Send `n` emails of arm `arm` ten days ago; the first `booked` leads book 2 days later."""
    step = sequences.live_version(session, sequence.id).steps[0]
    status = extra.get("status", MessageStatus.SENT)
    messages = []
    for i in range(n):
        lead = make_lead(session, email_address=f"{arm}-{status}-{i}@example.com")
        at = NOW - 10 * DAY
        message = Message(
            key=f"test:{lead.id}:{step.id}",
            stream=Stream.MARKETING,
            lead_id=lead.id,
            step_id=step.id,
            variant_key=arm,
            status=status,
            due_at=at,
            sent_at=at if status == MessageStatus.SENT else None,
        )
        session.add(message)
        if i < booked:
            session.add(_visit(lead.id, created=at + 2 * DAY))
        messages.append(message)
    session.flush()
    return messages


def _visit(lead_id: int, *, created: datetime) -> Appointment:
    return Appointment(
        lead_id=lead_id,
        starts_at=created + 7 * DAY,
        timezone="Europe/Berlin",
        created_at=created,
        updated_at=created,
    )


def _row(page: str, arm: str) -> list[str]:
    """The text of each cell in variant `arm`'s row, tags dropped."""
    match = re.search(rf'<tr data-variant="{arm}">(.*?)</tr>', page, re.S)
    assert match, arm
    cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", match.group(1), re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", c).split()) for c in cells]


def test_variants_are_judged_on_bookings_within_the_window(studio: Studio, session) -> None:
    sequence = _sequence(session)
    a = _sent(session, sequence, "a", 40, booked=4)
    b = _sent(session, sequence, "b", 40, booked=16)
    _sent(session, sequence, "a", 2, booked=0, status=MessageStatus.PENDING)
    # Not counted: a booking before the email, and one 9 days after it (outside 7 days).
    session.add(_visit(a[10].lead_id, created=NOW - 12 * DAY))
    session.add(_visit(a[11].lead_id, created=NOW - DAY))
    # Opens are shown, not used: arm a's are many, and it still loses.
    for i, message in enumerate(a[:30]):
        session.add(
            DeliveryEvent(
                provider_event_id=f"o{i}", message_id=message.id, event="open", occurred_at=NOW
            )
        )
    session.add(
        DeliveryEvent(provider_event_id="c1", message_id=b[0].id, event="click", occurred_at=NOW)
    )
    session.commit()

    (test,) = variant_tests(session, sequence, within_days=7)
    assert [(x.key, x.planned, x.sent, x.booked, x.opened) for x in test.arms] == [
        ("a", 42, 40, 4, 30),
        ("b", 40, 40, 16, 0),
    ]
    expected = compare([(4, 40), (16, 40)])
    assert [x.posterior for x in test.arms] == expected
    assert expected[1].p_best > 0.99
    assert test.leader is not None
    assert test.leader.key == "b"
    assert test.decided
    assert test.verdict == (
        "Variant b is ahead with a more than 99% chance of being best: you can make it the step."
    )
    assert [x.subject for x in test.arms] == ["Welcome to the clinic", "Book this week"]

    page = studio.get("/studio/results/ab?days=7").text
    assert _row(page, "a")[:6] == [
        "a Welcome to the clinic",
        "42",
        "40",
        "4",
        f"10.0% {100 * expected[0].low:.1f}–{100 * expected[0].high:.1f}%",
        chance(expected[0].p_best),
    ]
    assert _row(page, "b")[0] == "b leader Book this week"
    assert _row(page, "b")[5] == "more than 99%"
    assert _row(page, "a")[6] == "30 75.0%"
    assert "Variant b is ahead with a more than 99% chance" in page
    assert "Opens are shown but not used" in page
    assert page.count('action="/studio/results/ab/winner"') == 2
    # A wider window counts the booking 9 days after arm a's email.
    wider = variant_tests(session, sequence, within_days=14)[0]
    assert wider.arms[0].booked == 5


def test_a_small_or_close_test_says_to_wait(session) -> None:
    sequence = _sequence(session)
    (empty,) = variant_tests(session, sequence, within_days=7)
    assert empty.verdict == "Nothing has been sent in this test yet."
    assert [x.posterior.p_best for x in empty.arms] == [0.5, 0.5]
    _sent(session, sequence, "a", 10, booked=1)
    _sent(session, sequence, "b", 10, booked=4)
    session.commit()
    (test,) = variant_tests(session, sequence, within_days=7)
    assert not test.decided
    assert test.verdict.startswith("Variant b is ahead with a 9")
    assert test.verdict.endswith(
        "chance of being best; wait for more data before deciding (at least 30 sends of each "
        "variant)."
    )


def test_level_arms_have_no_leader(session) -> None:
    sequence = _sequence(session)
    _sent(session, sequence, "a", 12, booked=2)
    _sent(session, sequence, "b", 12, booked=2)
    session.commit()
    (test,) = variant_tests(session, sequence, within_days=7)
    assert test.leader is None
    assert test.verdict == "No variant is ahead so far; wait for more data before deciding."
    assert [x.chance for x in test.arms] == ["50%", "50%"]


def test_making_the_winner_the_step_writes_a_draft_only(studio: Studio, session) -> None:
    sequence = _sequence(session)
    _sent(session, sequence, "a", 3, booked=0)
    session.commit()
    response = studio.post("/studio/results/ab/winner", {"step": "welcome", "variant": "b"})
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/studio/sequences/ab/edit"
    page = studio.get("/studio/sequences/ab/edit").text
    assert "Variant b is now the step &#39;welcome&#39; in draft v2: review and publish." in page

    session.expire_all()
    draft = drafts.draft_of(session, sequence)
    assert draft is not None
    assert draft.number == 2
    step = draft.steps[0]
    assert (step.key, step.subject, step.body_markdown) == ("welcome", "Book this week", B_MARKDOWN)
    assert step.body_html == markdown_template(B_MARKDOWN)
    # The step's text part was written for its own body: b's body gets its own derived text.
    assert step.body_text is None
    assert step.variants == []
    assert [s.key for s in draft.steps] == ["welcome", "later"]
    # The live version still runs the test until the draft is published.
    live = sequences.live_version(session, sequence.id)
    assert live.number == 1
    assert live.steps[0].subject == "Welcome to the clinic"
    assert [v.key for v in live.steps[0].variants] == ["a", "b"]
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "step.winner"))
    assert entry is not None
    assert entry.target == "ab v2 welcome b"
    assert [v["key"] for v in entry.before["variants"]] == ["a", "b"]
    assert entry.after["subject"] == "Book this week"

    sequences.publish(session, version=draft)
    session.commit()
    assert studio.get("/studio/results/ab").text.count("/winner") == 0


def test_an_existing_draft_keeps_its_edits_to_the_winning_variant(studio: Studio, session) -> None:
    sequence = _sequence(session)
    draft = drafts.ensure_draft(session, sequence)
    step = draft.steps[0]
    step.subject = "Edited base"
    variants.replace(
        step,
        [
            StepVariant(key="a", position=1, preheader="A preheader"),
            StepVariant(key="b", position=2, body_html="<p>Fixed typo</p>"),
        ],
    )
    session.commit()
    response = studio.post("/studio/results/ab/winner", {"step": "welcome", "variant": "a"})
    assert response.status_code == 303, response.text
    session.expire_all()
    step = drafts.draft_of(session, sequence).steps[0]
    assert (step.subject, step.preheader, step.variants) == ("Edited base", "A preheader", [])


def test_a_draft_that_changed_the_test_is_refused_with_words(studio: Studio, session) -> None:
    sequence = _sequence(session)
    draft = drafts.ensure_draft(session, sequence)
    variants.replace(draft.steps[0], [StepVariant(key="c", position=1, subject="C")])
    session.commit()
    response = studio.post("/studio/results/ab/winner", {"step": "welcome", "variant": "b"})
    assert response.status_code == 409
    assert "has no variant 'b' (its variants were changed)" in unescape(response.text)
    draft.steps[0].variants.clear()
    session.commit()
    response = studio.post("/studio/results/ab/winner", {"step": "welcome", "variant": "b"})
    assert response.status_code == 409
    assert "it has no variants any more" in unescape(response.text)
    drafts.remove_step(session, draft, draft.steps[0])
    session.commit()
    response = studio.post("/studio/results/ab/winner", {"step": "welcome", "variant": "b"})
    assert response.status_code == 409
    assert "Draft v2 no longer has step 'welcome'; nothing was changed." in unescape(response.text)
    for data, words in [
        ({"step": "welcome", "variant": "z"}, "has no variant 'z' in its test"),
        ({"step": "later", "variant": "a"}, "no variant test on step 'later'"),
    ]:
        response = studio.post("/studio/results/ab/winner", data)
        assert response.status_code == 409
        assert words in unescape(response.text)
    assert studio.post("/studio/results/nope/winner", {"step": "x"}).status_code == 404
    session.expire_all()
    assert session.scalar(select(AuditEntry).where(AuditEntry.action == "step.winner")) is None
    assert [
        v.state for v in session.scalars(select(SequenceVersion).order_by(SequenceVersion.id))
    ] == [
        VersionState.PUBLISHED,
        VersionState.DRAFT,
    ]


def test_the_winner_action_needs_the_form_token(studio: Studio, session) -> None:
    _sequence(session)
    response = studio.client.post(
        "/studio/results/ab/winner",
        data={"step": "welcome", "variant": "b"},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert session.scalar(select(AuditEntry).where(AuditEntry.action == "step.winner")) is None
