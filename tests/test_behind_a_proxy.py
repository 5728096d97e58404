"""Behind a reverse proxy, `nurture web` sees each patient's own address, and only from the proxy.

The "proxy" is a client connecting from 127.0.0.2 (all of 127.0.0.0/8 is this machine on Linux,
so nothing is set up or left behind), trusted through NURTURE_FORWARDED_ALLOW_IPS as compose
trusts Caddy's address; another client at 127.0.0.3 is not trusted and forges the header.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from nurture.leads.models import ConsentRecord, Lead
from tests.processes import serving_web

pytestmark = pytest.mark.slow

PROXY = "127.0.0.2"
STRANGER = "127.0.0.3"


def _from(address: str, base: str) -> httpx.Client:
    return httpx.Client(
        base_url=base, transport=httpx.HTTPTransport(local_address=address), timeout=10
    )


def _signup(client: httpx.Client, email: str, forwarded_for: str) -> int:
    body = {"email": email, "first_name": "Ann", "numbness_type": "chronic", "consent": True}
    answer = client.post("/api/subscribe", json=body, headers={"X-Forwarded-For": forwarded_for})
    return answer.status_code


def _recorded_ip(session, email: str) -> str | None:  # type: ignore[no-untyped-def]
    session.expire_all()
    return session.scalar(
        select(ConsentRecord.ip_address)
        .join(Lead, Lead.id == ConsentRecord.lead_id)
        .where(Lead.email == email)
    )


def test_a_trusted_proxy_passes_each_clients_address_and_a_stranger_cannot_forge_one(
    tmp_path: Path, session
) -> None:
    with (
        serving_web(tmp_path, forwarded_allow_ips=PROXY, signup_rate_per_ip="2/minute") as base,
        _from(PROXY, base) as proxy,
        _from(STRANGER, base) as stranger,
    ):
        # Through the proxy: the consent record names the patient, not the proxy.
        assert _signup(proxy, "ann@example.com", "203.0.113.21") == 202
        assert _recorded_ip(session, "ann@example.com") == "203.0.113.21"
        # Each patient has a bucket of their own: one busy client does not block the next.
        assert _signup(proxy, "bea@example.com", "203.0.113.21") == 202
        assert _signup(proxy, "cal@example.com", "203.0.113.21") == 429
        assert _signup(proxy, "dee@example.com", "203.0.113.22") == 202
        assert _recorded_ip(session, "dee@example.com") == "203.0.113.22"

        # Not the proxy: X-Forwarded-For is ignored, so a made-up address is neither recorded
        # nor a way round the limit.
        assert _signup(stranger, "eve@example.com", "198.51.100.1") == 202
        assert _recorded_ip(session, "eve@example.com") == STRANGER
        assert _signup(stranger, "fay@example.com", "198.51.100.2") == 202
        assert _signup(stranger, "gus@example.com", "198.51.100.3") == 429
        assert _recorded_ip(session, "gus@example.com") is None
