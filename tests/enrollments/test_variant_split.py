"""A step's A/B test: one arm per enrollment, chosen at planning, evenly split, sent once.

The guarantee tested (nurture.enrollments.variants): after every planning commit, the arms of a
step differ by at most one planned email, whatever the batch size and however many planners
run at once; an enrollment is planned once, with one arm, however often it is planned.
"""

from __future__ import annotations

import io
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session, selectinload

from nurture.core import clock
from nurture.core.config import get_settings
from nurture.core.db import session_factory, session_scope
from nurture.delivery import service
from nurture.delivery.channels.registry import get_backend
from nurture.enrollments import service as enrollments
from nurture.enrollments import variants
from nurture.enrollments.models import Enrollment
from nurture.leads import imports
from nurture.leads.models import Lead
from nurture.outbox.models import Message
from nurture.sequences import service as sequences
from nurture.sequences.files import SequenceSpec
from nurture.sequences.models import SequenceVersion
from tests.factories import make_lead, outbox_messages

T0 = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)  # Monday, 12:00 in Berlin
ARMS = ("a", "b", "c", "d")
BOUND = 1  # max - min planned emails per arm, after every commit


def _spec(arms: int, *, tested: str = "test", slug: str = "split") -> SequenceSpec:
    test_arms = [{"key": k, "subject": f"Subject {k.upper()}"} for k in ARMS[:arms]]
    steps: list[dict[str, Any]] = [
        {"key": "intro", "subject": "Intro", "html": "<p>Hello</p>"},
        {"key": "test", "delay_days": 1, "subject": "Own subject", "html": "<p>Test</p>"},
    ]
    for step in steps:
        if step["key"] == tested and arms:
            step["variants"] = test_arms
    return SequenceSpec.model_validate(
        {
            "slug": slug,
            "name": slug,
            "audience": "chronic",
            "window": {"start_hour": 0, "end_hour": 24},
            "steps": steps,
        }
    )


def _published(session: Session, spec: SequenceSpec) -> SequenceVersion:
    sequences.publish_spec(session, spec=spec)
    session.commit()
    version = session.scalar(select(SequenceVersion).order_by(SequenceVersion.id.desc()).limit(1))
    assert version is not None
    return version


def _bulk_enrollments(session: Session, versions: list[SequenceVersion], n: int) -> list[int]:
    """Insert n leads, each one step into a version (intro done, taking turns), by core inserts."""
    session.execute(
        insert(Lead),
        [
            {
                "email": f"p{i}@example.com",
                "first_name": "Sam",
                "numbness_type": "chronic",
                "timezone": "Europe/Berlin",
                "status": "active",
                "token_version": 0,
                "created_at": T0,
                "updated_at": T0,
            }
            for i in range(n)
        ],
    )
    lead_ids = list(session.scalars(select(Lead.id).order_by(Lead.id)))
    session.execute(
        insert(Enrollment),
        [
            {
                "lead_id": lead_id,
                "sequence_id": versions[i % len(versions)].sequence_id,
                "version_id": versions[i % len(versions)].id,
                "status": "active",
                "last_position": 1,
                "enrolled_at": T0,
                "skip_keys": [],
            }
            for i, lead_id in enumerate(lead_ids)
        ],
    )
    session.commit()
    return list(session.scalars(select(Enrollment.id).order_by(Enrollment.id)))


def _plan_next(ids: list[int]) -> None:
    """Plan the step after intro for these enrollments in one transaction, as the tick does."""
    with session_scope() as session:
        batch = session.scalars(
            select(Enrollment)
            .where(Enrollment.id.in_(ids))
            .options(selectinload(Enrollment.lead))
            .order_by(Enrollment.id)
        ).all()
        _plan(session, list(batch))


def _plan(session: Session, batch: list[Enrollment]) -> None:
    """Advance each enrollment past intro and plan what follows in one insert (the tick's way)."""
    rows: list[dict[str, Any]] = []
    for enrollment in batch:
        intro = enrollment.version.steps[0]
        enrollments.advance(session, enrollment=enrollment, step=intro, at=T0, batch=rows)
    variants.plan_many(session, rows)


@contextmanager
def _planner() -> Iterator[Session]:
    """One session for many planning transactions, keeping what it loaded between commits."""
    planner = session_factory()()
    planner.expire_on_commit = False
    try:
        yield planner
    finally:
        planner.close()  # also when an assertion fails: its locks must not outlive the test


def _loaded(session: Session, ids: list[int]) -> dict[int, Enrollment]:
    found = session.scalars(
        select(Enrollment).where(Enrollment.id.in_(ids)).options(selectinload(Enrollment.lead))
    )
    return {e.id: e for e in found}


def _split(session: Session, step_id: int) -> Counter[str | None]:
    rows = session.execute(
        select(Message.variant_key, func.count())
        .where(Message.step_id == step_id)
        .group_by(Message.variant_key)
    )
    return Counter({key: int(n) for key, n in rows})


def _batches(ids: list[int], sizes: list[int]) -> Iterator[list[int]]:
    start, i = 0, 0
    while start < len(ids):
        size = sizes[i % len(sizes)]
        yield ids[start : start + size]
        start, i = start + size, i + 1


def _steps(session: Session, version: SequenceVersion) -> tuple[int, int]:
    intro, test = version.steps
    return intro.id, test.id


# Each size changes all along: single enrollments (the small-batch skew of Mautic #14774),
# small odd batches and large ones, in one run of 10,000 planned enrollments per test.
SIZES = [1, 7, 500, 1, 2, 64, 1, 3, 333, 1, 250, 11]


def test_ten_thousand_enrollments_split_evenly_whatever_the_batch_size(session) -> None:
    """Three tests at once (2, 3 and 4 arms), their people planned in the same mixed batches."""
    n = 10_000
    versions = [_published(session, _spec(arms, slug=f"split-{arms}")) for arms in (2, 3, 4)]
    tested = {v.steps[1].id: ARMS[: len(v.steps[1].variants)] for v in versions}
    ids = _bulk_enrollments(session, versions, n)
    worst = dict.fromkeys(tested, 0)
    with _planner() as planner:
        loaded = _loaded(planner, ids)
        for chunk in _batches(ids, SIZES):
            _plan(planner, [loaded[i] for i in chunk])
            planner.commit()
            for step_id, arms in tested.items():
                counts = _split(planner, step_id)
                gap = max(counts.values(), default=0) - min(counts.get(k, 0) for k in arms)
                worst[step_id] = max(worst[step_id], gap)
    planned = 0
    for step_id, arms in tested.items():
        counts = _split(session, step_id)
        planned += sum(counts.values())
        seen = f"{len(arms)} arms: {dict(sorted(counts.items()))}, widest gap {worst[step_id]}"
        assert set(counts) == set(arms), seen
        assert worst[step_id] <= BOUND, seen  # after every one of the commits, not only at the end
        assert max(counts.values()) - min(counts.values()) <= BOUND, seen
    assert planned == n
    # Exactly one email per enrollment, each with exactly one of its step's arms.
    per_enrollment = session.execute(
        select(
            Message.enrollment_id, Message.step_id, func.count(), func.min(Message.variant_key)
        ).group_by(Message.enrollment_id, Message.step_id)
    ).all()
    assert len(per_enrollment) == n
    assert all(count == 1 and key in tested[step] for _, step, count, key in per_enrollment)


def test_one_at_a_time_each_block_of_arms_comes_in_a_random_order(session) -> None:
    arms = 3
    version = _published(session, _spec(arms))
    intro_id, test_id = _steps(session, version)
    ids = _bulk_enrollments(session, [version], 300)
    with _planner() as planner:
        loaded = _loaded(planner, ids)
        for i in ids:
            _plan(planner, [loaded[i]])
            planner.commit()
    order = list(session.scalars(select(Message.variant_key).order_by(Message.enrollment_id)))
    blocks = [tuple(order[i : i + arms]) for i in range(0, len(order), arms)]
    # Even after every single plan: each block of three people gets the three arms...
    assert all(sorted(b) == list(ARMS[:arms]) for b in blocks)
    # ...in an order drawn at random, not a rotation: all six orders turn up in 100 blocks.
    assert len(set(blocks)) == 6
    assert _split(session, test_id) == Counter(a=100, b=100, c=100)


def test_planning_twice_keeps_one_email_and_its_arm(session) -> None:
    version = _published(session, _spec(3))
    intro_id, test_id = _steps(session, version)
    ids = _bulk_enrollments(session, [version], 30)
    _plan_next(ids)
    before = dict(session.execute(select(Message.enrollment_id, Message.variant_key)).all())
    _plan_next(ids)
    _plan_next(ids[:7] + ids[:7])
    session.expire_all()
    after = dict(session.execute(select(Message.enrollment_id, Message.variant_key)).all())
    assert after == before
    assert _split(session, test_id) == Counter(a=10, b=10, c=10)


def test_enrolling_plans_a_first_step_with_its_arm(session) -> None:
    version = _published(session, _spec(3, tested="intro"))
    intro_id, _ = _steps(session, version)
    leads = [make_lead(session, email_address=f"l{i}@example.com") for i in range(31)]
    session.commit()
    for lead in leads:
        enrollments.enroll(session, lead=lead, now=T0)
        session.commit()
    for lead in leads[:5]:  # enrolling again (already in it) plans nothing new
        enrollments.enroll(session, lead=lead, now=T0)
    session.commit()
    counts = _split(session, intro_id)
    assert sum(counts.values()) == 31
    assert sorted(counts.values()) == [10, 10, 11]
    assert session.scalar(select(func.count()).where(Message.variant_key.is_(None))) == 0


def test_a_lead_import_plans_first_steps_with_their_arms(session) -> None:
    version = _published(session, _spec(3, tested="intro"))
    intro_id, _ = _steps(session, version)
    lines = [f"i{i}@example.com,Sam,chronic,,2026-05-01T10:00:00+00:00,old-form" for i in range(31)]
    header = "email,first_name,numbness_type,timezone,consent_at,consent_source"
    report = imports.import_file(session, fh=io.StringIO("\n".join([header, *lines])), now=T0)
    session.commit()
    assert report.enrolled == 31
    assert sorted(_split(session, intro_id).values()) == [10, 10, 11]


def test_steps_without_variants_are_planned_without_an_arm(session) -> None:
    version = _published(session, _spec(0))
    intro_id, test_id = _steps(session, version)
    ids = _bulk_enrollments(session, [version], 5)
    _plan_next(ids)
    assert _split(session, test_id) == Counter({None: 5})


def _send_all(at: datetime) -> list[str]:
    sent: list[str] = []
    with clock.frozen_at(at):
        service.tick(
            dispatch=lambda ids: sent.extend(
                o.subject or ""
                for o in service.deliver_batch(ids, backend=get_backend())
                if o.status == "sent"
            )
        )
    return sent


def test_each_person_gets_the_subject_of_their_arm(session) -> None:
    version = _published(session, _spec(2, tested="intro"))
    leads = [make_lead(session, email_address=f"s{i}@example.com") for i in range(4)]
    for lead in leads:
        enrollments.enroll(session, lead=lead, now=T0)
    session.commit()
    arms = dict(session.execute(select(Message.lead_id, Message.variant_key)).all())
    sent = _send_all(T0)
    assert sorted(sent) == ["Subject A", "Subject A", "Subject B", "Subject B"]
    emails = outbox_messages(get_settings().resolved_outbox_dir)
    by_address = {m["To"]: m["Subject"] for m in emails}
    for lead in leads:
        assert by_address[lead.email] == f"Subject {arms[lead.id].upper()}"
    assert version.steps[0].variants  # the test is on the first step


def test_an_arm_gone_since_planning_sends_the_steps_own_content(session) -> None:
    version = _published(session, _spec(2, tested="intro"))
    lead = make_lead(session)
    enrollments.enroll(session, lead=lead, now=T0)
    session.execute(update(Message).values(variant_key="removed-arm"))
    session.commit()
    assert _send_all(T0) == ["Intro"]
    assert version.steps[0].key == "intro"


def test_moving_to_a_version_without_an_arm_repicks_or_drops_it(session) -> None:
    _published(session, _spec(3))
    v1 = session.scalar(select(SequenceVersion).order_by(SequenceVersion.id))
    assert v1 is not None
    intro_id, _ = _steps(session, v1)
    ids = _bulk_enrollments(session, [v1], 9)
    _plan_next(ids)
    planned = dict(session.execute(select(Message.enrollment_id, Message.variant_key)).all())
    # Version 2 drops arm c and adds e: people on a or b keep theirs; c's are picked again.
    arms = [{"key": k, "subject": f"V2 {k}"} for k in ("a", "b", "e")]
    spec = _spec(0, slug="split").model_dump()
    spec["steps"][1]["variants"] = arms
    v2 = _published(session, SequenceSpec.model_validate(spec))
    report = enrollments.migrate_version(session, to_version=v2)
    session.commit()
    assert report.moved == 9
    moved = dict(session.execute(select(Message.enrollment_id, Message.variant_key)).all())
    assert all(moved[e] == planned[e] for e in ids if planned[e] != "c")
    assert all(moved[e] in ("a", "b", "e") for e in ids)
    # Version 3 has no test at all: every moved email sends the step as written.
    v3 = _published(session, _spec(0, slug="split"))
    enrollments.migrate_version(session, to_version=v3)
    session.commit()
    assert set(session.scalars(select(Message.variant_key))) == {None}
    assert set(_send_all(T0 + timedelta(days=1, minutes=1))) == {"Own subject"}


def _race(ids: list[int], sizes: list[int], errors: list[BaseException]) -> None:
    try:
        for chunk in _batches(ids, sizes):
            _plan_next(chunk)
    except BaseException as exc:  # noqa: BLE001 - reported by the test
        errors.append(exc)


def test_concurrent_planners_keep_the_split_and_never_plan_twice(session) -> None:
    """Four planners at once, on disjoint and on the same enrollments (PostgreSQL in CI)."""
    version = _published(session, _spec(3))
    intro_id, test_id = _steps(session, version)
    ids = _bulk_enrollments(session, [version], 1200)
    errors: list[BaseException] = []
    quarters = [ids[i::4] for i in range(4)]
    threads = [threading.Thread(target=_race, args=(q, [1, 7, 50], errors)) for q in quarters]
    # Two more planners race the first two over the same enrollments.
    threads += [threading.Thread(target=_race, args=(q, [13], errors)) for q in quarters[:2]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    counts = _split(session, test_id)
    assert sum(counts.values()) == 1200
    assert max(counts.values()) - min(counts.values()) <= BOUND
    duplicates = session.scalar(
        select(func.count()).select_from(
            select(Message.enrollment_id)
            .group_by(Message.enrollment_id)
            .having(func.count() > 1)
            .subquery()
        )
    )
    assert duplicates == 0
