"""A background job: what to do, how far it got and how it ended."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, deferred, mapped_column

from nurture.core import clock
from nurture.core.db import Base, BigId, UTCDateTime


class JobStatus(StrEnum):
    """Where a job stands; only `queued` jobs, or `running` ones whose lease ran out, are run."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Job(Base):
    """One long action started in the studio and run by a worker, never by the web process."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status_lease_until", "status", "lease_until"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), default=JobStatus.QUEUED)
    filename: Mapped[str] = mapped_column(String(255), default="")
    # What the worker is doing now ("checking", "saving", "enrolling"), counted in rows.
    stage: Mapped[str] = mapped_column(String(20), default="")
    total: Mapped[int] = mapped_column(default=0)
    done: Mapped[int] = mapped_column(default=0)
    # Every problem of every line, kept whole; the page shows the start and offers the rest.
    errors: Mapped[list[str] | None] = mapped_column(JSON)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The uploaded file, kept in the database so web and worker need no shared disk (they run
    # in separate containers in docker-compose); cleared once the job ends. Deferred, so the
    # progress page never loads it.
    payload: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A running job whose worker stops renewing this (it died) is run again by another.
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Raised by every claim; a worker only writes while the count is still the one it claimed.
    attempts: Mapped[int] = mapped_column(default=0)

    @property
    def finished(self) -> bool:
        """Whether the job has ended, well or not."""
        return self.status in (JobStatus.SUCCEEDED, JobStatus.FAILED)
