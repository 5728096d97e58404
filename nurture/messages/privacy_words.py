"""Words that give away a condition, in every language the clinic's messages are written in.

What an inbox or a lock screen shows (subject, preheader, a text) must not name a numbness
type or a condition, not even in other words. Each language lists its own ways of saying it;
every message is checked against all of them, since a subject may mix languages.
"""

from __future__ import annotations

import re

# Names of conditions, the symptom and its body parts, and the ways people describe how long
# it lasts or how it comes and goes.
ENGLISH = (
    r"numb|tingl|pins and needles|prickl|asleep|sciatic|neuropath|diabet|blood sugar|"
    r"paresthesi|nerve|chronic|acute|intermittent|\bdiscs?\b|spin(e|al)|vertebra|stroke|"
    r"injur|inflamm|flare|symptom|\bpain|\bach(e|es|ing)\b|\bweak(ness)?\b|sudden|"
    r"\blast(s|ed|ing)\b|long[- ]lasting|long[- ]term|won'?t go away|not go away|stay(s|ing)? "
    r"(put|with you)|that stays?\b|comes? and go|on and off|off and on|good (days|weeks)|"
    r"bad (days|weeks)|(lose|losing|lost|loss of|without|no) feeling|"
    r"feeling( can)? (fades?|returns?|comes? back)|"
    r"\blegs?\b|\bfoot\b|\bfeet\b|\btoes?\b|\bthighs?\b|\bcalf\b|\bcalves\b|lower back|"
    r"your back|\bknock|\bbump|\bposture|diagnos|condition\b"
)
# The same in Spanish, with and without accents (people type both): entumecimiento,
# hormigueo, adormecimiento, "se me duerme", ciática, nervio, dolor, pierna, and the rest.
SPANISH = (
    r"entumec|hormigue|adormec|se (me|le|te) duerme|dormid[oa]s?\b|cosquille|calambre|"
    r"pinchaz|ci[aá]tic|nervi|neuropat|diab[eé]t|az[uú]car en la sangre|glucosa|parestesi|"
    r"cr[oó]nic|\bagud[oa]s?\b|intermitente|\bdiscos?\b|columna|v[eé]rtebra|derrame|"
    r"cerebrovascular|lesi[oó]n|lesiones|inflam|s[ií]ntoma|\bdolor|\bduel(e|en)\b|"
    r"\bd[eé]bil|debilidad|repentin|\bpiernas?\b|\bpies?\b|dedos del pie|\bmuslos?\b|"
    r"pantorrilla|espalda|postura|\bgolpe|diagn[oó]stic|afecci[oó]n|padecimiento|"
    r"condici[oó]n m[eé]dica|va y viene|van y vienen|viene y va|no se (va|quita)|"
    r"(que|no) (se )?(pasa|desaparece)|persistente|duradero|(sin|pierde|perder|p[eé]rdida de) "
    r"(la )?sensibilidad|buenos d[ií]as y malos|d[ií]as malos"
)
BY_LANGUAGE = {"en": ENGLISH, "es": SPANISH}
CONDITION_WORDS = re.compile("|".join(BY_LANGUAGE.values()), re.I)
