"""Import every domain's models so the metadata (and Alembic) sees all tables."""

from nurture.appointments.models import Appointment, AppointmentAlias
from nurture.broadcasts.models import Broadcast
from nurture.clinic.models import ClinicSetting
from nurture.core.db import Base
from nurture.delivery.models import (
    DeliveryEvent,
    Heartbeat,
    Message,
    MessageAttempt,
    SmsSuppression,
    Suppression,
    TextReply,
)
from nurture.enrollments.models import Enrollment
from nurture.jobs.models import Job
from nurture.leads.models import ConsentRecord, Lead, TypeChange
from nurture.sequences.models import Sequence, SequenceVersion, Step, StepVariant
from nurture.studio.models import ApiToken, AuditEntry, StaffSession, StaffUser

__all__ = [
    "ApiToken",
    "Appointment",
    "AppointmentAlias",
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
