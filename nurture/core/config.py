"""Settings read from NURTURE_* environment variables; unset means the embedded default."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, PrivateAttr, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from nurture.core.keyfile import load_or_create
from nurture.core.served_url import recorded
from nurture.core.setting_types import (
    AccentColor,
    ChannelList,
    CommaInts,
    CountryCode,
    DateList,
    HttpsAddress,
    LanguageTags,
    LocaleName,
    OriginList,
    ProxyList,
    RateText,
    TimeZoneName,
)

# The value earlier releases shipped as a default: public, so refused everywhere.
PLACEHOLDER_SECRET = "change-me-in-production"
PACKAGE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_BASE_URL = "http://127.0.0.1:8000"


def _default_templates_dir() -> Path:
    """Prefer the checkout's templates/emails; fall back to the copy bundled in the wheel."""
    checkout = PACKAGE_DIR.parent / "templates" / "emails"
    if checkout.is_dir():
        return checkout
    return PACKAGE_DIR / "_bundled" / "emails"


class Settings(BaseSettings):
    """Every knob of the service, with defaults that run on a bare machine."""

    model_config = SettingsConfigDict(env_prefix="NURTURE_", extra="ignore")

    env: Literal["development", "production"] = "development"
    data_dir: Path = Path("nurture-data")
    database_url: str | None = None
    broker_url: str | None = None
    email_backend: Literal["outbox", "sendgrid", "smtp"] | None = None
    sendgrid_api_key: SecretStr | None = None
    sendgrid_api_host: str = "https://api.sendgrid.com"
    sendgrid_timeout_seconds: float = 10.0
    sendgrid_transport: Literal["pooled", "package"] = "pooled"
    # Emails per SendGrid request when they share a body (SendGrid takes at most 1,000).
    sendgrid_batch_size: int = Field(default=1000, ge=1, le=1000)
    send_concurrency: int = Field(default=32, ge=1, le=256)
    send_rate_per_second: int = Field(default=0, ge=0)
    sendgrid_webhook_public_key: str | None = None
    sendgrid_webhook_tolerance_seconds: int = Field(default=600, ge=1)
    # Refused in production without a public key unless this opts in, since anyone could post
    # an unsigned `unsubscribe` or `spamreport` for any address.
    sendgrid_webhook_allow_unsigned: bool = False
    unknown_resend_after_seconds: int = Field(default=0, ge=0)
    track_marketing_opens: bool = True
    track_marketing_clicks: bool = True
    refuse_role_addresses: bool = False
    cors_origins: OriginList = Field(default_factory=list)
    signup_rate_per_ip: RateText = "10/minute"
    signup_rate_per_address: RateText = "5/hour"
    # A day's signups from one network (an IPv4 address, or an IPv6 /64: one household or
    # office gets a whole /64) and confirmation emails one check-inbox page may ask for.
    signup_rate_per_network_daily: RateText = "100/day"
    signup_rate_per_ticket_daily: RateText = "5/day"
    purge_unconfirmed_days: int = Field(default=30, ge=1)
    reminder_offsets_hours: CommaInts = Field(default_factory=lambda: [48, 2])
    # Hours before a visit that a patient who has not confirmed gets one nudge (0: none).
    confirm_nudge_hours: int = Field(default=24, ge=0, le=24 * 14)
    quiet_start_hour: int = Field(default=21, ge=0, le=23)
    quiet_end_hour: int = Field(default=8, ge=0, le=23)
    calcom_webhook_secret: SecretStr | None = None
    # /metrics answers only when this is set, and then only with it as a bearer token.
    metrics_token: SecretStr | None = None
    rebook_audience: str | None = "rebook"
    no_show_audience: str | None = "no-show"
    # Journeys (sequences with a `trigger:`): when the tick's scans start `lapsed` and
    # `cancelled_not_rebooked`, the weekly cap on marketing mail per person (0: none), and
    # whether patients who never opted in get them by soft opt-in.
    recall_after_days: int = Field(default=90, ge=1, le=3650)
    rebook_after_days: int = Field(default=2, ge=0, le=365)
    # A visit first heard of with its outcome (attended, missed) starts that outcome's journeys
    # if it began within this many days; an older one is history and starts nothing.
    journey_lookback_days: int = Field(default=7, ge=0, le=365)
    max_marketing_per_week: int = Field(default=3, ge=0, le=100)
    soft_opt_in_patients: bool = False
    # A review request (a step with `condition: review_due`) goes once a patient has been to
    # this many visits, and to nobody asked in the cool-down; never only to the happy ones.
    review_after_visits: int = Field(default=1, ge=1, le=100)
    review_cooldown_days: int = Field(default=180, ge=1, le=3650)
    refuse_disposable_addresses: bool = False
    # Text messages (Twilio): the account, the sender (a number, or a Messaging Service SID
    # starting MG) and the API address (a local server can stand in). Unset: texts go to the
    # local outbox beside the emails.
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from: str | None = None
    twilio_api_base: str = "https://api.twilio.com"
    twilio_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    sms_rate_per_second: int = Field(default=0, ge=0)
    # Where national phone numbers are read (ISO 3166 country code, e.g. US, GB, DE).
    clinic_country: CountryCode = "US"
    # Which channels carry visit reminders; texts need a phone number and SMS consent too.
    reminder_channels: ChannelList = Field(default=["email", "sms"])
    smtp_host: str = "localhost"
    smtp_port: int = 1025
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    # Each read and write of an SMTP session waits this long. A reply that does not come after
    # the message was sent leaves the email `unknown` (settled with `nurture outbox settle`).
    smtp_timeout_seconds: float = Field(default=30.0, gt=0, le=900)
    outbox_dir: Path | None = None
    templates_dir: Path = Field(default_factory=_default_templates_dir)
    # Unset: the address `nurture up` serves from this data directory (resolved_base_url).
    base_url: str | None = None
    # Unset: a random key generated once and kept in the data directory (resolved_secret_key).
    secret_key: SecretStr | None = None
    tick_seconds: float = 30.0
    # Celery worker processes per `nurture worker` (unset: 2, or 4 threads on the embedded
    # broker). Each process sends NURTURE_SEND_CONCURRENCY emails at once and takes ~140 MB.
    worker_concurrency: int | None = Field(default=None, ge=1, le=64)
    # Addresses (or networks) of reverse proxies whose X-Forwarded-For and X-Forwarded-Proto
    # `nurture web` believes; "*" trusts every client, which only a private network allows.
    forwarded_allow_ips: ProxyList = "127.0.0.1,::1"
    log_format: Literal["text", "json"] = "text"
    tick_batch_size: int = Field(default=200, ge=1, le=10_000)
    claim_lease_seconds: int = Field(default=300, ge=10)
    max_in_flight: int = Field(default=5000, ge=1)
    # How long a send that keeps failing for a passing reason (the provider or the network is
    # down) is retried before the email is given up: marketing mail (drip steps, broadcasts)
    # and transactional mail (confirmations, notices). Reminders retry until their visit starts.
    retry_marketing_hours: int = Field(default=72, ge=1, le=24 * 14)
    retry_transactional_hours: int = Field(default=48, ge=1, le=24 * 14)
    # `/readyz` reports `degraded` when the oldest email that should have gone is older than
    # this (a provider outage, or workers that cannot keep up).
    backlog_degraded_seconds: int = Field(default=900, ge=60)
    # Redis (rate limits, the broker) must answer within this many seconds or the request goes
    # on without it: limits are counted in this process, and the tick picks the work up later.
    redis_timeout_seconds: float = Field(default=0.5, gt=0, le=30)
    confirm_link_max_age_hours: int = Field(default=72, ge=1)
    max_request_bytes: int = 16 * 1024
    # How long a SQLite write waits for the single writer before the request answers 503.
    sqlite_busy_timeout_seconds: float = Field(default=15.0, gt=0, le=600)
    # SendGrid posts batches of thousands of events (several MB); Cal.com bookings carry notes.
    webhook_max_request_bytes: int = Field(default=8 * 1024 * 1024, ge=16 * 1024)
    max_upload_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    studio_session_hours: int = Field(default=12, ge=1, le=24 * 30)
    studio_lockout_failures: int = Field(default=5, ge=1)
    studio_lockout_minutes: int = Field(default=15, ge=1)
    studio_signin_rate_per_ip: RateText = "10/minute"

    clinic_name: str = "Example Spine & Nerve Clinic"
    clinic_address: str = "123 Example Street, Suite 4, Springfield, EX 00000"
    clinic_phone: str = "+1 555 010 0000"
    # Shown on the public pages with the clinic's name as its alt text; https only, so a page
    # served over https never loads a mixed-content image.
    clinic_logo_url: HttpsAddress = ""
    clinic_timezone: TimeZoneName = "America/New_York"
    # The language and conventions of every date and time a patient reads (Babel/CLDR locale).
    clinic_locale: LocaleName = "en_US"
    # The languages patients may read pages and messages in (BCP 47 tags); the first is the
    # clinic's default, for anyone whose language is not known or not offered.
    languages: LanguageTags = Field(default_factory=lambda: ["en", "es"])
    clinic_closures: DateList = Field(default_factory=list)
    booking_url: HttpsAddress = "https://booking.example.com/example-spine-and-nerve"
    # Where a patient leaves a review (every patient is asked); empty skips review requests.
    review_url: HttpsAddress = ""
    # Buttons in emails and on pages; white text on it must reach 4.5:1 contrast.
    accent_color: AccentColor = "#0b5cad"
    # Free text shown as written, one line per day or range ("Mon-Fri 8:00-18:00").
    opening_hours: str = ""
    marketing_from_email: str = "news@clinic.example"
    marketing_from_name: str = "Example Spine & Nerve Clinic"
    transactional_from_email: str = "appointments@clinic.example"
    transactional_from_name: str = "Example Spine & Nerve Clinic"
    # Signs the footer of education emails when set; never in a subject, sender or URL.
    clinician_name: str = Field(default="", max_length=100)
    clinician_credentials: str = Field(default="", max_length=100)
    # The name of the Cal.com booking-form question (a checkbox) where patients agree to texts.
    calcom_sms_consent_question: str = Field(default="sms_consent", max_length=100)

    _generated_key: str | None = PrivateAttr(default=None)
    _recorded_url: str | None = PrivateAttr(default=None)

    @property
    def default_language(self) -> str:
        """Return the clinic's default language: the first of NURTURE_LANGUAGES."""
        return self.languages[0]

    @field_validator(
        "sendgrid_api_key",
        "smtp_password",
        "database_url",
        "broker_url",
        "sendgrid_webhook_public_key",
        "calcom_webhook_secret",
        "twilio_account_sid",
        "twilio_auth_token",
        "twilio_from",
        "metrics_token",
        "secret_key",
        "base_url",
        "rebook_audience",
        "no_show_audience",
        "worker_concurrency",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("base_url", "sendgrid_api_host", "twilio_api_base")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value is not None else None

    @model_validator(mode="after")
    def _refuse_placeholders(self) -> Settings:
        secret = self.secret_key.get_secret_value() if self.secret_key is not None else None
        if (secret is None and self.env == "production") or (
            secret is not None and (secret == PLACEHOLDER_SECRET or len(secret) < 32)
        ):
            raise ValueError(
                "NURTURE_SECRET_KEY must be a random value of at least 32 characters (try: "
                "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'); in development "
                "leave it unset to use a key generated in the data directory"
            )
        if self.resolved_email_backend == "sendgrid" and self.sendgrid_api_key is None:
            raise ValueError("NURTURE_EMAIL_BACKEND=sendgrid needs NURTURE_SENDGRID_API_KEY")
        twilio = (self.twilio_account_sid, self.twilio_auth_token, self.twilio_from)
        if any(v is not None for v in twilio) and not all(v is not None for v in twilio):
            raise ValueError(
                "Twilio needs all three of NURTURE_TWILIO_ACCOUNT_SID, NURTURE_TWILIO_AUTH_TOKEN "
                "and NURTURE_TWILIO_FROM"
            )
        return self

    @property
    def resolved_database_url(self) -> str:
        """Return the database URL, defaulting to a SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'nurture.db').resolve()}"

    @property
    def resolved_secret_key(self) -> str:
        """Return the key that signs links and sessions: NURTURE_SECRET_KEY, else the data dir's."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        if self._generated_key is None:
            self._generated_key = load_or_create(self.data_dir)
        return self._generated_key

    @property
    def resolved_base_url(self) -> str:
        """Return this service's public address: NURTURE_BASE_URL, else what `up` serves."""
        if self.base_url:
            return self.base_url
        if self._recorded_url is None:
            self._recorded_url = recorded(self.data_dir) or DEFAULT_BASE_URL
        return self._recorded_url

    @property
    def resolved_broker_url(self) -> str:
        """Return the broker URL, defaulting to kombu's serverless filesystem transport."""
        return self.broker_url or "filesystem://"

    @property
    def shared_counter_url(self) -> str:
        """Where rate-limit counters live: Redis when it is the broker, else this process."""
        broker = self.resolved_broker_url
        return broker if broker.startswith(("redis://", "rediss://")) else "memory://"

    @property
    def broker_folder(self) -> Path:
        """Return the folder the filesystem transport keeps its messages in."""
        return (self.data_dir / "broker").resolve()

    @property
    def resolved_outbox_dir(self) -> Path:
        """Return where the outbox backend writes .eml files."""
        return (self.outbox_dir or self.data_dir / "outbox").resolve()

    @property
    def resolved_email_backend(self) -> str:
        """Return the delivery backend: explicit choice, else SendGrid when a key is set."""
        if self.email_backend:
            return self.email_backend
        return "sendgrid" if self.sendgrid_api_key is not None else "outbox"

    @property
    def resolved_text_backend(self) -> str:
        """Return where texts go: Twilio when its account is set, else the local outbox."""
        return "twilio" if self.twilio_account_sid is not None else "outbox"

    @property
    def texts_enabled(self) -> bool:
        """Tell whether visits get texts: sms is a reminder channel and texts can go somewhere.

        In production texts need Twilio; the local outbox stands in only in development.
        """
        if "sms" not in self.reminder_channels:
            return False
        return self.resolved_text_backend == "twilio" or self.env != "production"

    @property
    def is_sqlite(self) -> bool:
        """Tell whether the database is SQLite."""
        return self.resolved_database_url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read once from the environment."""
    return Settings()


def reset_settings() -> None:
    """Forget cached settings so the next call re-reads the environment (tests, CLI)."""
    get_settings.cache_clear()
