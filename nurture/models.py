"""Import every domain's models so the metadata (and Alembic) sees all tables.

Every entry point (each command, the worker, beat and the web app) calls `load_models()` before
it touches the database: a query that joins or flushes across domains needs every table known,
whether or not the code path at hand imported the module that defines it.
"""

from nurture.appointments.models import Appointment, AppointmentAlias, CalcomRequest, CalcomWaiting
from nurture.broadcasts.models import Broadcast
from nurture.clinic.models import ClinicSetting
from nurture.core.db import Base
from nurture.enrollments.models import Enrollment
from nurture.jobs.models import Job
from nurture.leads.models import ConsentRecord, Lead, TypeChange
from nurture.locations.models import Location
from nurture.outbox.models import (
    DeliveryEvent,
    Heartbeat,
    Message,
    MessageAttempt,
    SmsSuppression,
    Suppression,
    TextReply,
)
from nurture.sequences.models import Sequence, SequenceVersion, Step, StepVariant
from nurture.staff.models import ApiToken, AuditEntry, StaffSession, StaffUser

__all__ = [
    "load_models",
    "ApiToken",
    "Appointment",
    "AppointmentAlias",
    "CalcomRequest",
    "CalcomWaiting",
    "AuditEntry",
    "Base",
    "SmsSuppression",
    "TextReply",
    "Broadcast",
    "ClinicSetting",
    "ConsentRecord",
    "DeliveryEvent",
    "Enrollment",
    "Heartbeat",
    "Job",
    "Lead",
    "Location",
    "Message",
    "MessageAttempt",
    "Sequence",
    "SequenceVersion",
    "StaffSession",
    "StaffUser",
    "Step",
    "StepVariant",
    "Suppression",
    "TypeChange",
]


def load_models() -> None:
    """Make sure every table is registered and every relationship between them resolves."""
    # Importing this module registered every model; configuring the mappers now turns a
    # missing or misspelt table into an error at start-up rather than in the middle of work.
    from sqlalchemy.orm import configure_mappers

    configure_mappers()
