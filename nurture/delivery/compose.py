"""Turn outbox rows into rendered emails from what the batch read up front (delivery/facts.py).

The facts and the holds (why a row must not be sent now) live in delivery/facts.py; they are
named here too for the modules that import them from here.
"""

from __future__ import annotations

from typing import Any

from nurture.appointments import ics
from nurture.clinic import service as clinic
from nurture.core import clock, languages
from nurture.core.config import get_settings
from nurture.delivery.channels.base import Attachment, OutgoingEmail
from nurture.delivery.facts import WEEK, Facts, Hold, check, check_appointment, gather
from nurture.delivery.forms import Form, Forms, substitutions
from nurture.delivery.language import broadcast_content, reader_language
from nurture.locations import service as locations
from nurture.messages import links
from nurture.messages.contexts import ASK, appointment_context, clinic_context, lead_context
from nurture.outbox.models import Message, Stream
from nurture.rendering.environment import RenderedEmail, get_renderer
from nurture.sequences.variants import content_in, content_of

__all__ = ["WEEK", "Facts", "Hold", "check", "check_appointment", "compose", "gather"]


def compose(message: Message, facts: Facts, forms: Forms | None = None) -> OutgoingEmail:
    """Render `message` for its recipient with the right sender and headers.

    With `forms`, a step or broadcast is rendered once for the batch and filled in per person
    where that gives the same email (delivery/forms.py).
    """
    s = get_settings()
    c = clinic.effective()
    lead = message.lead
    renderer = get_renderer()
    address = message.to_email or (lead.email if lead else "")
    custom_args = {"nurture_message_id": str(message.id)}
    attachments: tuple[Attachment, ...] = ()
    step = facts.steps.get(message.step_id) if message.step_id is not None else None
    broadcast = facts.broadcasts.get(message.broadcast_id or 0)
    unsubscribe = ""
    # The patient's language when it is not the default; a message without a translation
    # into it goes in the default language, layout and all.
    wanted = reader_language(lead)
    form: Form | None = None
    sources: tuple[str, str, str, str | None] | None = None
    in_language: str | None = None
    if broadcast is not None and lead is not None:
        name = f"broadcast-{broadcast.id}"
        content, is_translation = broadcast_content(broadcast, wanted)
        in_language = wanted if is_translation else None
        sources = (content.subject, content.preheader, content.body_html, content.body_text)
    elif step is not None and lead is not None:
        name = f"step-{step.id}"
        # The arm the row was planned with; the step's own content if it has no such arm.
        translated = content_in(step, message.variant_key, wanted) if wanted else None
        content = translated or content_of(step, message.variant_key)
        in_language = wanted if translated is not None else None
        sources = (content.subject, content.preheader, content.body_html, content.body_text)
    if sources is not None and lead is not None:
        visited = facts.visited[lead.id] if lead.id in facts.visited else ASK
        context = lead_context(lead, content=name, visited=visited)
        unsubscribe = context["unsubscribe_url"]  # signed once, used in body and header
        subject, preheader, body_html, body_text = sources

        def render(ctx: dict[str, Any]) -> RenderedEmail:
            return renderer.render_step(
                subject=subject,
                preheader=preheader,
                body_html=body_html,
                body_text=body_text,
                context=ctx,
                language=in_language,
            )

        if forms is None:
            rendered = render(context)
        else:
            # The language is part of the key: the layout's words follow it.
            rendered, form = forms.render((name, in_language, sources), render, context)
    else:
        context = {**clinic_context(), "marketing": False, **message.context}
        if lead is not None:
            context["first_name"] = lead.first_name
            context["location"] = locations.site(lead.location_key).context()
            context["preferences_url"] = links.preferences_url(lead)
            if message.template == "confirm":
                context["confirm_url"] = links.confirm_url(lead)
        appointment = facts.appointments.get(message.appointment_id or 0)
        if appointment is not None:
            context.update(appointment_context(appointment))
        rendered = renderer.render_named(message.template or "", context, language=wanted)
        if appointment is not None:
            cancel = message.context.get("kind") == "cancellation"
            calendar = ics.build(
                appointment,
                attendee=address,
                cancel=cancel,
                now=clock.now(),
                language=rendered.language,
            )
            attachments = (
                Attachment(
                    "appointment.ics",
                    calendar,
                    f"text/calendar; method={ics.method(cancel=cancel)}",
                ),
            )
    # The site the email speaks for (the visit's, or the lead's) sends it under its name.
    site = locations.site(context.get("location", {}).get("key"))
    common: dict[str, Any] = {
        "to_email": address,
        "subject": rendered.subject,
        "html": rendered.html,
        "text": rendered.text,
        "custom_args": custom_args,
        "language": rendered.language or languages.default(),
    }
    if form is not None and lead is not None:
        common["shared"] = form.body
        common["substitutions"] = substitutions(form, context)
    if message.stream == Stream.MARKETING and lead is not None:
        unsubscribe = unsubscribe or links.unsubscribe_url(lead)
        sender_domain = s.marketing_from_email.rpartition("@")[2]
        return OutgoingEmail(
            **common,
            from_email=s.marketing_from_email,
            from_name=site.marketing_from_name,
            headers={
                # Only the signed one-click link (RFC 8058): a mailto would go to a sender
                # address no one reads and would name the lead in the clear.
                "List-Unsubscribe": f"<{unsubscribe}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                "List-Id": f"{c.clinic_name} updates <updates.{sender_domain}>",
            },
            categories=("marketing",),
            track_opens=s.track_marketing_opens,
            track_clicks=s.track_marketing_clicks,
        )
    return OutgoingEmail(
        **common,
        from_email=s.transactional_from_email,
        from_name=site.transactional_from_name,
        categories=("transactional",),
        attachments=attachments,
    )
