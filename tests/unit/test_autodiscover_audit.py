"""The Autodiscover audit over certificates, URLs, DNS and the SCP."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from exchange_agent.autodiscover import (
    AuditSettings,
    CertificateInfo,
    DnsSettings,
    DomainDns,
    Finding,
    NameResolution,
    Resolver,
    ServerFacts,
    SrvTarget,
    audit_autodiscover,
    certificate_info,
    gather_domain_dns,
)
from support.certs import NOW, make_certificate
from support.dns_server import LoopbackDnsServer, Zone

SCP = "https://autodiscover.contoso.com/Autodiscover/Autodiscover.xml"
URLS = ("https://mail.contoso.com/owa", "https://mail.contoso.com/EWS/Exchange.asmx")
ENDPOINT = "198.51.100.10"
GOOD_DNS = DomainDns(
    "contoso.com", NameResolution("autodiscover.contoso.com", frozenset({ENDPOINT}))
)


def iis(names: list[str], **kwargs: object) -> CertificateInfo:
    status = kwargs.pop("status", "Valid")
    raw = make_certificate(names[0] if names else "EX", names, **kwargs)  # type: ignore[arg-type]
    return certificate_info(raw, services="IMAP, POP, IIS, SMTP", status=str(status))


def server(name: str = "EX01", **overrides: object) -> ServerFacts:
    values: dict[str, object] = {
        "name": name,
        "scp_uri": SCP,
        "urls": URLS,
        "host_names": ("mail.contoso.com",),
        "certificates": (iis(["mail.contoso.com", "autodiscover.contoso.com"]),),
    }
    values.update(overrides)
    return ServerFacts(**values)  # type: ignore[arg-type]


def run(servers: list[ServerFacts], domains: list[DomainDns] | None = None) -> list[Finding]:
    settings = AuditSettings(external_endpoints=frozenset({ENDPOINT}))
    return audit_autodiscover(
        servers, [GOOD_DNS] if domains is None else domains, now=NOW, settings=settings
    )


def checks(findings: list[Finding]) -> list[tuple[str, str, str]]:
    return [(f.severity, f.check, f.subject) for f in findings]


def test_audit_clean_organization_passes() -> None:
    assert run([server("EX01"), server("EX02")]) == []


def test_audit_wildcard_certificate_covers_names() -> None:
    wildcard = iis(["*.contoso.com"])

    assert run([server(certificates=(wildcard,))]) == []


def test_audit_missing_host_name_on_certificate() -> None:
    narrow = iis(["mail.contoso.com"])

    findings = run([server(certificates=(narrow,), scp_uri=None)])

    assert checks(findings) == [("error", "certificate-name", "EX01")]
    assert "does not cover autodiscover.contoso.com" in findings[0].message


def test_audit_wildcard_does_not_cover_sub_subdomain() -> None:
    wildcard = iis(["*.contoso.com"])
    deep = ("https://owa.eu.contoso.com/owa",)

    findings = run([server(certificates=(wildcard,), urls=deep)])

    assert checks(findings) == [("error", "certificate-name", "EX01")]
    assert "owa.eu.contoso.com" in findings[0].message


def test_audit_small_key() -> None:
    weak = iis(["mail.contoso.com", "autodiscover.contoso.com"], key_bits=1024)

    findings = run([server(certificates=(weak,))])

    assert checks(findings) == [("error", "certificate-key-size", "EX01")]
    assert "1024-bit RSA key" in findings[0].message


def test_audit_expired_and_expiring() -> None:
    names = ["mail.contoso.com", "autodiscover.contoso.com"]
    expired = iis(names, not_after=NOW - timedelta(days=1))
    expiring = iis(names, not_after=NOW + timedelta(days=10))
    later = iis(names, not_after=NOW + timedelta(days=31))

    assert checks(run([server(certificates=(expired,))])) == [
        ("error", "certificate-expired", "EX01")
    ]
    assert checks(run([server(certificates=(expiring,))])) == [
        ("warning", "certificate-expiring", "EX01")
    ]
    assert run([server(certificates=(later,))]) == []


def test_audit_self_signed_on_external_name() -> None:
    own = iis(["mail.contoso.com", "autodiscover.contoso.com"], self_signed=True)

    findings = run([server(certificates=(own,), scp_uri=None)])

    assert checks(findings) == [("error", "certificate-self-signed", "EX01")]


def test_audit_pending_request_is_noted() -> None:
    pending = ("0123456789ABCDEF0123456789ABCDEF01234567 (CN=mail.contoso.com)",)

    findings = run([server(pending_requests=pending)])

    assert checks(findings) == [("info", "certificate-pending", "EX01")]
    assert pending[0] in findings[0].message


def test_audit_no_iis_certificate() -> None:
    own_scp = "https://ex01.contoso.com/Autodiscover/Autodiscover.xml"

    findings = run([server(certificates=(), scp_uri=own_scp, fqdn="ex01.contoso.com")])

    assert checks(findings) == [
        ("error", "scp", "EX01"),
        ("error", "certificate-missing", "EX01"),
    ]
    assert "EX01 has no valid certificate enabled for IIS" in findings[0].message


def test_audit_shared_scp_needs_trusted_certificate() -> None:
    findings = run([server(certificates=())])

    assert checks(findings) == [
        ("error", "scp", "EX01"),
        ("error", "certificate-missing", "EX01"),
    ]
    assert "no trusted IIS certificate" in findings[0].message


def test_audit_shared_scp_served_by_other_server() -> None:
    # The load-balanced name may reach EX02, whose trusted certificate covers it; EX03's own
    # self-signed certificate is reported by the name check, not the SCP check.
    own = iis(["EX03", "ex03.contoso.local"], self_signed=True)

    findings = run([server("EX02"), server("EX03", certificates=(own,), urls=(), host_names=())])

    assert ("error", "scp", "EX03") not in checks(findings)
    assert ("error", "certificate-name", "EX03") in checks(findings)


def test_audit_srv_record_replaces_autodiscover_name() -> None:
    narrow = iis(["mail.contoso.com"])
    srv = DomainDns(
        "contoso.com",
        NameResolution("autodiscover.contoso.com"),
        (SrvTarget(0, 0, 443, "mail.contoso.com"),),
    )

    assert run([server(certificates=(narrow,), scp_uri=None)], [srv]) == []


def test_audit_srv_target_not_on_certificate() -> None:
    srv = DomainDns(
        "contoso.com",
        NameResolution("autodiscover.contoso.com"),
        (SrvTarget(0, 0, 443, "web.hosting.example"),),
    )

    findings = run([server()], [srv])

    assert checks(findings) == [("error", "dns-srv", "contoso.com")]


def test_audit_autodiscover_name_missing_in_dns() -> None:
    findings = run(
        [server()], [DomainDns("contoso.com", NameResolution("autodiscover.contoso.com"))]
    )

    assert checks(findings) == [("error", "dns-missing", "contoso.com")]


def test_audit_autodiscover_points_elsewhere() -> None:
    elsewhere = NameResolution("autodiscover.contoso.com", frozenset({"192.0.2.7"}))

    findings = run([server()], [DomainDns("contoso.com", elsewhere)])

    assert checks(findings) == [("error", "dns-endpoint", "contoso.com")]


def test_audit_scp_host_does_not_resolve() -> None:
    settings = AuditSettings(external_endpoints=frozenset({ENDPOINT}))
    unresolved = {"autodiscover.contoso.com": NameResolution("autodiscover.contoso.com")}

    findings = audit_autodiscover(
        [server()], [GOOD_DNS], now=NOW, settings=settings, scp_resolutions=unresolved
    )

    assert checks(findings) == [("error", "scp", "EX01")]
    assert "does not resolve" in findings[0].message


def test_audit_new_server_scp_with_self_signed_certificate() -> None:
    # A freshly installed server registers an SCP pointing at itself, behind its default
    # self-signed certificate, before anyone configures it.
    ex01 = server("EX01")
    ex03 = server(
        "EX03",
        scp_uri="https://ex03.contoso.local/Autodiscover/Autodiscover.xml",
        urls=(),
        host_names=(),
        certificates=(iis(["EX03", "ex03.contoso.local"], self_signed=True),),
    )

    findings = run([ex01, ex03])

    scp = [f for f in findings if f.check == "scp"]
    assert [f.subject for f in scp] == ["EX03"]
    assert scp[0].severity == "error"
    assert scp[0].message.startswith(
        "EX03: the Autodiscover SCP points to https://ex03.contoso.local/"
    )
    assert "self-signed" in scp[0].message
    assert "ex03.contoso.local is a private name" in scp[0].message
    assert f"{SCP} (covered by EX01's certificate)" in scp[0].fix
    assert "$null" in scp[0].fix
    assert all(f.subject != "EX01" for f in findings)


def test_audit_suggests_autodiscover_name_when_no_good_scp() -> None:
    local = server(
        "EX03",
        scp_uri="https://ex03.contoso.local/Autodiscover/Autodiscover.xml",
        certificates=(iis(["mail.contoso.com", "autodiscover.contoso.com"]),),
    )

    findings = run([local])

    assert checks(findings) == [("error", "scp", "EX03")]
    assert f"{SCP} (covered by EX03's certificate)" in findings[0].fix


WILDCARD_ZONE: Zone = {
    "*.contoso.com": [("A", "203.0.113.80")],
    "mail.contoso.com": [("A", ENDPOINT)],
}


@pytest.fixture(scope="module")
def wildcard_dns() -> Iterator[Resolver]:
    with LoopbackDnsServer(WILDCARD_ZONE) as running:
        yield Resolver(DnsSettings((running.address,), port=running.port, timeout=1.0))


def test_audit_wildcard_dns_and_misspelled_san(wildcard_dns: Resolver) -> None:
    # The registrar's *.contoso.com answers for autodiscover.contoso.com, and the SAN list
    # spells autdiscover: both must be found, neither matched loosely.
    typo = iis(["mail.contoso.com", "autdiscover.contoso.com"])
    domain = gather_domain_dns(wildcard_dns, "contoso.com")

    findings = run([server(certificates=(typo,), scp_uri=None)], [domain])

    assert checks(findings) == [
        ("error", "certificate-name", "EX01"),
        ("error", "dns-wildcard", "contoso.com"),
    ]
    name, wildcard = findings
    assert name.message == (
        "EX01's certificate does not cover autodiscover.contoso.com (it has "
        "autdiscover.contoso.com, which is not the same name); Outlook looks up "
        "Autodiscover for contoso.com there."
    )
    assert wildcard.message.startswith(
        "autodiscover.contoso.com resolves only through the wildcard record *.contoso.com "
        f"to 203.0.113.80, which is not an Exchange endpoint ({ENDPOINT})"
    )
    assert "_autodiscover._tcp" in wildcard.fix


def test_audit_wildcard_without_endpoints_warns(wildcard_dns: Resolver) -> None:
    domain = gather_domain_dns(wildcard_dns, "contoso.com")

    findings = audit_autodiscover([server()], [domain], now=NOW)

    assert checks(findings) == [("warning", "dns-wildcard", "contoso.com")]
