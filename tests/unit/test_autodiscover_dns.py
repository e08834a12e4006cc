"""Autodiscover DNS checks against a DNS server the test runs on 127.0.0.1."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from exchange_agent.autodiscover import DnsSettings, Resolver, SrvTarget
from support.dns_server import LoopbackDnsServer, Zone

ZONE: Zone = {
    "*.contoso.com": [("A", "203.0.113.80")],
    "mail.contoso.com": [("A", "198.51.100.10"), ("AAAA", "2001:db8::10")],
    "www.contoso.com": [("A", "203.0.113.80")],
    "autodiscover.fabrikam.com": [("CNAME", "mail.contoso.com.")],
    "_autodiscover._tcp.tailspin.com": [
        ("SRV", "10 0 443 backup.tailspin.com."),
        ("SRV", "0 0 443 Mail.Contoso.com."),
    ],
    "*.wingtip.com": [("CNAME", "web.hosting.example.")],
    "web.hosting.example": [("A", "203.0.113.99")],
    "autodiscover.wingtip.com": [("CNAME", "mail.contoso.com.")],
    "own.wingtip.com": [("CNAME", "web.hosting.example.")],
}


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackDnsServer]:
    with LoopbackDnsServer(ZONE, servfail=frozenset({"broken.contoso.com"})) as running:
        yield running


@pytest.fixture
def resolver(server: LoopbackDnsServer) -> Resolver:
    return Resolver(DnsSettings((server.address,), port=server.port, timeout=2.0))


def test_resolve_explicit_record(resolver: Resolver) -> None:
    answer = resolver.resolve("Mail.Contoso.com.")

    assert answer.name == "mail.contoso.com"
    assert answer.addresses == frozenset({"198.51.100.10", "2001:db8::10"})
    assert not answer.through_wildcard
    assert answer.error is None


def test_resolve_only_through_wildcard(resolver: Resolver) -> None:
    answer = resolver.resolve("autodiscover.contoso.com")

    assert answer.resolves
    assert answer.addresses == frozenset({"203.0.113.80"})
    assert answer.through_wildcard


def test_resolve_cname_to_exchange(resolver: Resolver) -> None:
    answer = resolver.resolve("autodiscover.fabrikam.com")

    assert answer.addresses == frozenset({"198.51.100.10", "2001:db8::10"})
    assert answer.canonical_name == "mail.contoso.com"
    assert not answer.through_wildcard


def test_resolve_explicit_cname_beside_wildcard_cname(resolver: Resolver) -> None:
    explicit = resolver.resolve("autodiscover.wingtip.com")
    echoed = resolver.resolve("anything.wingtip.com")

    assert not explicit.through_wildcard
    assert echoed.through_wildcard
    assert echoed.addresses == frozenset({"203.0.113.99"})


def test_resolve_nxdomain(resolver: Resolver) -> None:
    answer = resolver.resolve("autodiscover.nowhere.test")

    assert not answer.resolves
    assert answer.error is None
    assert not answer.through_wildcard


def test_resolve_servfail_reports_error(resolver: Resolver) -> None:
    answer = resolver.resolve("broken.contoso.com")

    assert not answer.resolves
    assert answer.error is not None


def test_srv_sorted_by_priority(resolver: Resolver) -> None:
    targets, error = resolver.srv("tailspin.com")

    assert error is None
    assert targets == [
        SrvTarget(0, 0, 443, "mail.contoso.com"),
        SrvTarget(10, 0, 443, "backup.tailspin.com"),
    ]


def test_srv_missing(resolver: Resolver) -> None:
    targets, error = resolver.srv("nowhere.test")

    assert targets == []
    assert error is None


def test_queries_reach_only_loopback_server(server: LoopbackDnsServer, resolver: Resolver) -> None:
    before = len(server.queries)

    resolver.resolve("mail.contoso.com")

    assert len(server.queries) > before
    assert ("mail.contoso.com", "A") in server.queries


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"nameservers": ()}, "at least one nameserver"),
        ({"nameservers": ("dns.contoso.com",)}, "not an IP address"),
        ({"nameservers": ("127.0.0.1",), "port": 0}, "between 1 and 65535"),
        ({"nameservers": ("127.0.0.1",), "timeout": 0}, "positive seconds"),
    ],
)
def test_dns_settings_reject_bad_values(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DnsSettings(**kwargs)  # type: ignore[arg-type]
