"""The kinds of value a setting holds, each checked as it is read from the environment.

`nurture.core.config.Settings` names these as its fields' types, so a bad value is refused
when the settings load, with a message naming the expected form.
"""

from __future__ import annotations

from datetime import date
from ipaddress import ip_network
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from pydantic import AfterValidator, BeforeValidator, ValidationInfo
from pydantic_settings import NoDecode

from nurture.core.web_address import has_web_host


def _known_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA time zone {value!r}") from exc
    return value


def _known_locale(value: str) -> str:
    try:
        return str(Locale.parse(value.strip().replace("-", "_")))
    except (ValueError, TypeError, UnknownLocaleError) as exc:
        raise ValueError(f"unknown locale {value!r} (expected e.g. en_US, en_GB, de_DE)") from exc


def _language_tags(value: object) -> object:
    from nurture.core.language_tags import check_tag

    if isinstance(value, str):
        value = [part for part in value.split(",") if part.strip()]
    if not isinstance(value, list):
        return value
    tags: list[str] = []
    for part in value:
        try:
            tag = check_tag(str(part))
        except ValueError as exc:
            raise ValueError(f"NURTURE_LANGUAGES: {exc}") from exc
        if tag not in tags:
            tags.append(tag)
    if not tags:
        raise ValueError("NURTURE_LANGUAGES must name at least one language, e.g. en,es")
    return tags


def _proxies(value: str) -> str:
    parts = [part.strip() for part in value.split(",") if part.strip()]
    for part in parts:
        if part == "*":
            continue
        try:
            ip_network(part, strict=False)
        except ValueError as exc:
            raise ValueError(
                f"{part!r} is not an IP address or network (e.g. 172.30.255.2 or 10.0.0.0/8)"
            ) from exc
    return ",".join(parts)


def _comma_ints(value: object) -> object:
    if isinstance(value, str):
        return [int(part) for part in value.split(",") if part.strip()]
    return value


def _comma_channels(value: object) -> object:
    if isinstance(value, str):
        return [part.strip().lower() for part in value.split(",") if part.strip()]
    return value


def _country(value: str) -> str:
    import phonenumbers

    code = value.strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"unknown country {value!r} (expected a code such as US, GB, DE)")
    return code


def _comma_origins(value: object) -> object:
    if isinstance(value, str):
        return [part.strip().rstrip("/") for part in value.split(",") if part.strip()]
    return value


def _rate(value: str) -> str:
    from limits import parse

    try:
        parse(value)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a rate such as 10/minute") from exc
    return value


def _comma_dates(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _https(value: str, info: ValidationInfo) -> str:
    value = value.strip()
    if value and not has_web_host(value):
        raise ValueError(f"NURTURE_{str(info.field_name).upper()} must be an https:// address")
    return value


def _accent(value: str) -> str:
    from nurture.core.colours import check_accent

    try:
        return check_accent(value)
    except ValueError as exc:
        raise ValueError(f"NURTURE_ACCENT_COLOR {exc}") from exc


# An IANA time zone name, such as America/New_York.
TimeZoneName = Annotated[str, AfterValidator(_known_zone)]
# A Babel/CLDR locale, written en_US or en-US, kept as en_US.
LocaleName = Annotated[str, AfterValidator(_known_locale)]
# BCP 47 language tags, comma-separated in the environment; duplicates dropped, order kept.
LanguageTags = Annotated[list[str], NoDecode, BeforeValidator(_language_tags)]
# Addresses or networks, comma-separated, or "*" for every client.
ProxyList = Annotated[str, AfterValidator(_proxies)]
# Whole numbers, comma-separated in the environment ("48,2").
CommaInts = Annotated[list[int], NoDecode, BeforeValidator(_comma_ints)]
# The channels that carry a kind of message, comma-separated ("email,sms").
ChannelList = Annotated[list[Literal["email", "sms"]], NoDecode, BeforeValidator(_comma_channels)]
# An ISO 3166 country code that phone numbers are read in (US, GB, DE), kept upper case.
CountryCode = Annotated[str, AfterValidator(_country)]
# Web origins, comma-separated, without a trailing slash.
OriginList = Annotated[list[str], NoDecode, BeforeValidator(_comma_origins)]
# A rate limit such as 10/minute or 5/hour.
RateText = Annotated[str, AfterValidator(_rate)]
# Days (YYYY-MM-DD), comma-separated in the environment.
DateList = Annotated[list[date], NoDecode, BeforeValidator(_comma_dates)]
# An https:// address with a host (see web_address), or empty for none.
HttpsAddress = Annotated[str, AfterValidator(_https)]
# A button colour that white text can be read on (#rrggbb).
AccentColor = Annotated[str, AfterValidator(_accent)]
