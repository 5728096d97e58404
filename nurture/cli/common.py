"""Helpers shared by the command modules: loading settings and hiding passwords."""

from __future__ import annotations

import click
from pydantic import ValidationError

from nurture.core.config import Settings, get_settings


def load_settings() -> Settings:
    """Load the settings, or stop with a readable list of what is wrong in them."""
    try:
        return get_settings()
    except ValidationError as exc:
        lines = [
            f"  {'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}"
            for e in exc.errors()
        ]
        raise click.ClickException("invalid configuration:\n" + "\n".join(lines)) from exc


def redact(url: str) -> str:
    """Hide a password in a URL before printing it."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in creds else url
    return url
