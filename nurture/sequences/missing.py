"""Before publishing: which emails lack a language the clinic offers, and who that affects.

A person whose language an email lacks gets it in the clinic's default language, so a missing
translation never stops an email; staff see how many people in the sequence it affects.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nurture.core import languages
from nurture.enrollments.models import Enrollment, EnrollmentStatus
from nurture.leads.models import Lead
from nurture.sequences.models import SequenceVersion
from nurture.sequences.translations import language_name


@dataclass(frozen=True, slots=True)
class Missing:
    """The emails of a draft without a translation into one offered language."""

    language: str
    name: str  # as staff say it: "Spanish"
    emails: list[str]  # "step 2 (key)", "step 2 (key), variant b"
    people: int  # in the sequence now and reading this language


def readers(session: Session, sequence_id: int) -> dict[str, int]:
    """Count the people in a sequence now by the language they read."""
    rows = session.execute(
        select(Lead.language, func.count(Enrollment.id))
        .join(Lead, Lead.id == Enrollment.lead_id)
        .where(Enrollment.sequence_id == sequence_id, Enrollment.status == EnrollmentStatus.ACTIVE)
        .group_by(Lead.language)
    )
    counts: dict[str, int] = {}
    for tag, n in rows:
        chosen = languages.choose_leniently(tag)
        counts[chosen] = counts.get(chosen, 0) + int(n)
    return counts


def missing_translations(session: Session, draft: SequenceVersion) -> list[Missing]:
    """List, per offered language besides the default, the draft's emails that lack it."""
    people = readers(session, draft.sequence_id)
    found = []
    for language in languages.offered()[1:]:
        emails = []
        for step in draft.steps:
            where = f"step {step.position} ({step.key})"
            if language not in (step.translations or {}):
                emails.append(where)
                continue
            emails += [
                f"{where}, variant {arm.key}"
                for arm in step.variants
                if language not in (arm.translations or {})
            ]
        if emails:
            found.append(
                Missing(language, language_name(language), emails, people.get(language, 0))
            )
    return found
