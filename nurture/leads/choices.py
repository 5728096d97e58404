"""The answers the signup form and the preferences page offer, in words a patient uses."""

from __future__ import annotations

from nurture.core.translations import N_
from nurture.leads.models import NumbnessType

# Translated where shown (the templates call _() on each label and hint).
TYPE_CHOICES = [
    (
        NumbnessType.ACUTE.value,
        N_("It started recently"),
        N_("It came on suddenly and tends to pass."),
    ),
    (
        NumbnessType.CHRONIC.value,
        N_("It has lasted a long time"),
        N_("It has been there for weeks or months, or never fully goes away."),
    ),
    (
        NumbnessType.INTERMITTENT.value,
        N_("It comes and goes"),
        N_("It appears now and then and is hard to predict."),
    ),
    (NumbnessType.UNSURE.value, N_("I'm not sure"), N_("We will help you work out which fits.")),
]
