"""Import every domain's models so the metadata (and Alembic) sees all tables."""

from nurture.appointments.models import Appointment
from nurture.db import Base
from nurture.delivery.models import (
    DeliveryEvent,
    Heartbeat,
    Message,
    MessageAttempt,
    Suppression,
)
from nurture.enrollments.models import Enrollment
from nurture.leads.models import ConsentRecord, Lead
from nurture.sequences.models import Sequence, SequenceVersion, Step
from nurture.studio.models import ApiToken, AuditEntry, StaffUser

__all__ = [
    "ApiToken",
    "Appointment",
    "AuditEntry",
    "Base",
    "ConsentRecord",
    "DeliveryEvent",
    "Enrollment",
    "Heartbeat",
    "Lead",
    "Message",
    "MessageAttempt",
    "Sequence",
    "SequenceVersion",
    "StaffUser",
    "Step",
    "Suppression",
]
