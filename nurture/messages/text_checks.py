"""What every visit text must say, and what none may: checked on the template's source.

A text is read on a lock screen by whoever holds the phone: it names the clinic (or the
visit's location), the day, time and place, and how to answer; never a condition, a numbness
type or why the visit is.
"""

from __future__ import annotations

import re

from nurture.messages import privacy_words

# Template words that would put health details on a lock screen: in English, and every
# Spanish way of naming the condition (privacy_words) with why someone comes ("motivo").
FORBIDDEN = re.compile(
    r"numbness|condition|reason|diagnos|symptom|treatment|motivo|tratamiento|"
    + privacy_words.SPANISH,
    re.I,
)
NAME = re.compile(r"(clinic|location)\.name")
REQUIRED = (("visit.starts_at", "the day and time ({{ visit.starts_at|visit_time(...) }})"),)
PLACE = ("visit.address", "the place ({{ visit.address }})")
ANSWER = re.compile(r"Reply C|Responda C|(clinic|location)\.phone|manage_url|change_url", re.I)


def problems(name: str, source: str) -> list[str]:
    """Return what is missing from (or must not be in) the text template `name`."""
    found: list[str] = []
    if not NAME.search(source):
        found.append("It must say the clinic's name ({{ location.name }} or {{ clinic.name }}).")
    wanted = list(REQUIRED)
    if name != "appointment_cancellation":
        wanted.append(PLACE)
    for needle, words in wanted:
        if needle not in source:
            found.append(f"It must say {words}.")
    if not ANSWER.search(source):
        found.append("It must say how to confirm or change the visit (Reply C / R, or the phone).")
    match = FORBIDDEN.search(source)
    if match:
        found.append(
            f"It must not mention '{match.group(0)}': a text never says why someone is coming."
        )
    return found
