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

# Written in Spanish as a bilingual clinician would say it (usted, plain words), not word for
# word; every warning sign of the English box is here, in the same order.
SAFETY_ES = SafetyBox(
    heading="Señales de alarma que necesitan atención de inmediato",
    intro=(
        "Estas señales necesitan atención de emergencia o ver a un médico hoy mismo, no a un "
        "quiropráctico. Si nota alguna, llame al 911 o al número de emergencias de su zona:"
    ),
    red_flags=(
        "Entumecimiento o debilidad repentina en un lado del cuerpo, la cara caída de un lado, "
        "o dificultad para hablar o para ver. Pueden ser señales de un derrame cerebral.",
        "Episodios cortos de entumecimiento o debilidad en un lado del cuerpo que aparecen y "
        "desaparecen. Puede ser un mini derrame, y hay que ver a un médico el mismo día aunque "
        "ya se le haya pasado.",
        "Entumecimiento en la ingle, las nalgas o la parte interna de los muslos, o problemas "
        "nuevos para controlar la orina o el intestino.",
        "Entumecimiento después de una caída, o después de un golpe en la cabeza, el cuello o "
        "la espalda.",
        "Dolor fuerte o hinchazón después de un golpe en la pierna.",
        "Una pierna que se pone fría, pálida o azulada, o que le duele incluso en reposo. Puede "
        "ser un problema de circulación.",
        "Entumecimiento junto con fiebre, antecedentes de cáncer, o si ha bajado de peso sin "
        "proponérselo.",
        "Debilidad que empeora rápidamente.",
    ),
    diabetes=(
        "Si tiene diabetes, avise a su equipo de atención de la diabetes de cualquier "
        "entumecimiento nuevo."
    ),
    disclaimer=("Este correo es información general. No es un diagnóstico ni un consejo médico."),
)

_BOXES = {"en": SAFETY, "es": SAFETY_ES}


def safety_for(language: str | None) -> SafetyBox:
    """Return the safety box in `language` (a tag such as "es" or "es-MX"); English if none."""
    if not language:
        return SAFETY
    return _BOXES.get(language, _BOXES.get(language.split("-")[0].lower(), SAFETY))
