"""`nurture visits import`: the practice software's export in, idempotent by external_id, all
rows or none, history stored without a word to the patient, upcoming visits planned as the API
plans them."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from nurture.appointments import imports, records, service
from nurture.appointments.models import Appointment
from nurture.appointments.schemas import AppointmentIn
from nurture.cli import main
from nurture.core import clock
from nurture.delivery.models import Message, MessageStatus
from nurture.enrollments import service as enrollments
from nurture.enrollments.models import Enrollment
from nurture.leads.models import Lead
from nurture.leads.service import find_or_create
from tests.factories import make_lead

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 3, 23, 9, 0, tzinfo=UTC)
HEADER = "external_id,email,first_name,starts_at,timezone,duration_minutes,location,status\n"
FUTURE = "2026-03-27T10:00:00+01:00"
LATER = "2026-03-30T15:30:00+02:00"
PAST = "2026-02-10T09:00:00+01:00"
EARLIER = "2025-11-04T16:00:00+01:00"


def _row(
    external_id: str = "v1",
    email: str = "pat@example.com",
    starts_at: str = FUTURE,
    status: str = "booked",
    first_name: str = "Pat",
    timezone: str = "Europe/Berlin",
    minutes: str = "45",
    location: str = "Room 2",
) -> str:
    return (
        f"{external_id},{email},{first_name},{starts_at},{timezone},{minutes},{location},{status}\n"
    )


def _run(path: Path, at: datetime = NOW) -> Result:
    with clock.frozen_at(at):
        return CliRunner().invoke(main, ["visits", "import", str(path)])


def _write(tmp_path: Path, *rows: str, name: str = "visits.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    return path


def _count(session, model, *where) -> int:  # type: ignore[no-untyped-def]
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(model).where(*where)))


def _visit(session, external_id: str) -> Appointment:  # type: ignore[no-untyped-def]
    session.expire_all()
    return session.scalars(select(Appointment).where(Appointment.external_id == external_id)).one()


def _plan(session, visit: Appointment) -> list[tuple[str, str, timedelta]]:  # type: ignore[no-untyped-def]
    """The visit's emails as (name without revision, status, how long before the visit)."""
    return sorted(
        ((m.reminder or "").split("@")[0], m.status, visit.starts_at - m.due_at)
        for m in service.reminders_of(session, visit)
    )


def test_a_future_booked_visit_plans_what_the_api_plans(tmp_path: Path, session) -> None:
    result = _run(_write(tmp_path, _row()))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        "1 created, 0 updated, 0 unchanged, 0 cancelled; 3 reminders and 1 notices planned"
    )
    imported = _visit(session, "v1")
    with clock.frozen_at(NOW):
        booked = service.book(
            session,
            data=AppointmentIn(
                email="api@example.com",
                starts_at=datetime.fromisoformat(FUTURE),
                timezone="Europe/Berlin",
                duration_minutes=45,
                external_id="api-1",
            ),
            now=NOW,
        ).appointment
    assert _plan(session, imported) == _plan(session, booked)
    assert {name for name, _, _ in _plan(session, imported)} == {
        "confirmation",
        "48h",
        "2h",
        "nudge",
    }
    lead = session.get(Lead, imported.lead_id)
    # A patient who never signed up is no marketing lead.
    assert (lead.email, lead.first_name, lead.status) == ("pat@example.com", "Pat", "no_consent")
    assert _count(session, Enrollment) == 0


def test_a_future_visit_ends_the_drip_of_a_signed_up_lead(
    tmp_path: Path, session, sequences_loaded
) -> None:
    lead = make_lead(session, email_address="pat@example.com")
    enrollments.enroll(session, lead=lead, now=NOW)
    session.commit()
    assert _run(_write(tmp_path, _row())).exit_code == 0
    session.expire_all()
    assert session.scalars(select(Enrollment.exit_reason)).all() == ["booked"]
    assert session.get(Lead, lead.id).status == "active"


def test_past_visits_plan_nothing_and_attended_ones_count_for_recall(
    tmp_path: Path, session
) -> None:
    path = _write(
        tmp_path,
        _row("a1", starts_at=EARLIER, status="attended"),
        _row("a2", starts_at=PAST, status="attended"),
        _row("n1", starts_at="2026-03-01T09:00:00+01:00", status="no_show"),
        _row("b1", email="kim@example.com", starts_at=PAST, status="booked"),
        _row("c1", email="kim@example.com", starts_at=LATER, status="cancelled"),
    )
    result = _run(path)
    assert result.exit_code == 0, result.output
    assert "5 created, 0 updated, 0 unchanged, 0 cancelled; 0 reminders and 0 notices" in (
        result.stdout
    )
    assert _count(session, Message) == 0
    assert _count(session, Enrollment) == 0
    statuses = dict(session.execute(select(Appointment.external_id, Appointment.status)).all())
    assert statuses == {
        "a1": "attended",
        "a2": "attended",
        "n1": "no_show",
        "b1": "booked",
        "c1": "cancelled",
    }
    pat = session.scalars(select(Lead).where(Lead.email == "pat@example.com")).one()
    assert records.last_attended_at(session, lead_id=pat.id) == datetime(
        2026, 2, 10, 8, 0, tzinfo=UTC
    )
    kim = session.scalars(select(Lead).where(Lead.email == "kim@example.com")).one()
    assert records.last_attended_at(session, lead_id=kim.id) is None


def test_importing_the_same_file_again_changes_nothing_and_sends_nothing(
    tmp_path: Path, session
) -> None:
    path = _write(
        tmp_path,
        _row("f1"),
        _row("f2", email="kim@example.com", starts_at=LATER),
        _row("a1", starts_at=PAST, status="attended"),
        _row("n1", email="kim@example.com", starts_at=EARLIER, status="no_show"),
        _row("c1", starts_at=LATER, status="cancelled"),
        _row("b1", starts_at=PAST),
    )
    assert _run(path).exit_code == 0
    before = {
        a.external_id: (a.revision, a.updated_at, a.status)
        for a in session.scalars(select(Appointment))
    }
    messages = _count(session, Message)
    leads = _count(session, Lead)
    # Also after the clock moved on past the first visit: a row that did not change is a no-op.
    for at in (NOW, NOW + timedelta(days=5)):
        again = _run(path, at=at)
        assert again.exit_code == 0, again.output
        assert again.stdout.strip() == (
            "0 created, 0 updated, 6 unchanged, 0 cancelled; 0 reminders and 0 notices planned"
        )
        assert _count(session, Message) == messages
        assert _count(session, Lead) == leads
        after = {
            a.external_id: (a.revision, a.updated_at, a.status)
            for a in session.scalars(select(Appointment))
        }
        assert after == before


def test_a_new_time_for_a_future_visit_replans_like_a_reschedule(tmp_path: Path, session) -> None:
    assert _run(_write(tmp_path, _row())).exit_code == 0
    moved = _run(_write(tmp_path, _row(starts_at=LATER)))
    assert moved.exit_code == 0, moved.output
    assert "0 created, 1 updated, 0 unchanged, 0 cancelled; 3 reminders and 1 notices" in (
        moved.stdout
    )
    visit = _visit(session, "v1")
    assert visit.revision == 1
    assert visit.starts_at == datetime.fromisoformat(LATER)
    rows = service.reminders_of(session, visit)
    old = {m.reminder: m.status for m in rows if m.reminder and m.reminder.endswith("@r0")}
    assert old == {
        "confirmation@r0": MessageStatus.CANCELLED,  # the notice of the move replaces it
        "48h@r0": MessageStatus.CANCELLED,
        "2h@r0": MessageStatus.CANCELLED,
        "nudge@r0": MessageStatus.CANCELLED,
    }
    new = {m.reminder: m.due_at for m in rows if m.reminder and m.reminder.endswith("@r1")}
    assert new["notice@r1"] == NOW
    assert new["48h@r1"] == visit.starts_at - timedelta(hours=48)
    assert new["2h@r1"] == visit.starts_at - timedelta(hours=2)


def test_cancelled_cancels_the_reminders_of_an_imported_visit(tmp_path: Path, session) -> None:
    assert _run(_write(tmp_path, _row(), _row("v2", starts_at=PAST))).exit_code == 0
    result = _run(
        _write(tmp_path, _row(status="cancelled"), _row("v2", starts_at=PAST, status="cancelled"))
    )
    assert result.exit_code == 0, result.output
    assert "0 created, 0 updated, 0 unchanged, 2 cancelled; 0 reminders and 1 notices" in (
        result.stdout
    )
    visit = _visit(session, "v1")
    assert visit.status == "cancelled"
    reminders = {
        m.reminder: m.status
        for m in service.reminders_of(session, visit)
        if m.template == "appointment_reminder"
    }
    assert reminders == {"48h@r0": MessageStatus.CANCELLED, "2h@r0": MessageStatus.CANCELLED}
    # The patient was told about the upcoming visit, so they are told it is off; the past
    # visit's patient is told nothing.
    assert [m.template for m in service.reminders_of(session, visit) if m.status == "pending"] == [
        "appointment_cancellation"
    ]
    assert _count(session, Message, Message.appointment_id == _visit(session, "v2").id) == 0


def test_an_outcome_ends_the_reminders_of_an_imported_visit(tmp_path: Path, session) -> None:
    assert _run(_write(tmp_path, _row())).exit_code == 0
    result = _run(_write(tmp_path, _row(status="attended")), at=NOW + timedelta(days=5))
    assert result.exit_code == 0, result.output
    visit = _visit(session, "v1")
    assert visit.status == "attended"
    assert (
        _count(
            session,
            Message,
            Message.appointment_id == visit.id,
            Message.status == MessageStatus.PENDING,
        )
        == 0
    )
    assert records.last_attended_at(session, lead_id=visit.lead_id) == visit.starts_at


def test_bad_lines_are_all_reported_and_nothing_is_written(tmp_path: Path, session) -> None:
    path = _write(
        tmp_path,
        _row("ok1"),
        _row("bad1", status="done"),
        _row("bad2", starts_at="2026-03-27T10:00:00"),
        _row("bad3", timezone="Mars/Base"),
        _row("bad4", email="not-an-address"),
        _row("ok2", starts_at=PAST, status="attended"),
        _row("", email="x@", starts_at="soon", status="", minutes="0"),
        _row("ok1", first_name="=?utf-8?q?x?="),
    )
    result = _run(path)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.stdout == ""
    expected = [
        "line 3: status: 'done' is not one of booked, cancelled, attended, no_show",
        "line 4: starts_at: '2026-03-27T10:00:00' has no UTC offset",
        "line 5: timezone: unknown time zone 'Mars/Base'",
        "line 6: email: not a valid email address",
        "line 8: external_id: is empty",
        "line 8: email: not a valid email address",
        "line 8: starts_at: 'soon' is not an ISO-8601 time",
        "line 8: duration_minutes: must be between 5 and 480",
        "line 8: status: '' is not one of",
        "line 9: first_name: must not contain '=?'",
    ]
    for problem in expected:
        assert problem in result.stderr
    assert "line 2" not in result.stderr
    assert "line 7" not in result.stderr
    assert "nothing imported" in result.stderr
    for model in (Appointment, Lead, Message):
        assert _count(session, model) == 0


def test_a_repeated_external_id_is_a_line_error(tmp_path: Path, session) -> None:
    result = _run(_write(tmp_path, _row("v1"), _row("v1", starts_at=LATER)))
    assert result.exit_code == 1
    assert "line 3: external_id 'v1' already appears on line 2" in result.stderr
    assert _count(session, Appointment) == 0


def test_a_problem_found_while_saving_writes_nothing(tmp_path: Path, session) -> None:
    assert _run(_write(tmp_path, _row("v1", starts_at=PAST, status="attended"))).exit_code == 0
    # The clinic's record re-books a visit already attended: the API refuses that too.
    result = _run(_write(tmp_path, _row("v2"), _row("v1", starts_at=LATER)))
    assert result.exit_code == 1
    assert "line 3: the appointment is attended; it cannot be moved" in result.stderr
    assert _count(session, Appointment) == 1
    assert _count(session, Message) == 0


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (
            HEADER.encode() + _row().encode() + _row("v2", location="Caf\xe9").encode("latin-1"),
            "line 3: byte 0xe9 at position",
        ),
        (HEADER.encode() + _row(location="Room\x002").encode(), "line 2: location: must not"),
        (
            HEADER.encode() + _row().encode() + f'v2,a@example.com,"{"x" * 200_000}"\n'.encode(),
            "line 3: a field is longer than 131072 characters",
        ),
        (HEADER.encode() + b"v2,a@example.com,Pat\n", "line 2: starts_at: '' is not an ISO"),
        (HEADER.encode() + _row(status="booked,extra").encode(), "line 2: 1 more cell(s)"),
        ((HEADER + _row()).encode("utf-16"), "line 1: the file is UTF-16 text"),
        (b"email,first_name\n", "line 1: missing column(s): external_id, starts_at, timezone"),
    ],
    ids=["latin-1", "nul", "field-limit", "short-row", "long-row", "utf-16", "header"],
)
def test_unreadable_files_are_line_errors_never_tracebacks(
    tmp_path: Path, session, content: bytes, problem: str
) -> None:
    path = tmp_path / "visits.csv"
    path.write_bytes(content)
    result = _run(path)
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert problem in result.stderr
    assert _count(session, Appointment) == 0


def test_a_utf8_file_with_a_bom_and_crlf_line_ends_is_read(tmp_path: Path, session) -> None:
    path = tmp_path / "visits.csv"
    path.write_bytes(
        b"\xef\xbb\xbf" + (HEADER + _row(first_name="Zoë")).replace("\n", "\r\n").encode()
    )
    result = _run(path)
    assert result.exit_code == 0, result.output
    session.expire_all()
    assert session.scalars(select(Lead.first_name)).all() == ["Zoë"]


def test_large_files_show_progress_on_stderr(
    tmp_path: Path, session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imports, "PROGRESS_EVERY", 2)
    rows = [_row(f"a{i}", starts_at=PAST, status="attended") for i in range(5)]
    result = _run(_write(tmp_path, *rows))
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        "checked 2 rows",
        "checked 4 rows",
        "saved 2 rows",
        "saved 4 rows",
    ]
    assert result.stdout.startswith("5 created")


def test_the_service_rolls_back_what_it_began_when_a_row_fails(session) -> None:
    good = (HEADER + _row("v1", starts_at=PAST, status="attended")).encode()
    with clock.frozen_at(NOW):
        imports.import_file(session, raw=io.BytesIO(good), now=NOW)
        session.commit()
        bad = (HEADER + _row("v2", email="new@example.com") + _row("v1", starts_at=LATER)).encode()
        with pytest.raises(imports.VisitImportError) as caught:
            imports.import_file(session, raw=io.BytesIO(bad), now=NOW)
    assert caught.value.problems == ["line 3: the appointment is attended; it cannot be moved"]
    assert _count(session, Lead, Lead.email == "new@example.com") == 0


def test_a_lead_found_or_created_first_in_a_transaction_is_rolled_back_with_it(session) -> None:
    find_or_create(
        session,
        email="first@example.com",
        first_name="",
        numbness_type="unsure",
        timezone=None,
        status="no_consent",
        now=NOW,
    )
    session.rollback()
    assert _count(session, Lead) == 0


def test_a_visit_finds_or_creates_its_lead_the_same_way_from_the_api_and_an_import(
    tmp_path: Path, session
) -> None:
    nameless = make_lead(session, email_address="known@example.com", first_name="")
    session.commit()
    lead = service.lead_for_visit(
        session, email="new@example.com", first_name="Ann", timezone="Europe/Berlin", now=NOW
    )
    # A visit is no marketing consent: a new lead gets reminders, never the drip.
    assert (lead.status, lead.numbness_type, lead.first_name) == ("no_consent", "unsure", "Ann")
    again = service.lead_for_visit(
        session, email="known@example.com", first_name="Kim", timezone=None, now=NOW
    )
    assert again.id == nameless.id
    assert again.first_name == "Kim"  # a name the lead lacked is filled in, never replaced
    named = service.lead_for_visit(
        session, email="known@example.com", first_name="Other", timezone=None, now=NOW
    )
    assert named.first_name == "Kim"
    session.rollback()

    result = _run(_write(tmp_path, _row("v1", email="known@example.com", starts_at=PAST)))
    assert result.exit_code == 0, result.output
    session.expire_all()
    assert session.get(Lead, nameless.id).first_name == "Pat"
