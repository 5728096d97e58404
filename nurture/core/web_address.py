"""Whether an https address names a place on the web: a host with a dot, such as clinic.example.

`https://`, `https://?x`, `https:///path` and `https://localhost` all start like an address and
go nowhere from a patient's inbox; every place that takes a link the clinic types asks this.
"""

from __future__ import annotations

from urllib.parse import urlsplit


def has_web_host(url: str) -> bool:
    """Return True when `url` is https:// followed by a host name with a dot in it."""
    url = url.strip()
    if not url.lower().startswith("https://") or any(c.isspace() for c in url):
        return False
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return False
    return host is not None and "." in host.strip(".")
