"""The safety box: the one list of warning signs that every education email and the landing
page show, so the emails (HTML and text) and the page can never drift apart."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SafetyBox:
    """General medical guidance shown beside the clinic's own content."""

    heading: str
    intro: str
    red_flags: tuple[str, ...]
    diabetes: str
    disclaimer: str


SAFETY = SafetyBox(
    heading="Warning signs that need help right away",
    intro=(
        "These need emergency care or a doctor today, not a chiropractor. Call your local "
        "emergency number if you notice any of them:"
    ),
    red_flags=(
        "Sudden numbness or weakness on one side of your body, a face that droops, or trouble "
        "speaking or seeing. These can be signs of a stroke.",
        "Short spells of numbness or weakness on one side that come and go. This can be a "
        "mini-stroke, and it needs a doctor the same day even when it has passed.",
        "Numbness in your groin, buttocks or inner thighs, or new trouble controlling your "
        "bladder or bowels.",
        "Numbness after a fall, or after an injury to your head, neck or back.",
        "Severe pain or swelling after a knock to your leg.",
        "A leg that turns cold, pale or blue, or that hurts even while you rest. This can mean "
        "a problem with blood flow.",
        # Not "weight loss": spam filters read that as a diet offer (SpamAssassin's DIET_1).
        "Numbness together with a fever, a history of cancer, or a drop in weight you did "
        "not plan.",
        "Weakness that gets worse quickly.",
    ),
    diabetes="If you live with diabetes, tell your diabetes care team about any new numbness.",
    disclaimer="This email is general information. It is not a diagnosis or medical advice.",
)
