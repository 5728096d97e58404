"""Signup limits: an IPv6 client counts as its /64, each network and each check-inbox page
have a daily cap, so neither fresh addresses nor one ticket can mail strangers without end."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from starlette.types import ASGIApp, Receive, Scope, Send

from nurture.leads.models import Lead
from nurture.leads.throttle import network
from nurture.web.app import create_app

SIGNUP = {
    "first_name": "Ann",
    "numbness_type": "chronic",
    "timezone": "Europe/Berlin",
    "consent": "true",
}


def _client_from_header(app: ASGIApp) -> ASGIApp:
    """Let each test request say which address it comes from, as a socket peer would."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            peer = dict(scope["headers"]).get(b"x-peer")
            if peer is not None:
                scope = {**scope, "client": (peer.decode(), 40000)}
        await app(scope, receive, send)

    return wrapped


@pytest.fixture
def peers(session) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(_client_from_header(create_app()), base_url="https://nurture.test") as c:
        yield c


def _sign_up(client: TestClient, peer: str, email: str) -> int:
    response = client.post(
        "/subscribe",
        data={**SIGNUP, "email": email},
        headers={"X-Peer": peer},
        follow_redirects=False,
    )
    return response.status_code


def _leads(session) -> int:  # type: ignore[no-untyped-def]
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(Lead)))


@pytest.mark.parametrize(
    ("address", "counted_as"),
    [
        ("2001:db8:aa:bb:1::1", "2001:db8:aa:bb::/64"),
        ("2001:db8:aa:bb:ffff:ffff:ffff:ffff", "2001:db8:aa:bb::/64"),
        ("2001:db8:aa:bc::1", "2001:db8:aa:bc::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        ("::ffff:198.51.100.7", "198.51.100.7"),
        ("198.51.100.7", "198.51.100.7"),
        ("testclient", "testclient"),
    ],
)
def test_a_client_counts_as_its_network(address: str, counted_as: str) -> None:
    assert network(address) == counted_as


def test_fresh_addresses_in_one_ipv6_64_share_one_limit(peers, session, settings) -> None:  # type: ignore[no-untyped-def]
    settings(signup_rate_per_ip="10/minute")
    codes = [
        _sign_up(peers, f"2001:db8:5:6:{i:x}::{i + 1:x}", f"stranger{i}@example.com")
        for i in range(30)
    ]
    assert codes == [303] * 10 + [429] * 20
    assert _leads(session) == 10
    # The next /64 along is another household, with its own limit.
    assert _sign_up(peers, "2001:db8:5:7::1", "neighbour@example.com") == 303


def test_each_network_has_a_daily_cap(peers, session, settings) -> None:  # type: ignore[no-untyped-def]
    settings(signup_rate_per_ip="1000/minute", signup_rate_per_network_daily="4/day")
    codes = [_sign_up(peers, "203.0.113.5", f"p{i}@example.com") for i in range(6)]
    assert codes == [303] * 4 + [429] * 2
    v6 = [_sign_up(peers, f"2001:db8:9:9::{i + 1:x}", f"q{i}@example.com") for i in range(6)]
    assert v6 == [303] * 4 + [429] * 2
    assert _sign_up(peers, "203.0.113.6", "other@example.com") == 303
    assert _leads(session) == 9


def _ticket(location: str) -> str:
    return parse_qs(urlsplit(location).query)["t"][0]


def test_one_check_inbox_page_cannot_mail_strangers_without_end(peers, session, settings) -> None:  # type: ignore[no-untyped-def]
    settings(signup_rate_per_ip="1000/minute", signup_rate_per_ticket_daily="3/day")
    first = peers.post(
        "/subscribe",
        data={**SIGNUP, "email": "ann@exmaple.com"},
        headers={"X-Peer": "198.51.100.1"},
        follow_redirects=False,
    )
    sealed = _ticket(first.headers["location"])
    codes = []
    for i in range(30):
        # Each correction from a fresh network, and with the ticket the last one handed back.
        response = peers.post(
            "/subscribe/correct",
            data={"t": sealed, "email": f"stranger{i}@example.com"},
            headers={"X-Peer": f"192.0.2.{i + 1}"},
            follow_redirects=False,
        )
        codes.append(response.status_code)
        if response.status_code == 303:
            sealed = _ticket(response.headers["location"])
    assert codes == [303] * 3 + [429] * 27
    # Resending from the same page counts against the same cap.
    resent = peers.post("/subscribe/resend", data={"t": sealed}, headers={"X-Peer": "192.0.2.99"})
    assert resent.status_code == 429
    # A different signup's page has its own.
    other = peers.post(
        "/subscribe",
        data={**SIGNUP, "email": "bo@example.com"},
        headers={"X-Peer": "198.51.100.2"},
        follow_redirects=False,
    )
    again = peers.post(
        "/subscribe/resend",
        data={"t": _ticket(other.headers["location"])},
        headers={"X-Peer": "192.0.2.100"},
    )
    assert again.status_code == 200
