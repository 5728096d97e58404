"""What a patient sees: landing, check-inbox, confirmed, unsubscribed and preferences pages."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from nurture.core import clock
from nurture.core.config import Settings, get_settings
from nurture.delivery import service as delivery
from nurture.delivery.channels.registry import get_backend
from nurture.enrollments.models import Enrollment
from nurture.leads.models import ConsentRecord, Lead, LeadStatus
from nurture.messages.links import confirm_url, preferences_url, unsubscribe_url
from nurture.outbox.models import Message
from tests.factories import make_lead, outbox_messages, text_part

FORM = {
    "first_name": "Ann",
    "email": "ann@example.com",
    "numbness_type": "chronic",
    "timezone": "Europe/Berlin",
    "consent": "true",
}
HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def _path(url: str) -> str:
    return url.removeprefix(get_settings().base_url)


def _count(session, model, *where) -> int:  # type: ignore[no-untyped-def]
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(model).where(*where)))


def _tick() -> None:
    delivery.tick(dispatch=lambda ids: delivery.deliver_batch(ids, backend=get_backend()))


def _sign_up(client, **change: str):  # type: ignore[no-untyped-def]
    """Post the landing form and return the check-inbox URL it redirects to."""
    response = client.post("/subscribe", data={**FORM, **change}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return response.headers["location"]


def _ticket_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["t"][0]


def _active_lead(session, sequences_loaded=None) -> Lead:  # type: ignore[no-untyped-def]
    lead = make_lead(session, email_address="kai@example.com", first_name="Kai")
    session.commit()
    return lead


class _Fields(HTMLParser):
    """Collect the ids, aria-describedby and text of elements, in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.described: dict[str, str] = {}
        self.text_of: dict[str, str] = {}
        self._open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("aria-describedby") and a.get("name"):
            self.described.setdefault(str(a["name"]), str(a["aria-describedby"]))
        if a.get("id", "").endswith("-error"):  # type: ignore[union-attr]
            self._open.append(str(a["id"]))
            self.text_of[str(a["id"])] = ""

    def handle_data(self, data: str) -> None:
        for name in self._open:
            self.text_of[name] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "p" and self._open:
            self._open.pop()


# --- the landing page ----------------------------------------------------------------------


def test_landing_page_shows_the_clinic_and_links_the_privacy_notice(client, settings) -> None:
    settings(
        clinic_logo_url="https://clinic.example/logo.png",
        clinic_phone="+1 (555) 010-0000",
        clinic_address="9 Harbour Road, Springfield",
    )
    page = client.get("/").text
    assert '<img src="https://clinic.example/logo.png" alt="Example Spine &amp; Nerve Clinic">' in (
        page
    )
    assert '<a href="tel:+15550100000">+1 (555) 010-0000</a>' in page
    assert "9 Harbour Road, Springfield" in page
    assert 'href="/privacy"' in page


def test_logo_must_be_https(settings) -> None:
    with pytest.raises(ValidationError, match="https"):
        Settings(clinic_logo_url="http://clinic.example/logo.png")


@pytest.mark.parametrize("field", ["booking_url", "clinic_logo_url", "review_url"])
@pytest.mark.parametrize("url", ["https://", "https://?x=1", "https:///book"])
def test_installed_addresses_need_a_host(field: str, url: str) -> None:
    # Every email links the booking page: "https://" would send a link to nowhere.
    with pytest.raises(ValidationError, match=f"NURTURE_{field.upper()}"):
        Settings(**{field: url})


def test_privacy_notice_says_what_is_kept_why_and_for_how_long(client, settings) -> None:
    settings(purge_unconfirmed_days="45")
    page = client.get("/privacy")
    assert page.status_code == 200
    text = re.sub(r"<[^>]+>", "", page.text)
    for kept in ("email address", "first name", "kind of numbness", "time zone", "consent"):
        assert kept in text, kept
    assert "internet address" in text  # the consent record's IP
    assert "delivered, opened, clicked" in text  # email events
    assert "after 45 days" in text
    assert "Delete my data" in text


def test_time_zone_is_a_list_starting_at_the_clinic_zone(client, settings) -> None:
    settings(clinic_timezone="America/Chicago")
    page = client.get("/").text
    select_html = page.split('<select id="timezone"', 1)[1].split("</select>", 1)[0]
    assert select_html.count("<option") > 300
    assert '<optgroup label="Europe">' in select_html
    chosen = re.findall(r'<option value="([^"]+)" selected>([^<]*)<', select_html)
    assert chosen == [("America/Chicago", "Chicago (our clinic's time zone)")]
    assert 'data-clinic-zone="America/Chicago"' in page
    # The browser's own zone is picked by a static script (no inline script under the CSP).
    assert '<script src="/static/landing.js"></script>' in page
    script = client.get("/static/landing.js").text
    assert "resolvedOptions().timeZone" in script


def test_an_old_zone_name_is_kept_when_the_form_comes_back(client) -> None:
    page = client.post("/subscribe", data={**FORM, "email": "", "timezone": "Asia/Calcutta"})
    assert page.status_code == 422
    assert '<option value="Asia/Calcutta" selected>' in page.text


def test_form_errors_are_plain_in_form_order_and_beside_their_fields(client, session) -> None:
    page = client.post("/subscribe", data={"first_name": " ", "email": "", "timezone": ""})
    assert page.status_code == 422
    summary = page.text.split('id="error-summary"', 1)[1].split("</div>", 1)[0]
    messages = re.findall(r"<li><a href=\"#([^\"]+)\">([^<]+)</a></li>", summary)
    assert messages == [
        ("first_name", "Please enter your first name"),
        ("email", "Please enter your email address"),
        ("numbness_type-acute", "Please choose the kind of numbness that sounds most like yours"),
        ("consent", "Please tick the box to agree to receive our emails"),
    ]
    fields = _Fields()
    fields.feed(page.text)
    for name, (_, message) in zip(
        ("first_name", "email", "numbness_type", "consent"), messages, strict=True
    ):
        described = fields.described[name]
        assert fields.text_of[described] == message, name
    bad = client.post("/subscribe", data={**FORM, "email": "ann@"})
    assert "Please enter a complete email address, like name@example.com" in bad.text
    assert _count(session, Lead) == 0


# --- check your inbox ----------------------------------------------------------------------


def test_signup_redirects_to_a_check_inbox_page_that_is_safe_to_reload(client, session) -> None:
    url = _sign_up(client)
    assert url.startswith("/subscribe/sent?t=")
    assert "ann" not in url.lower()  # the ticket is sealed: no address in history or logs
    for _ in range(3):
        page = client.get(url)
        assert page.status_code == 200
        assert '<strong class="address">ann@example.com</strong>' in page.text
        assert page.headers["cache-control"] == "no-store"
    assert _count(session, Lead) == 1
    assert _count(session, ConsentRecord) == 1
    assert _count(session, Message) == 1


def test_check_inbox_page_expires_and_refuses_forgeries(client) -> None:
    from nurture.leads import ticket

    with clock.frozen_at(datetime.now(UTC) - timedelta(hours=2)):
        old = ticket.seal({"e": "ann@example.com"})
    assert client.get(f"/subscribe/sent?t={old}").status_code == 400
    assert client.get("/subscribe/sent?t=forged").status_code == 400
    assert client.post("/subscribe/resend", data={"t": "forged"}).status_code == 400


def test_resend_answers_alike_for_new_and_known_addresses(client, session, settings) -> None:
    active = make_lead(session, email_address="bo@example.com")
    session.commit()
    pages = []
    for address in ("ann@example.com", "bo@example.com"):
        sealed = _ticket_of(_sign_up(client, email=address))
        page = client.post("/subscribe/resend", data={"t": sealed})
        assert page.status_code == 200
        pages.append(page.text.replace(address, "ADDRESS"))
    # Each page carries its own sealed ticket; the two have the same length, the rest is equal.
    tickets = [re.findall(r'name="t" value="([^"]+)"', page)[0] for page in pages]
    assert len(tickets[0]) == len(tickets[1])
    assert pages[0].replace(tickets[0], "T") == pages[1].replace(tickets[1], "T")
    assert "a new link is on its way" in pages[0]
    # The waiting address got its link again; the subscribed one got nothing at all.
    assert (
        _count(session, Message, Message.template == "confirm", Message.lead_id != active.id) == 2
    )
    assert _count(session, Message, Message.lead_id == active.id) == 0


def test_resend_is_rate_limited_per_address(client, session, settings) -> None:
    settings(signup_rate_per_address="2/hour")
    sealed = _ticket_of(_sign_up(client))
    assert client.post("/subscribe/resend", data={"t": sealed}).status_code == 200
    limited = client.post("/subscribe/resend", data={"t": sealed})
    assert limited.status_code == 429
    assert "Please wait" in limited.text
    assert _count(session, Message) == 2


def test_a_mistyped_address_can_be_corrected_from_the_same_page(client, session) -> None:
    sealed = _ticket_of(_sign_up(client, email="ann@exmaple.com"))
    session.expire_all()
    typo = session.scalars(select(Lead)).one()
    stale_link = _path(confirm_url(typo))
    bad = client.post("/subscribe/correct", data={"t": sealed, "email": "ann@"})
    assert bad.status_code == 422
    assert 'aria-describedby="email-error"' in bad.text
    assert "Please enter a complete email address" in bad.text
    response = client.post(
        "/subscribe/correct", data={"t": sealed, "email": "ann@example.com"}, follow_redirects=False
    )
    assert response.status_code == 303
    page = client.get(response.headers["location"])
    assert '<strong class="address">ann@example.com</strong>' in page.text
    assert "mistyped one is cancelled" in page.text
    session.expire_all()
    lead = session.scalars(select(Lead)).one()
    assert (lead.email, lead.first_name, lead.numbness_type, lead.timezone) == (
        "ann@example.com",
        "Ann",
        "chronic",
        "Europe/Berlin",
    )
    assert _count(session, ConsentRecord) == 1
    assert _count(session, Message) == 1  # the mistyped address's email went with its lead
    assert client.get(stale_link).status_code == 400
    assert client.post(stale_link).status_code == 400


def test_correcting_never_touches_a_confirmed_address(client, session) -> None:
    owner = make_lead(session, email_address="kai@example.com")
    session.commit()
    sealed = _ticket_of(_sign_up(client, email="kai@example.com"))
    client.post("/subscribe/correct", data={"t": sealed, "email": "ann@example.com"})
    session.expire_all()
    assert session.get(Lead, owner.id).status == LeadStatus.ACTIVE  # type: ignore[union-attr]
    assert _count(session, Lead) == 2


def test_correcting_keeps_the_owners_own_earlier_signup(client, session) -> None:
    _sign_up(client, email="kai@example.com", first_name="Kai")  # the owner, earlier
    sealed = _ticket_of(_sign_up(client, email="kai@example.com"))  # a typo of someone else's
    client.post("/subscribe/correct", data={"t": sealed, "email": "ann@example.com"})
    session.expire_all()
    kai = session.scalars(select(Lead).where(Lead.email == "kai@example.com")).one()
    assert len(kai.consents) == 1
    assert _count(session, Lead) == 2


# --- confirmed, unsubscribed, goodbye ------------------------------------------------------


def test_opening_a_confirmation_link_only_shows_the_button(
    client, session, sequences_loaded
) -> None:
    # Mail scanners open every link: a GET must leave the signup pending with nothing planned.
    _sign_up(client)
    session.expire_all()
    lead = session.scalars(select(Lead)).one()
    url = _path(confirm_url(lead))
    for _ in range(2):
        page = client.get(url)
        assert page.status_code == 200
        assert '<form method="post" action="">' in page.text
        assert "Yes, confirm my email" in page.text
    session.expire_all()
    lead = session.get(Lead, lead.id)  # type: ignore[assignment]
    assert (lead.status, lead.confirmed_at) == (LeadStatus.PENDING, None)
    assert _count(session, Enrollment) == 0
    assert _count(session, Message, Message.template != "confirm") == 0
    assert "You're confirmed" in html.unescape(client.post(url).text)
    session.expire_all()
    planned = _count(session, Message)
    assert _count(session, Enrollment) == 1
    # Pressing again (a replayed form) changes nothing and plans nothing more.
    assert "Already confirmed" in client.post(url).text
    assert "Already confirmed" in client.get(url).text
    session.expire_all()
    assert (_count(session, Enrollment), _count(session, Message)) == (1, planned)


def test_confirmed_page_says_what_happens_next_and_offers_booking(
    client, session, sequences_loaded, settings
) -> None:
    settings(booking_url="https://book.clinic.example/now")
    _sign_up(client)
    session.expire_all()
    lead = session.scalars(select(Lead)).one()
    page = client.post(_path(confirm_url(lead)))
    assert page.status_code == 200
    assert "You're confirmed, Ann" in html.unescape(page.text)
    assert "What happens next" in page.text
    assert re.search(r"about \d+ short emails, roughly one every \d+ days?", page.text)
    assert 'href="https://book.clinic.example/now"' in page.text
    again = client.post(_path(confirm_url(lead)))
    assert "Already confirmed" in again.text
    assert 'href="https://book.clinic.example/now"' in again.text


def test_unsubscribed_page_offers_to_come_back_through_a_new_confirmation(
    client, session, sequences_loaded
) -> None:
    lead = _active_lead(session)
    url = _path(unsubscribe_url(lead))
    page = client.post(url)
    assert "You're unsubscribed" in html.unescape(page.text)
    assert f'action="{url}/resubscribe"' in page.text
    unticked = client.post(f"{url}/resubscribe", data={})
    assert unticked.status_code == 422
    assert "Please tick the box" in unticked.text
    done = client.post(f"{url}/resubscribe", data={"consent": "true"}, follow_redirects=False)
    assert done.status_code == 303
    assert "We have sent you a new link" in client.get(done.headers["location"]).text
    session.expire_all()
    lead = session.get(Lead, lead.id)  # type: ignore[assignment]
    assert lead.status == LeadStatus.UNSUBSCRIBED  # until the new link is clicked
    fresh = [c for c in lead.consents if c.withdrawn_at is None]
    assert len(fresh) == 1
    assert fresh[0].source == "unsubscribe page: resubscribe"
    assert _count(session, Message, Message.template == "confirm") == 1
    assert client.post(_path(confirm_url(lead))).status_code == 200
    session.expire_all()
    assert session.get(Lead, lead.id).status == LeadStatus.ACTIVE  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("reason", "says"),
    [
        ("bounce", "could not deliver our emails to your address"),
        ("invalid", "could not deliver our emails to your address"),
        ("complaint", "marked one of our emails as spam"),
        ("staff", "switched off"),
    ],
)
def test_coming_back_with_a_suppressed_address_says_what_really_happens(
    client, session, reason, says
) -> None:
    from nurture.leads.suppressions import suppress

    lead = _active_lead(session)
    url = _path(unsubscribe_url(lead))
    client.post(url)
    suppress(session, email=lead.email, reason=reason, source="test", now=clock.now())
    session.commit()
    before = _count(session, ConsentRecord)
    answer = client.post(f"{url}/resubscribe", data={"consent": "true"}, follow_redirects=False)
    assert answer.status_code == 409
    page = html.unescape(answer.text)
    assert says in page
    assert "contact the clinic" in page
    assert get_settings().clinic_phone in page
    assert "sent you" not in page
    # Nothing is planned that could never go, and no consent is recorded for it.
    assert _count(session, Message, Message.template == "confirm") == 0
    assert _count(session, ConsentRecord) == before


def test_goodbye_email_links_to_the_signup_page(client, session) -> None:
    lead = _active_lead(session)
    client.post(_path(unsubscribe_url(lead)))
    _tick()
    goodbye = outbox_messages(get_settings().resolved_outbox_dir)[-1]
    assert goodbye["Subject"] == "You're unsubscribed"
    assert re.search(
        rf"sign up again .*\s+{re.escape(get_settings().base_url)}/\s", text_part(goodbye)
    )
    body = str(goodbye.get_body(preferencelist=("html",)).get_content())  # type: ignore[union-attr]
    assert re.search(rf'<a href="{re.escape(get_settings().base_url)}/"[^>]*>sign up again', body)
    # Every email's footer links the privacy notice.
    assert f"{get_settings().base_url}/privacy" in text_part(goodbye)
    assert re.search(rf'<a href="{re.escape(get_settings().base_url)}/privacy"', body)


# --- preferences ---------------------------------------------------------------------------


def test_unsubscribed_lead_sees_how_to_come_back_and_gets_no_notice(client, session) -> None:
    lead = _active_lead(session)
    url = _path(preferences_url(lead))
    client.post(url, data={"action": "unsubscribe"})
    page = client.get(url)
    assert "You're unsubscribed" in html.unescape(page.text)
    assert f'action="{url}/resubscribe"' in page.text
    assert 'value="pause2"' not in page.text
    changed = client.post(url, data={"action": "type", "numbness_type": "acute"})
    assert changed.status_code == 409
    assert "Saved" not in changed.text
    paused = client.post(url, data={"action": "pause2"})
    assert "Paused" not in paused.text
    assert _count(session, Message, Message.template == "preferences_changed") == 0
    session.expire_all()
    assert session.get(Lead, lead.id).numbness_type == "chronic"  # type: ignore[union-attr]
    back = client.post(f"{url}/resubscribe", data={"consent": "true"}, follow_redirects=False)
    assert back.status_code == 303


def test_paused_lead_can_resume_now(client, session, sequences_loaded) -> None:
    lead = _active_lead(session)
    from nurture.enrollments import service as enrollments

    enrollments.enroll(session, lead=lead, now=clock.now())
    session.commit()
    url = _path(preferences_url(lead))
    client.post(url, data={"action": "pause4"})
    with clock.frozen_at(datetime.now(UTC) + timedelta(days=1)):
        _tick()  # the welcome email is held to the pause's end
    session.expire_all()
    held = session.scalars(select(Message).where(Message.step_id.is_not(None))).one()
    assert held.due_at > datetime.now(UTC) + timedelta(days=20)
    page = client.get(url)
    assert "Resume emails now" in page.text
    resumed = client.post(url, data={"action": "resume"})
    assert "Welcome back" in resumed.text
    session.expire_all()
    assert session.get(Lead, lead.id).paused_until is None  # type: ignore[union-attr]
    held = session.get(Message, held.id)  # type: ignore[assignment]
    assert held.due_at <= datetime.now(UTC)
    assert "Resume emails now" not in client.get(url).text


def test_changes_made_together_send_one_notice(client, session, sequences_loaded) -> None:
    lead = _active_lead(session)
    url = _path(preferences_url(lead))
    page = client.post(url, data={"action": "pause2", "numbness_type": "acute"})
    assert "Saved. Your next emails will match." in html.unescape(page.text)
    assert "Paused." in page.text
    notices = session.scalars(
        select(Message).where(Message.template == "preferences_changed")
    ).all()
    assert len(notices) == 1
    change = notices[0].context["change"]
    assert "kind of numbness" in change
    assert "paused until" in change


def test_destructive_buttons_look_destructive(client, session) -> None:
    lead = _active_lead(session)
    page = client.get(_path(preferences_url(lead))).text
    assert re.search(
        r'<button type="submit" name="action" value="unsubscribe" class="danger">', page
    )
    assert re.search(r'<button type="submit" name="action" value="delete" class="danger">', page)
    assert "button.danger { background: #a4161a; }" in page
    confirm = client.get(_path(unsubscribe_url(lead))).text
    assert '<button type="submit" class="danger">Unsubscribe me</button>' in confirm


def test_privacy_notice_says_what_reaches_the_email_provider(client, settings) -> None:
    from nurture.messages.preview import CONDITION_WORDS, all_samples

    settings(base_url="https://nurture.clinic.example.org")
    text = " ".join(re.sub(r"<[^>]+>", " ", client.get("/privacy").text).split())
    samples = list(all_samples())
    # The shipped bodies do teach about the type the lead picked, and they go through the
    # provider: the notice must say so, and not promise that nothing handed over carries it.
    assert any(CONDITION_WORDS.search(s.email.text) for s in samples if s.marketing)
    assert "anything we hand to our email provider" not in text
    assert "including what the email says about the kind of numbness you picked" in text
    # What it does promise holds for every shipped email: subjects, previews and links.
    assert "It never appears in an email's subject, in the preview line" in text
    for sample in samples:
        email = sample.email
        first_text_line = email.text.split("\n", 1)[0]
        # The clinic's own booking address is its setting; what Nurture adds must be neutral.
        links = " ".join(re.findall(r'href="([^"]+)"', email.html)).replace(
            get_settings().booking_url, ""
        )
        for seen in (email.subject, email.preheader, first_text_line, links):
            assert not CONDITION_WORDS.search(seen), (sample.name, seen)


@pytest.mark.parametrize(
    ("locale", "pattern"),
    [("en_US", r"[A-Z][a-z]+ \d{1,2}, 20\d\d"), ("en_GB", r"\d{1,2} [A-Z][a-z]+ 20\d\d")],
)
def test_pause_dates_follow_the_clinic_locale(
    client, session, sequences_loaded, settings, locale: str, pattern: str
) -> None:
    settings(clinic_locale=locale)
    lead = _active_lead(session)
    url = _path(preferences_url(lead))
    saved = client.post(url, data={"action": "pause4"}).text
    session.expire_all()
    until = session.get(Lead, lead.id).paused_until  # type: ignore[union-attr]
    from nurture.rendering.dates import format_day

    day = format_day(until, lead.timezone, locale)
    assert re.fullmatch(pattern, day)
    assert f"We'll be back in touch after {day}." in html.unescape(saved)
    assert f"Emails are paused until {day}." in html.unescape(client.get(url).text)
    [notice] = session.scalars(
        select(Message).where(Message.template == "preferences_changed")
    ).all()
    assert notice.context["change"] == f"emails are paused until {day}"
