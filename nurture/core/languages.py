"""TEMPORARY stand-in for lang-core's module of the same name (replaced at merge)."""

from __future__ import annotations

from nurture.core.config import get_settings


def check_tag(tag: str) -> str:
    """Return `tag` as a BCP 47 tag."""
    parts = tag.strip().replace("_", "-").split("-")
    return "-".join([parts[0].lower(), *(p.upper() if len(p) == 2 else p for p in parts[1:])])


def offered() -> list[str]:
    """Return the clinic's languages, the default first."""
    return list(getattr(get_settings(), "languages", ["en", "es"]))


def default() -> str:
    """Return the clinic's default language."""
    return offered()[0]


def choose_leniently(tag: object) -> str:
    """Return the nearest offered language to `tag`, the default if none."""
    if not isinstance(tag, str) or not tag.strip():
        return default()
    wanted = check_tag(tag)
    for lang in offered():
        if lang == wanted or lang.split("-")[0] == wanted.split("-")[0]:
            return lang
    return default()


def formatting_locale(language: str) -> str:
    """Return the Babel locale for dates in `language` with the clinic's region."""
    region = get_settings().clinic_locale.replace("-", "_").partition("_")[2]
    base = language.split("-")[0]
    return f"{base}_{region}" if region else base
