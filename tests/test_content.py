"""What the shipped emails and the landing page tell people: claims, safety, privacy, variety."""

from __future__ import annotations

import html
import re
from collections import Counter
from typing import Any

import pytest

from nurture.core.config import get_settings
from nurture.messages.preview import CONDITION_WORDS, Sample, all_samples, problems
from nurture.rendering.markdown import markdown_template
from nurture.sequences.files import SequenceSpec, read_sequence_file, sequence_files

# Every red flag of the content brief, as words a reader must find in the safety box.
BRIEF_RED_FLAGS = {
    "stroke signs": [r"one side", r"droop", r"speak", r"seeing", r"\bstroke"],
    "mini-stroke": [r"mini-stroke", r"come and go|comes and goes|short spells"],
    "saddle numbness": [r"groin", r"buttocks", r"inner thighs"],
    "bladder or bowel": [r"bladder", r"bowel"],
    "after a fall or injury": [r"\bfall\b", r"head, neck or back"],
    "after a knock": [r"severe pain or swelling", r"knock"],
    "blood flow": [r"cold, pale or blue", r"rest"],
    "fever": [r"fever"],
    "cancer": [r"cancer"],
    "weight loss": [r"drop in weight|weight loss"],
    "weakness getting worse": [r"weakness", r"worse quickly|quickly (get|gets|getting) worse"],
}

# Claims the evidence does not support: a mechanism stated as fact, a cure, a diagnosis in a visit.
OVERCLAIMS = re.compile(
    r"line[sd]? (the spine )?up|lining (the spine )?up|realign|\balign|\bcures?\b|\bcured\b|"
    r"guarantee|one visit away|in (just )?one visit|fix(es)? the (cause|nerve|spine)|"
    r"helps a great deal|a good deal",
    re.I,
)

# What an inbox shows before the email is opened must not give away a type or a condition,
# not even by paraphrase.
PREVIEW_PARAPHRASES = [
    "symptoms that stay",
    "Why some symptoms come and go",
    "it comes and goes",
    "numbness",
    "tingling feet",
    "pinched nerve",
    "sciatica",
    "Long-lasting trouble",
    "bad weeks and good weeks",
    "a foot that feels asleep",
    "your lower back",
    "a hard knock to the leg",
    "feeling can fade slowly",
    "Symptoms on and off?",
]


def _body(step: Any) -> str:
    """The HTML a shipped step's body makes, whether it is written in HTML or Markdown."""
    return step.html if step.html is not None else markdown_template(step.markdown)


def _specs() -> list[SequenceSpec]:
    return [
        read_sequence_file(p) for p in sequence_files(get_settings().templates_dir / "sequences")
    ]


@pytest.fixture(scope="module")
def samples() -> list[Sample]:
    return list(all_samples())


def _box_text(text_part: str) -> str:
    """The safety section of a text part: from its heading to the disclaimer."""
    lowered = text_part.lower()
    start = lowered.rfind("warning signs")
    assert start >= 0, "no safety box heading in the text part"
    return text_part[start:]


def _missing_flags(text: str) -> list[str]:
    return [
        name
        for name, patterns in BRIEF_RED_FLAGS.items()
        if not all(re.search(p, text, re.I) for p in patterns)
    ]


def _visible_text(page: str) -> str:
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S | re.I)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def test_every_education_email_carries_every_red_flag(samples: list[Sample]) -> None:
    marketing = [s for s in samples if s.marketing]
    assert marketing
    for sample in marketing:
        assert _missing_flags(_box_text(sample.email.text)) == [], sample.name
        html_box = _visible_text(sample.email.html.split('class="safety"', 1)[1])
        assert _missing_flags(html_box) == [], sample.name


def test_landing_page_shows_the_same_red_flags_before_the_form(client) -> None:  # type: ignore[no-untyped-def]
    from nurture.rendering.safety import SAFETY

    page = client.get("/").text
    before_form = page.split("<form", 1)[0]
    assert _missing_flags(_visible_text(before_form)) == []
    for flag in SAFETY.red_flags:  # the very same list the emails use
        assert html.escape(flag) in before_form


def test_safety_box_problems_name_a_dropped_red_flag(samples: list[Sample]) -> None:
    import dataclasses

    from nurture.rendering.safety import SAFETY

    good = next(s for s in samples if s.marketing)
    flag = SAFETY.red_flags[-1]
    cut = dataclasses.replace(good.email, text=good.email.text.replace(flag, ""))
    found = problems(dataclasses.replace(good, email=cut), require_https=False)
    assert any("safety box" in p for p in found)


def test_claims_go_no_further_than_the_evidence() -> None:
    for spec in _specs():
        for step in spec.steps:
            copy = " ".join([step.subject, step.preheader, _body(step), step.text or ""])
            assert not OVERCLAIMS.search(copy), f"{spec.slug}/{step.key}: {OVERCLAIMS.search(copy)}"
            for sentence in re.split(r"(?<=[.!?])\s+", _visible_text(_body(step))):
                if "chiropractic" in sentence.lower():
                    assert re.search(r"\bmay\b|\bmight\b|\bcan help\b", sentence), sentence


def test_harmless_is_never_said_without_the_warning_signs_beside_it() -> None:
    for spec in _specs():
        for step in spec.steps:
            for block in re.findall(r"<(p|li)\b[^>]*>(.*?)</\1>", _body(step), re.S):
                text = _visible_text(block[1])
                if "harmless" in text.lower():
                    assert "warning sign" in text.lower(), f"{spec.slug}/{step.key}: {text}"


def test_no_two_sequences_share_a_booking_subject() -> None:
    subjects = Counter(
        step.subject for spec in _specs() for step in spec.steps if step.kind == "booking_reminder"
    )
    assert subjects
    assert [s for s, n in subjects.items() if n > 1] == []


def test_inbox_preview_reveals_no_type_or_condition(samples: list[Sample]) -> None:
    for sample in samples:
        for shown in (sample.email.subject, sample.email.preheader):
            assert not CONDITION_WORDS.search(shown), f"{sample.name}: {shown!r}"


@pytest.mark.parametrize("phrase", PREVIEW_PARAPHRASES)
def test_preview_words_catch_paraphrases(phrase: str) -> None:
    assert CONDITION_WORDS.search(phrase), phrase


@pytest.mark.parametrize(
    "harmless",
    [
        "Your visit on Monday is cancelled",
        "Welcome, Sam: your first short read",
        "We're here when you're ready",
        "The last email in this series, and an open invitation.",
        "Started a new medicine lately?",
        "Come back any time",
    ],
)
def test_preview_words_leave_ordinary_subjects_alone(harmless: str) -> None:
    assert not CONDITION_WORDS.search(harmless)


def test_step_keys_are_stable() -> None:
    keys = {spec.slug: [step.key for step in spec.steps] for spec in _specs()}
    assert keys == {
        "acute-basics": ["welcome", "knocks", "book-first", "when-to-check"],
        "chronic-basics": [
            "welcome",
            "blood-sugar",
            "book-first",
            "sciatic-nerve",
            "medicines",
            "assessment",
            "book-last",
        ],
        "after-visit": ["after-your-visit", "between-visits", "review"],
        "intermittent-basics": ["welcome", "discs", "book-first", "inflammation", "track"],
        "no-show": ["missed-you"],
        "rebook": ["new-time", "still-here"],
        "recall": ["check-in", "open-door"],
        "unsure-basics": ["welcome", "lower-back", "book-first", "still-unsure"],
    }


# A review request that sorts people by how they felt before asking ("happy? leave a review")
# is review gating, which review sites forbid: the ask must read the same for everyone.
GATING = re.compile(
    r"\bhappy\b|satisf|enjoy|\bstars?\b|positive|if you liked|good experience|great experience",
    re.I,
)


def test_shipped_journeys_start_where_the_brief_says() -> None:
    journeys = {spec.slug: spec for spec in _specs() if spec.trigger is not None}
    assert {slug: spec.trigger for slug, spec in journeys.items()} == {
        "after-visit": "attended",
        "no-show": "no_show",
        "rebook": "cancelled_not_rebooked",
        "recall": "lapsed",
    }
    # A follow-up booking must not end the sequence before its review request.
    assert journeys["after-visit"].goals == []
    assert [s.key for s in journeys["after-visit"].steps if s.condition == "review_due"] == [
        "review"
    ]


def test_the_review_request_asks_everyone_the_same_way() -> None:
    steps = [step for spec in _specs() for step in spec.steps if step.condition == "review_due"]
    assert steps
    for step in steps:
        copy = " ".join([step.subject, step.preheader, _body(step), step.text or ""])
        assert not GATING.search(copy), GATING.search(copy)
        assert "{{ review_url }}" in _body(step)


@pytest.mark.parametrize(
    "spec", [s for s in _specs() if s.trigger is not None], ids=lambda spec: spec.slug
)
def test_journey_sequences_pass_the_save_checks(spec: SequenceSpec) -> None:
    from nurture.sequences.checks import StepSource, check_step

    for step in spec.steps:
        source = StepSource(step.subject, step.preheader, step.body_html, step.text)
        assert check_step(source).errors == [], f"{spec.slug}/{step.key}"


def test_journey_emails_are_marketing_with_the_safety_box(samples: list[Sample]) -> None:
    journeys = {spec.slug for spec in _specs() if spec.trigger is not None}
    shown = [s for s in samples if s.name.split("/")[0] in journeys]
    assert {s.name.split("/")[0] for s in shown} == journeys
    for sample in shown:
        assert sample.marketing, sample.name
        assert problems(sample, require_https=True) == [], sample.name
        assert 'class="safety"' in sample.email.html, sample.name
