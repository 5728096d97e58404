"""Deliver a claimed batch as a pipeline: prepare a slice while the last one sends and records.

A batch is cut into slices. The calling thread prepares each slice (re-check and render, in
delivery/send.py), marks it started and hands it to a sender; a recorder thread writes each
slice's answers as they come, in order. So a worker renders slice k+1 while slice k's
requests are in flight and slice k-1's answers are written, instead of waiting for each step
in turn. At most `IN_FLIGHT` slices are sent but not yet recorded, so a killed worker leaves
at most those rows `unknown` (settled by the provider's events, never sent again); rows it
never started are released by their lease.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import copy_context

from nurture.core.config import get_settings
from nurture.delivery.channels.base import Backend, OutgoingText, TextBackend
from nurture.delivery.forms import Forms
from nurture.delivery.ratelimit import SendRateLimiter
from nurture.delivery.send import STOPPED_WHILE_CLAIMED, Outcome, mark_started, prepare, record
from nurture.delivery.sending import Backends, Outgoing, send
from nurture.outbox.models import MessageStatus

log = logging.getLogger(__name__)

# A batch is prepared in up to this many slices of at least MIN_SLICE rows: enough to keep
# rendering, sending and recording busy at once without a round of reads for every few rows.
SLICES = 4
MIN_SLICE = 100
# Chunks handed to the sender and not yet recorded (each with its share of the connections).
IN_FLIGHT = 2


def slices(ids: Sequence[int]) -> list[list[int]]:
    """Cut a batch into the slices it is prepared in, in order."""
    if not ids:
        return []
    size = max(MIN_SLICE, math.ceil(len(ids) / SLICES))
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]


def chunks(
    ready: list[tuple[int, Outgoing]], *, requests: int, per_request: int
) -> list[list[tuple[int, Outgoing]]]:
    """Group a prepared slice into what is sent at once: emails many to a request, texts alone.

    A chunk is `requests` requests' worth: many emails each for a provider that takes them
    (SendGrid), one each for texts and the rest.
    """
    emails = [pair for pair in ready if not isinstance(pair[1], OutgoingText)]
    texts = [pair for pair in ready if isinstance(pair[1], OutgoingText)]
    step = requests * per_request
    parts = [emails[i : i + step] for i in range(0, len(emails), step)]
    return parts + [texts[i : i + requests] for i in range(0, len(texts), requests)]


class _Pipeline:
    """Send chunks in the background and record their answers in order.

    `in_flight` chunks at most are sent and not yet recorded; each gets an equal share of the
    `width` requests allowed at once, so a chunk marked started is sent straight away rather
    than waiting for a free connection. After a chunk fails (the provider's call or its
    record raised), no further chunk is started.
    """

    def __init__(self, backends: Backends, width: int) -> None:
        self.backends = backends
        self.in_flight = min(IN_FLIGHT, width)
        self.requests_per_chunk = max(1, width // self.in_flight)
        self.requests = ThreadPoolExecutor(max_workers=width, thread_name_prefix="send")
        self.sender = ThreadPoolExecutor(max_workers=self.in_flight, thread_name_prefix="sender")
        self.recorder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="recorder")
        self.recorded: list[Future[list[Outcome]]] = []
        self.settled = 0  # self.recorded[:settled] are done and did not fail

    def wait_for_room(self) -> None:
        """Wait until another chunk may start; raise what a finished one failed with."""
        while len(self.recorded) - self.settled >= self.in_flight:
            failure = self.recorded[self.settled].exception()
            if failure is not None:
                raise failure
            self.settled += 1

    def submit(self, chunk: list[tuple[int, Outgoing]]) -> None:
        """Send `chunk` (marked started) and queue its answers to be recorded."""
        # Each runs in a copy of this thread's context: a frozen clock (`tick --now`, tests)
        # holds for the send and the record too.
        sent = self.sender.submit(copy_context().run, send, self.backends, chunk, self.requests)
        self.recorded.append(
            self.recorder.submit(copy_context().run, lambda: record(sent.result()))
        )

    def finish(self) -> list[Outcome]:
        """Wait for every chunk to be recorded; raise the first failure after all are done."""
        self.sender.shutdown(wait=True)
        self.recorder.shutdown(wait=True)
        self.requests.shutdown(wait=True)
        outcomes: list[Outcome] = []
        for future in self.recorded:
            outcomes += future.result()
        return outcomes


def _start(
    chunk: list[tuple[int, Outgoing]],
    limiter: SendRateLimiter | None,
    text_limiter: SendRateLimiter | None,
) -> tuple[list[tuple[int, Outgoing]], list[Outcome]]:
    """Mark a chunk started and wait for the rate limits; return what may go and what may not."""
    texts = any(isinstance(item, OutgoingText) for _, item in chunk)
    allowed, stopped = mark_started([mid for mid, _ in chunk], texts=texts)
    refused = [
        Outcome(mid, MessageStatus.SUPPRESSED, detail=STOPPED_WHILE_CLAIMED)
        if mid in stopped
        else Outcome(mid, "not-claimed")
        for mid, _ in chunk
        if mid not in allowed
    ]
    chunk = [(mid, item) for mid, item in chunk if mid in allowed]
    n_texts = sum(isinstance(item, OutgoingText) for _, item in chunk)
    if limiter is not None and len(chunk) > n_texts:
        limiter.acquire(len(chunk) - n_texts)
    if text_limiter is not None and n_texts:
        text_limiter.acquire(n_texts)
    return chunk, refused


def deliver_batch(
    ids: Sequence[int],
    *,
    backend: Backend,
    concurrency: int | None = None,
    limiter: SendRateLimiter | None = None,
    texts: TextBackend | None = None,
    text_limiter: SendRateLimiter | None = None,
) -> list[Outcome]:
    """Send a batch of claimed rows, at most `concurrency` requests in flight at once.

    Emails go through `backend` and texts through `texts` (by default the one the settings
    choose), each under its own rate limit. Rows are marked started one chunk at a time, just
    before the chunk is sent.
    """
    width = concurrency or get_settings().send_concurrency
    per_request = max(1, getattr(backend, "per_request", 1))
    pipeline = _Pipeline(Backends(backend, texts), width)
    outcomes: list[Outcome] = []
    forms = Forms()  # each step rendered once for the whole batch where that is exact
    try:
        for part in slices(ids):
            ready, settled = prepare(part, forms)
            outcomes += settled
            size = pipeline.requests_per_chunk
            for chunk in chunks(ready, requests=size, per_request=per_request):
                pipeline.wait_for_room()
                going, refused = _start(chunk, limiter, text_limiter)
                outcomes += refused
                if going:
                    pipeline.submit(going)
    finally:
        # Whatever went out is recorded before an error goes up, so nothing sent is forgotten.
        outcomes += pipeline.finish()
    for outcome in outcomes:
        if outcome.status in ("sent", "not-claimed"):
            log.info("message %s %s", outcome.message_id, outcome.status)
        else:
            log.warning("message %s %s: %s", outcome.message_id, outcome.status, outcome.detail)
    return outcomes


def deliver(message_id: int, *, backend: Backend) -> Outcome:
    """Send one claimed outbox row through `backend`, at most once."""
    [outcome] = deliver_batch([message_id], backend=backend, concurrency=1)
    return outcome
