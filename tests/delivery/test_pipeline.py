"""A batch is a pipeline: the next slice is prepared and sent while the one before is in flight."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Executor
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from nurture.core import clock
from nurture.delivery import outbox, pipeline, service
from nurture.delivery.channels.base import Backend, OutgoingEmail, SendOutcome, Sent
from nurture.outbox import plan as planning
from nurture.outbox.models import Message, MessageStatus, Stream
from tests.factories import make_lead
from tests.processes import wait_for

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


class _HoldsTheFirstRequest(Backend):
    """Takes many emails per call, like SendGrid, and holds the first call until released."""

    name = "holds"
    per_request = 1000

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.lock = threading.Lock()
        self.release = threading.Event()

    def send(self, email: OutgoingEmail) -> str:
        return "id-" + email.custom_args["nurture_message_id"]

    def send_batch(
        self, emails: Sequence[OutgoingEmail], *, pool: Executor | None = None
    ) -> list[SendOutcome]:
        with self.lock:
            self.calls.append([e.custom_args["nurture_message_id"] for e in emails])
            first = len(self.calls) == 1
        if first:
            assert self.release.wait(60), "the test never released the first request"
        return [Sent(self.send(e)) for e in emails]


def _claimed(session, n: int) -> list[int]:  # type: ignore[no-untyped-def]
    lead = make_lead(session, status="pending")
    for i in range(n):
        planning.plan(
            session,
            key=f"confirm:{i}",
            stream=Stream.TRANSACTIONAL,
            template="confirm",
            due_at=NOW,
            lead_id=lead.id,
        )
    session.commit()
    ids = outbox.claim_due(session, now=NOW, limit=n, lease=timedelta(minutes=5))
    session.commit()
    return ids


def test_the_next_slice_is_sent_while_the_first_is_still_in_flight(session) -> None:  # type: ignore[no-untyped-def]
    ids = _claimed(session, 250)
    parts = pipeline.slices(ids)
    assert [len(p) for p in parts] == [100, 100, 50]
    backend = _HoldsTheFirstRequest()
    outcomes: list[service.Outcome] = []

    def run() -> None:
        with clock.frozen_at(NOW):
            outcomes.extend(service.deliver_batch(ids, backend=backend, concurrency=4))

    worker = threading.Thread(target=run)
    worker.start()
    try:
        # One after the other, the second slice would wait for the first request's answer.
        wait_for(lambda: len(backend.calls) >= 2, timeout=30, what="a second request in flight")
        assert backend.calls[1] == [str(i) for i in parts[1]]
        # Two slices are in flight: the third waits for the first to be recorded.
        assert len(backend.calls) == 2
    finally:
        backend.release.set()
        worker.join(60)
    assert not worker.is_alive()
    assert [c for call in backend.calls for c in call] == [str(i) for i in ids]
    assert sorted(o.message_id for o in outcomes if o.status == "sent") == sorted(ids)
    session.expire_all()
    counts = dict(
        session.execute(
            select(Message.status, func.count()).where(Message.id.in_(ids)).group_by(Message.status)
        ).all()
    )
    assert counts == {MessageStatus.SENT: 250}


def test_a_batch_is_cut_into_at_most_four_slices_of_at_least_a_hundred() -> None:
    assert pipeline.slices([]) == []
    assert [len(p) for p in pipeline.slices(list(range(1)))] == [1]
    assert [len(p) for p in pipeline.slices(list(range(200)))] == [100, 100]
    assert [len(p) for p in pipeline.slices(list(range(1000)))] == [250] * 4
    cut = pipeline.slices(list(range(1001)))
    assert sum(cut, []) == list(range(1001))
    assert len(cut) == 4
