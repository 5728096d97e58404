"""The weekly cap holds when two batches send to the same person at the same moment."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from nurture.core import clock
from nurture.delivery import send, service
from nurture.delivery.channels.registry import get_backend
from nurture.outbox.models import Message, MessageStatus, Stream
from tests.broadcasts.test_planning import NOW, make_broadcast
from tests.broadcasts.test_sending import YORK
from tests.factories import make_lead


def test_two_batches_at_once_send_no_more_than_the_weekly_cap(
    session, settings, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    settings(max_marketing_per_week="2")
    make_lead(session, email_address="pat@example.com", timezone=YORK)
    session.commit()
    for _ in range(3):
        make_broadcast(session)
    claimed: list[int] = []
    with clock.frozen_at(NOW):
        service.tick(dispatch=claimed.extend)
    assert len(claimed) == 3
    first, second = sorted(claimed)[:2], sorted(claimed)[2:]

    # Batch A counts the person's marketing mail, then waits until batch B has gone as far as
    # it can: through its own checks and sends (nothing stops it), or into the lock that holds
    # it until A is done. Each step is a state the other thread reports, never a sleep.
    a_counted, b_went_on = threading.Event(), threading.Event()
    real_gather = send.gather

    def gather(*args: Any, **kwargs: Any) -> Any:
        facts = real_gather(*args, **kwargs)
        if threading.current_thread().name == "batch-a" and kwargs.get("sending"):
            a_counted.set()
            assert b_went_on.wait(120), "batch B neither finished nor reached the lock"
        return facts

    monkeypatch.setattr(send, "gather", gather)
    real_lock = getattr(send, "lock_for_cap", None)

    def lock_for_cap(*args: Any, **kwargs: Any) -> None:
        if threading.current_thread().name == "batch-b":
            b_went_on.set()  # B is about to wait for A's lock: A may go on
        if real_lock is not None:
            real_lock(*args, **kwargs)

    monkeypatch.setattr(send, "lock_for_cap", lock_for_cap, raising=False)
    outcomes: list[service.Outcome] = []
    errors: list[BaseException] = []

    def run(ids: list[int], after: Callable[[], None]) -> None:
        try:
            with clock.frozen_at(NOW):
                outcomes.extend(service.deliver_batch(ids, backend=get_backend()))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            after()

    a = threading.Thread(target=run, args=(first, lambda: None), name="batch-a")
    b = threading.Thread(target=run, args=(second, b_went_on.set), name="batch-b")
    a.start()
    assert a_counted.wait(120), "batch A never counted"
    b.start()
    a.join()
    b.join()
    assert errors == []
    assert sorted(o.status for o in outcomes) == ["pending", "sent", "sent"]
    session.expire_all()
    rows = list(session.scalars(select(Message).where(Message.stream == Stream.MARKETING)))
    assert sum(m.status == MessageStatus.SENT for m in rows) == 2
    [held] = [m for m in rows if m.status == MessageStatus.PENDING]
    assert "weekly cap" in (held.last_error or "")
