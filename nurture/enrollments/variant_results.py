"""What each variant of a step's test achieved, judged on bookings, and which one is ahead.

Opens are inflated by privacy proxies (they open every email), so the comparison uses the
goal that matters: a visit booked within N days of the email, as the per-step results count
it (nurture.enrollments.sequence_results.booked_after). Arms are counted by step key and variant key
across every version of the sequence, as the per-step results are.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from nurture.core import languages
from nurture.core.db import chunked
from nurture.enrollments.bayes import Posterior, compare
from nurture.enrollments.sequence_results import booked_after
from nurture.leads.models import Lead
from nurture.outbox.models import DeliveryEvent, Message, MessageStatus
from nurture.sequences.models import Sequence, SequenceVersion, Step, StepVariant
from nurture.sequences.service import live_version
from nurture.sequences.translations import language_name

# Below this many sends per arm a lead of any size is too easily luck.
MIN_SENDS = 30
# How sure the leader must be before the page says the test can be decided.
DECIDE_AT = 0.95


@dataclass(frozen=True, slots=True)
class ArmResult:
    """One variant's counts and what they say about its booking rate."""

    key: str
    subject: str
    planned: int  # outbox rows given this variant, whatever became of them
    sent: int
    booked: int
    opened: int
    clicked: int
    posterior: Posterior
    live: bool  # an arm of the live step, so it can be made the step
    # How many of its sent emails were read in each language ("en": 40, "es": 5).
    languages: dict[str, int] = field(default_factory=dict)

    @property
    def read_in(self) -> str:
        """Say in which languages the arm was read: "English 40, Spanish 5"."""
        return ", ".join(f"{language_name(k)} {n}" for k, n in sorted(self.languages.items()))

    @property
    def rate(self) -> str:
        """Return the booking rate of the emails sent, or a dash before any were."""
        return f"{100 * self.booked / self.sent:.1f}%" if self.sent else "–"

    @property
    def interval(self) -> str:
        """Return the 95% credible interval of the booking rate."""
        return f"{100 * self.posterior.low:.1f}–{100 * self.posterior.high:.1f}%"

    @property
    def chance(self) -> str:
        """Return the probability of being best, in words a reader can quote."""
        return chance(self.posterior.p_best)

    def share(self, count: int) -> str:
        """Return `count` as a percentage of the emails sent."""
        return f"{100 * count / self.sent:.1f}%" if self.sent else "–"


@dataclass(frozen=True, slots=True)
class VariantTest:
    """A step's test: its arms, the leader on bookings, and a plain-words verdict."""

    step_key: str
    arms: list[ArmResult]
    live: bool  # the live version's step still has these variants
    leader: ArmResult | None
    verdict: str
    decided: bool  # the leader is clear enough, on enough sends, to make it the step
    days: int


def chance(p: float) -> str:
    """Return a probability as a whole percentage that never rounds to a certainty."""
    if p >= 0.995:
        return "more than 99%"
    if p < 0.005:
        return "less than 1%"
    return f"{round(100 * p)}%"


def variant_tests(
    session: Session,
    sequence: Sequence,
    *,
    within_days: int,
    leads: ColumnElement[bool] | None = None,
) -> list[VariantTest]:
    """Return the sequence's variant tests: the live step's first, then finished ones.

    `leads`, a condition on Lead, counts only the emails of the leads it matches.
    """
    only = [] if leads is None else [Message.lead_id.in_(select(Lead.id).where(leads))]
    live = live_version(session, sequence.id)
    live_arms: dict[str, list[str]] = {}
    for step in live.steps if live else []:
        if step.variants:
            live_arms[step.key] = [v.key for v in step.variants]
    subjects = _subjects(session, sequence)
    rows = session.execute(
        select(
            Message.id,
            Message.lead_id,
            Message.sent_at,
            Message.status,
            Step.key,
            Message.variant_key,
            Message.language,
        )
        .join(Step, Step.id == Message.step_id)
        .join(SequenceVersion, SequenceVersion.id == Step.version_id)
        .where(SequenceVersion.sequence_id == sequence.id, Message.variant_key.is_not(None), *only)
    ).all()
    planned: dict[tuple[str, str], int] = defaultdict(int)
    sent: dict[int, tuple[str, str]] = {}
    read: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for message_id, _, sent_at, status, step_key, variant_key, language in rows:
        arm = (str(step_key), str(variant_key))
        planned[arm] += 1
        if status == MessageStatus.SENT and sent_at is not None:
            sent[message_id] = arm
            # Sent before languages were recorded: in the default language.
            read[arm][language or languages.default()] += 1
    booked = booked_after(session, [r for r in rows if r.id in sent], within_days)
    opened, clicked = _engaged(session, sent)
    tallies: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for message_id, arm in sent.items():
        tally = tallies[arm]
        tally["sent"] += 1
        tally["booked"] += message_id in booked
        tally["opened"] += message_id in opened
        tally["clicked"] += message_id in clicked
    step_keys = list(live_arms) + sorted({k for k, _ in planned} - set(live_arms))
    tests = []
    for step_key in step_keys:
        keys = list(live_arms.get(step_key, []))
        keys += sorted({v for k, v in planned if k == step_key} - set(keys))
        counts = [tallies[(step_key, v)] for v in keys]
        posteriors = compare([(c["booked"], c["sent"]) for c in counts])
        arms = [
            ArmResult(
                key=v,
                subject=subjects.get((step_key, v), ""),
                planned=planned[(step_key, v)],
                sent=c["sent"],
                booked=c["booked"],
                opened=c["opened"],
                clicked=c["clicked"],
                posterior=p,
                live=v in live_arms.get(step_key, []),
                languages=dict(read[(step_key, v)]),
            )
            for v, c, p in zip(keys, counts, posteriors, strict=True)
        ]
        tests.append(_judged(step_key, arms, step_key in live_arms, within_days))
    return tests


def _judged(step_key: str, arms: list[ArmResult], live: bool, days: int) -> VariantTest:
    """Name the leader and say, in words, whether the test can be decided."""
    leader = max(arms, key=lambda a: a.posterior.p_best) if arms else None
    decided = False
    if leader is None or not any(a.sent for a in arms):
        verdict, leader = "Nothing has been sent in this test yet.", None
    elif len(arms) < 2:
        verdict, leader = f"Only variant {leader.key} was sent: there is nothing to compare.", None
    elif not any(a.booked for a in arms):
        verdict = (
            f"No bookings within {days} days of any variant yet; "
            "wait for more data before deciding."
        )
        leader = None
    elif _level(arms):
        verdict, leader = "No variant is ahead so far; wait for more data before deciding.", None
    else:
        fewest = min(a.sent for a in arms)
        decided = leader.posterior.p_best >= DECIDE_AT and fewest >= MIN_SENDS
        ahead = f"Variant {leader.key} is ahead with a {leader.chance} chance of being best"
        if decided:
            verdict = f"{ahead}: you can make it the step."
        elif fewest < MIN_SENDS:
            verdict = (
                f"{ahead}; wait for more data before deciding "
                f"(at least {MIN_SENDS} sends of each variant)."
            )
        else:
            verdict = f"{ahead}; wait for more data before deciding."
    return VariantTest(step_key, arms, live, leader, verdict, decided, days)


def _level(arms: list[ArmResult]) -> bool:
    """Tell whether the two likeliest arms are as likely as each other to be best."""
    first, second = sorted((a.posterior.p_best for a in arms), reverse=True)[:2]
    return first - second < 0.01


def _subjects(session: Session, sequence: Sequence) -> dict[tuple[str, str], str]:
    """Each arm's subject as its latest version had it (the variant's own, or the step's)."""
    found: dict[tuple[str, str], str] = {}
    for step_key, variant_key, own, base in session.execute(
        select(Step.key, StepVariant.key, StepVariant.subject, Step.subject)
        .join(Step, Step.id == StepVariant.step_id)
        .join(SequenceVersion, SequenceVersion.id == Step.version_id)
        .where(SequenceVersion.sequence_id == sequence.id)
        .order_by(SequenceVersion.number)
    ):
        found[(str(step_key), str(variant_key))] = own if own is not None else base
    return found


def _engaged(session: Session, sent: dict[int, tuple[str, str]]) -> tuple[set[int], set[int]]:
    """Return the sent emails with an open, and those with a click (each counted once)."""
    opened: set[int] = set()
    clicked: set[int] = set()
    if not sent:
        return opened, clicked
    for chunk in chunked(sorted(sent)):
        for message_id, event in session.execute(
            select(DeliveryEvent.message_id, DeliveryEvent.event).where(
                DeliveryEvent.message_id.in_(chunk),
                DeliveryEvent.event.in_(("open", "click")),
            )
        ):
            if message_id is not None:
                (opened if event == "open" else clicked).add(message_id)
    return opened, clicked
