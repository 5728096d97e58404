"""Subscribe, confirm (double opt-in) and unsubscribe."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nurture.core import languages
from nurture.core.config import get_settings
from nurture.core.tokens import InvalidToken, is_compact_token, read_compact_token, read_token
from nurture.core.translations import N_, gettext_in
from nurture.enrollments import service as enrollments
from nurture.enrollments.models import Enrollment, EnrollmentStatus
from nurture.leads.models import ConsentRecord, Lead, LeadStatus, TypeChange, TypeSource
from nurture.leads.schemas import SubscribeRequest
from nurture.outbox import plan as outbox
from nurture.outbox.models import Message, Stream
from nurture.sequences.models import Step

CONSENT_VERSION = "2026-11-v1"
# Recorded in the words the person read: translated (gettext_in) into the lead's language.
CONSENT_TEXT = N_(
    "Yes, email me helpful information about leg numbness and occasional invitations to book "
    "an assessment. I can unsubscribe at any time with one click."
)
RESEND_BUCKET_SECONDS = 600  # at most one confirmation email per address per ten minutes


@dataclass(frozen=True, slots=True)
class SignupMeta:
    """Where a signup came from, for the consent record."""

    source: str
    ip_address: str | None = None
    user_agent: str | None = None


def find_or_create(
    session: Session,
    *,
    email: str,
    first_name: str,
    numbness_type: str,
    timezone: str | None,
    status: str,
    now: datetime,
    source: str = TypeSource.SIGNUP,
    language: str | None = None,
) -> Lead:
    """Return the lead with `email`, creating it with these details if there is none.

    Two requests for a new address at once (a signup and a booking, say) end with one row:
    the loser of the race reads the winner's. A new lead's type is recorded as set by `source`.
    """
    lead = session.scalar(select(Lead).where(Lead.email == email))
    if lead is not None:
        return lead
    lead = Lead(
        email=email,
        first_name=first_name,
        numbness_type=numbness_type,
        timezone=timezone,
        language=language or languages.default(),
        status=status,
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(lead)
            session.flush()
            note_type(session, lead_id=lead.id, to_type=numbness_type, source=source, now=now)
    except IntegrityError:
        lead = session.scalar(select(Lead).where(Lead.email == email))
        if lead is None:
            raise
    return lead


def subscribe(
    session: Session, *, request: SubscribeRequest, meta: SignupMeta, now: datetime
) -> ConsentRecord | None:
    """Record a signup and plan its confirmation email; return the consent it recorded.

    Known addresses get no second row; an active lead gets nothing (None), so the answer never
    tells a stranger whether an address is subscribed.
    """
    lead = find_or_create(
        session,
        email=request.email,
        first_name=request.first_name,
        numbness_type=request.numbness_type,
        timezone=request.timezone,
        status=LeadStatus.PENDING,
        now=now,
        language=request.language,
    )
    if lead.status == LeadStatus.ACTIVE:
        return None
    if request.language is not None:
        # Signing up (again) in a language is saying it is the one they read.
        lead.language = request.language
    if lead.status == LeadStatus.PENDING:
        # Unconfirmed: the latest form wins, since nobody has confirmed the earlier answers.
        lead.first_name = request.first_name
        if request.numbness_type != lead.numbness_type:
            note_type(
                session,
                lead_id=lead.id,
                from_type=lead.numbness_type,
                to_type=request.numbness_type,
                source=TypeSource.SIGNUP,
                now=now,
            )
            lead.numbness_type = request.numbness_type
        lead.timezone = request.timezone
        if request.location is not None:
            lead.location_key = request.location
    return _ask_to_confirm(session, lead=lead, meta=meta, now=now)


def note_type(
    session: Session,
    *,
    lead_id: int,
    to_type: str,
    source: str,
    now: datetime,
    from_type: str | None = None,
) -> None:
    """Record the type a lead starts with (no `from_type`) or changes to, for the timeline."""
    session.add(
        TypeChange(
            lead_id=lead_id, from_type=from_type, to_type=to_type, source=source, changed_at=now
        )
    )


def _ask_to_confirm(
    session: Session, *, lead: Lead, meta: SignupMeta, now: datetime
) -> ConsentRecord:
    """Record consent given just now and plan the email that asks to confirm it."""
    consent = ConsentRecord(
        lead_id=lead.id,
        text_version=CONSENT_VERSION,
        text=gettext_in(lead.language, CONSENT_TEXT),
        source=meta.source[:500],
        ip_address=meta.ip_address,
        user_agent=(meta.user_agent or "")[:500] or None,
        given_at=now,
    )
    session.add(consent)
    bucket = int(now.timestamp()) // RESEND_BUCKET_SECONDS
    outbox.plan(
        session,
        key=f"confirm:{lead.id}:{lead.token_version}:{bucket}",
        stream=Stream.TRANSACTIONAL,
        template="confirm",
        due_at=now,
        lead_id=lead.id,
    )
    session.flush()
    return consent


def _awaiting_confirmation(lead: Lead) -> bool:
    """Tell whether `lead` gave consent that nobody has confirmed or withdrawn yet."""
    return lead.status in (LeadStatus.PENDING, LeadStatus.UNSUBSCRIBED) and any(
        c.confirmed_at is None and c.withdrawn_at is None for c in lead.consents
    )


def resend_confirmation(session: Session, *, email: str, now: datetime) -> None:
    """Plan the confirmation email again for an address still waiting to confirm.

    Does nothing for an unknown, confirmed or withdrawn address, and the caller answers the
    same either way. One resend per address per RESEND_BUCKET_SECONDS.
    """
    lead = session.scalar(select(Lead).where(Lead.email == email))
    if lead is None or not _awaiting_confirmation(lead):
        return
    bucket = int(now.timestamp()) // RESEND_BUCKET_SECONDS
    outbox.plan(
        session,
        key=f"confirm-again:{lead.id}:{lead.token_version}:{bucket}",
        stream=Stream.TRANSACTIONAL,
        template="confirm",
        due_at=now,
        lead_id=lead.id,
    )


def withdraw_signup(session: Session, *, consent_id: int) -> None:
    """Undo a signup made to a mistyped address, if it is still unconfirmed.

    A lead that this signup created is deleted with its unsent confirmation email, so the link
    already sent stops working. A lead the address's owner made earlier keeps everything but
    this signup's consent, which is dropped unconfirmed, like a purge would drop it.
    """
    consent = session.get(ConsentRecord, consent_id)
    if consent is None or consent.confirmed_at is not None or consent.withdrawn_at is not None:
        return
    lead = consent.lead
    if lead is None or lead.status != LeadStatus.PENDING or lead.confirmed_at is not None:
        return
    session.delete(consent)
    if all(c.id == consent_id for c in lead.consents):
        session.delete(lead)
    session.flush()


def resubscribe(session: Session, *, lead: Lead, meta: SignupMeta, now: datetime) -> bool:
    """Ask an unsubscribed lead to confirm again (double opt-in); False if not unsubscribed."""
    if lead.status != LeadStatus.UNSUBSCRIBED:
        return False
    _ask_to_confirm(session, lead=lead, meta=meta, now=now)
    return True


class ConfirmOutcome(StrEnum):
    """What following a confirmation link did."""

    CONFIRMED = "confirmed"
    ALREADY = "already_confirmed"


def lead_to_confirm(session: Session, *, token: str, lock: bool = False) -> Lead:
    """Return the lead a confirmation token names, changing nothing; raise InvalidToken if bad."""
    max_age = get_settings().confirm_link_max_age_hours * 3600
    if is_compact_token(token):
        lead_id, version = _two(read_compact_token("confirm", token, max_age_seconds=max_age))
        payload: dict[str, object] = {"lead": lead_id, "v": version}
    else:  # the signed form of links sent before the compact one
        payload = read_token("confirm", token, max_age_seconds=max_age)
    lead = _lead_in(session, payload, lock=lock)
    if lead is None or payload.get("v") != lead.token_version:
        raise InvalidToken(N_("This link is no longer valid. Please sign up again."))
    return lead


def confirm(session: Session, *, token: str, now: datetime) -> tuple[ConfirmOutcome, Lead]:
    """Activate the lead a confirmation token names and enroll it; raise InvalidToken if bad."""
    lead = lead_to_confirm(session, token=token, lock=True)
    if lead.status == LeadStatus.ACTIVE:
        return ConfirmOutcome.ALREADY, lead
    lead.status = LeadStatus.ACTIVE
    lead.confirmed_at = now
    lead.unsubscribed_at = None
    for consent in lead.consents:
        if consent.confirmed_at is None and consent.withdrawn_at is None:
            consent.confirmed_at = now
    session.flush()
    enrollments.enroll(session, lead=lead, now=now)
    return ConfirmOutcome.CONFIRMED, lead


def notify(
    session: Session, *, lead: Lead, template: str, now: datetime, **context: str
) -> Message:
    """Plan a transactional email about the lead's own request (goodbye, preferences)."""
    return outbox.plan(
        session,
        key=f"{template}:{lead.id}:{now.timestamp():.6f}",
        stream=Stream.TRANSACTIONAL,
        template=template,
        due_at=now,
        lead_id=lead.id,
        context=context,
    )


def unsubscribe(session: Session, *, lead: Lead, now: datetime) -> bool:
    """Stop all marketing mail to `lead` at once; return False if it was already stopped.

    One short transactional note confirms it; nothing else follows.
    """
    if lead.status == LeadStatus.UNSUBSCRIBED:
        return False
    if lead.status == LeadStatus.ACTIVE:
        notify(session, lead=lead, template="goodbye", now=now)
    lead.status = LeadStatus.UNSUBSCRIBED
    lead.unsubscribed_at = now
    lead.token_version += 1  # old confirmation links must not resubscribe
    for consent in lead.consents:
        if consent.withdrawn_at is None:
            consent.withdrawn_at = now
    enrollments.exit_active(session, lead_id=lead.id, reason="unsubscribed", at=now)
    return True


def _two(numbers: tuple[int, ...]) -> tuple[int, int]:
    if len(numbers) != 2:
        raise InvalidToken(N_("This link is not valid."))
    return numbers[0], numbers[1]


def stop_everything(session: Session, *, lead: Lead, now: datetime) -> None:
    """Stop every email to the lead, the reminders of booked visits included (their choice).

    An unsubscribe stops marketing only; this is the patient's explicit "nothing at all",
    recorded as a suppression (see outbox.stops). Staff can lift it from the suppression list.
    """
    from nurture.leads.suppressions import suppress
    from nurture.outbox.stops import EVERYTHING

    unsubscribe(session, lead=lead, now=now)
    suppress(session, email=lead.email, reason=EVERYTHING, source="patient", now=now)


def _lead_in(session: Session, payload: dict[str, object], *, lock: bool = False) -> Lead | None:
    lead_id = payload.get("lead")
    if not isinstance(lead_id, int):
        return None
    return session.get(Lead, lead_id, with_for_update=lock)


def lead_from_token(session: Session, purpose: str, token: str) -> Lead:
    """Return the lead a signed link names; raise InvalidToken if there is none."""
    lead = _lead_in(session, read_token(purpose, token))
    if lead is None:
        raise InvalidToken(N_("This link is not valid."))
    return lead


def drip_outline(session: Session, *, lead_id: int) -> tuple[int, int]:
    """Return how many emails the lead's running sequences hold and over how many days."""
    delays = session.scalars(
        select(Step.delay_days)
        .join(Enrollment, Enrollment.version_id == Step.version_id)
        .where(Enrollment.lead_id == lead_id, Enrollment.status == EnrollmentStatus.ACTIVE)
    ).all()
    return len(delays), sum(delays)
