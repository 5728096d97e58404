"""Behind a reverse proxy, `nurture web` sees each patient's own address, and only from the proxy.

Clients connect from addresses of this machine, so nothing is set up or left behind: 127.0.0.2
and 127.0.0.3 (all of 127.0.0.0/8 is this machine on Linux) and the machine's own network
address, which is not loopback, as Caddy's 172.30.255.2 is not in compose. The proxy is trusted
through NURTURE_FORWARDED_ALLOW_IPS as compose trusts Caddy's address; the other client is not
trusted and forges the header. Web listens on every address, as in its container.
"""

from __future__ import annotations

import socket
from ipaddress import ip_address
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from nurture.leads.models import ConsentRecord, Lead
from tests.processes import serving_web

pytestmark = pytest.mark.slow


def _network_address() -> str | None:
    """This machine's IPv4 address on its network (not loopback), if it has one."""
    for destination in ("192.0.2.1", "10.255.255.255", "198.51.100.1"):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.connect((destination, 9))  # picks a route and source; sends nothing
            except OSError:
                continue
            address = str(probe.getsockname()[0])
        if not ip_address(address).is_loopback and not ip_address(address).is_unspecified:
            return address
    return None


NETWORK = _network_address()
needs_network = pytest.mark.skipif(NETWORK is None, reason="no non-loopback IPv4 address")


def _from(address: str, base: str) -> httpx.Client:
    """A client connecting from `address`, to web on the same kind of address."""
    if not ip_address(address).is_loopback:
        port = base.rsplit(":", 1)[1]
        base = f"http://{address}:{port}"  # loopback is not reached from a network address
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


@pytest.mark.parametrize(
    ("proxy_at", "stranger_at"),
    [
        pytest.param("127.0.0.2", "127.0.0.3", id="loopback"),
        pytest.param(NETWORK, "127.0.0.3", id="proxy-on-the-network", marks=needs_network),
        pytest.param("127.0.0.2", NETWORK, id="stranger-on-the-network", marks=needs_network),
    ],
)
def test_a_trusted_proxy_passes_each_clients_address_and_a_stranger_cannot_forge_one(
    tmp_path: Path, session, proxy_at: str, stranger_at: str
) -> None:
    with (
        serving_web(
            tmp_path,
            listen="0.0.0.0",
            forwarded_allow_ips=proxy_at,
            signup_rate_per_ip="2/minute",
        ) as base,
        _from(proxy_at, base) as proxy,
        _from(stranger_at, base) as stranger,
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
        assert _recorded_ip(session, "eve@example.com") == stranger_at
        assert _signup(stranger, "fay@example.com", "198.51.100.2") == 202
        assert _signup(stranger, "gus@example.com", "198.51.100.3") == 429
        assert _recorded_ip(session, "gus@example.com") is None
