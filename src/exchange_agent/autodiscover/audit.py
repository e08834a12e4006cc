"""Audit Autodiscover: URLs, the IIS certificate, DNS and the SCP, checked together.

The audit is a pure function of facts gathered elsewhere (server settings, certificates, DNS
answers), so each finding can be tested from plain data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal
from urllib.parse import urlsplit

from exchange_agent.autodiscover.certificate import CertificateInfo
from exchange_agent.autodiscover.dns import NameResolution, Resolver, SrvTarget
from exchange_agent.autodiscover.hostnames import match_host, normalise_host

__all__ = [
    "PRIVATE_SUFFIXES",
    "AuditSettings",
    "DomainDns",
    "Finding",
    "ServerFacts",
    "Severity",
    "audit_autodiscover",
    "gather_domain_dns",
    "is_private_name",
]

Severity = Literal["error", "warning", "info"]

# Suffixes no public certification authority issues names for: RFC 6762 (.local), RFC 8375
# (.home.arpa), and the CA/Browser Forum ban on internal names since November 2015.
PRIVATE_SUFFIXES = ("local", "lan", "internal", "localdomain", "corp", "home.arpa")


@dataclass(frozen=True)
class Finding:
    """One problem the audit found.

    Attributes:
        severity: ``error`` breaks clients, ``warning`` will or may, ``info`` is a note.
        check: A short stable id of the check, such as ``certificate-name``.
        subject: The server name or DNS domain the finding is about.
        message: What was expected and what was found.
        fix: What to change.
    """

    severity: Severity
    check: str
    subject: str
    message: str
    fix: str


@dataclass(frozen=True)
class ServerFacts:
    """Facts about one Client Access server that the audit checks.

    Attributes:
        name: The server name, such as ``EX01``.
        scp_uri: ``AutoDiscoverServiceInternalUri``, or None when cleared.
        urls: Every configured internal and external URL of the virtual directories.
        host_names: Outlook Anywhere host names and other bare names clients use.
        certificates: The server's certificates from ``Get-ExchangeCertificate -Server``.
        pending_requests: Thumbprint and subject of each pending certificate request, which
            has no certificate bytes yet.
        fqdn: The server's own FQDN from ``Get-ExchangeServer``, or None.
    """

    name: str
    scp_uri: str | None
    urls: tuple[str, ...] = ()
    host_names: tuple[str, ...] = ()
    certificates: tuple[CertificateInfo, ...] = ()
    pending_requests: tuple[str, ...] = ()
    fqdn: str | None = None

    def is_own_host(self, host: str) -> bool:
        """True when ``host`` is this server's own name or FQDN, not a shared namespace."""
        own = {self.name.lower()}
        if self.fqdn:
            own.add(normalise_host(self.fqdn))
        return normalise_host(host) in own

    def iis_certificate(self) -> CertificateInfo | None:
        """Return the valid certificate bound to IIS, or None."""
        for certificate in self.certificates:
            if certificate.has_iis and certificate.status in (None, "Valid"):
                return certificate
        return None

    def configured_hosts(self) -> list[str]:
        """Return the host names of every URL and name, normalised, in first-seen order."""
        hosts: dict[str, None] = {}
        urls = [*self.urls, *([self.scp_uri] if self.scp_uri else [])]
        for url in urls:
            host = urlsplit(url).hostname
            if host:
                hosts[normalise_host(host)] = None
        for name in self.host_names:
            hosts[normalise_host(name)] = None
        return list(hosts)


@dataclass(frozen=True)
class DomainDns:
    """DNS answers for one authoritative accepted domain.

    Attributes:
        domain: The accepted domain, such as ``contoso.com``.
        autodiscover: How ``autodiscover.<domain>`` resolved.
        srv: The ``_autodiscover._tcp.<domain>`` SRV records.
    """

    domain: str
    autodiscover: NameResolution
    srv: tuple[SrvTarget, ...] = ()


@dataclass(frozen=True)
class AuditSettings:
    """Limits of the audit.

    Attributes:
        expiry_warning_days: Warn when a certificate expires within this many days.
        min_key_size: Smallest acceptable key size in bits for RSA keys.
        external_endpoints: Addresses of the Exchange load balancers or servers that
            Autodiscover names should resolve to; empty skips that comparison.
    """

    expiry_warning_days: int = 30
    min_key_size: int = 2048
    external_endpoints: frozenset[str] = field(default_factory=frozenset)


def is_private_name(host: str) -> bool:
    """True for a single-label name or one under a suffix no public CA issues for."""
    name = normalise_host(host)
    if "." not in name:
        return True
    return any(name == suffix or name.endswith("." + suffix) for suffix in PRIVATE_SUFFIXES)


def _certificate_findings(
    server: ServerFacts, certificate: CertificateInfo, now: datetime, settings: AuditSettings
) -> list[Finding]:
    findings: list[Finding] = []
    where = f"{server.name}'s IIS certificate {certificate.thumbprint} ({certificate.subject})"
    if certificate.key_type in ("RSA", "DSA") and certificate.key_size < settings.min_key_size:
        findings.append(
            Finding(
                "error",
                "certificate-key-size",
                server.name,
                f"{where} has a {certificate.key_size}-bit {certificate.key_type} key; at least "
                f"{settings.min_key_size} bits are expected.",
                "Request a new certificate with a 2048-bit or larger key and enable it for IIS.",
            )
        )
    if certificate.not_after <= now:
        findings.append(
            Finding(
                "error",
                "certificate-expired",
                server.name,
                f"{where} expired on {certificate.not_after:%Y-%m-%d}.",
                "Renew the certificate and enable the new one for IIS.",
            )
        )
    elif certificate.not_after - now <= timedelta(days=settings.expiry_warning_days):
        days = (certificate.not_after - now).days
        findings.append(
            Finding(
                "warning",
                "certificate-expiring",
                server.name,
                f"{where} expires on {certificate.not_after:%Y-%m-%d}, in {days} days (warning "
                f"threshold {settings.expiry_warning_days} days).",
                "Renew the certificate before it expires and enable the new one for IIS.",
            )
        )
    public = [host for host in server.configured_hosts() if not is_private_name(host)]
    if certificate.self_signed and public:
        findings.append(
            Finding(
                "error",
                "certificate-self-signed",
                server.name,
                f"{where} is self-signed but serves the external name {public[0]}; clients "
                "that do not trust it show certificate warnings.",
                "Bind a certificate from a trusted certification authority to IIS.",
            )
        )
    return findings


def _name_finding(
    server: ServerFacts, certificate: CertificateInfo, host: str, why: str
) -> Finding | None:
    match = match_host(host, certificate.dns_names)
    if match.covered:
        return None
    hint = ""
    if match.near_miss is not None:
        hint = f" (it has {match.near_miss}, which is not the same name)"
    return Finding(
        "error",
        "certificate-name",
        server.name,
        f"{server.name}'s certificate does not cover {match.name}{hint}; {why}.",
        f"Add {match.name} to the certificate's subject alternative names, or use a name "
        "the certificate covers.",
    )


def _srv_serves(domain: DomainDns, certificate: CertificateInfo) -> bool:
    return any(
        match_host(target.target, certificate.dns_names).covered
        for target in domain.srv
        if target.target not in ("", ".")
    )


def _scp_finding(
    server: ServerFacts,
    certificate: CertificateInfo | None,
    resolution: NameResolution | None,
    suggestion: str | None,
    trusted: Sequence[CertificateInfo],
) -> Finding | None:
    if server.scp_uri is None:
        return None
    host = urlsplit(server.scp_uri).hostname or ""
    problems: list[str] = []
    if not server.is_own_host(host) and not is_private_name(host):
        # A shared name reaches whichever server the load balancer picks, so any trusted IIS
        # certificate of the organization may serve the request. Each server's own certificate
        # is checked for that name separately.
        if not any(match_host(host, c.dns_names).covered for c in trusted):
            problems.append(f"no trusted IIS certificate of the audited servers covers {host}")
    elif certificate is None:
        problems.append(f"{server.name} has no valid certificate enabled for IIS")
    else:
        if certificate.self_signed:
            problems.append(f"{server.name}'s IIS certificate is self-signed")
        if not match_host(host, certificate.dns_names).covered:
            problems.append(f"that certificate does not cover {host}")
    if is_private_name(host):
        problems.append(f"{host} is a private name no public certification authority issues")
    if resolution is not None and not resolution.resolves:
        reason = resolution.error or "no A, AAAA or CNAME record"
        problems.append(f"{host} does not resolve ({reason})")
    if not problems:
        return None
    target = suggestion or "a name on a trusted certificate"
    return Finding(
        "error",
        "scp",
        server.name,
        f"{server.name}: the Autodiscover SCP points to {server.scp_uri} but "
        f"{'; '.join(problems)}. Domain-joined Outlook clients read the SCP first and will "
        "show certificate warnings or fail to connect.",
        f"Set AutoDiscoverServiceInternalUri to {target} or to $null until a trusted "
        "certificate is bound.",
    )


def _scp_suggestion(servers: Sequence[ServerFacts], domains: Sequence[DomainDns]) -> str | None:
    # Offer an SCP URI that another server publishes under a trusted certificate, else
    # autodiscover.<first domain> when some trusted certificate covers it.
    for server in servers:
        certificate = server.iis_certificate()
        if server.scp_uri is None or certificate is None or certificate.self_signed:
            continue
        host = urlsplit(server.scp_uri).hostname or ""
        if not is_private_name(host) and match_host(host, certificate.dns_names).covered:
            return f"{server.scp_uri} (covered by {server.name}'s certificate)"
    for domain in domains:
        host = f"autodiscover.{normalise_host(domain.domain)}"
        for server in servers:
            certificate = server.iis_certificate()
            if (
                certificate is not None
                and not certificate.self_signed
                and match_host(host, certificate.dns_names).covered
            ):
                uri = f"https://{host}/Autodiscover/Autodiscover.xml"
                return f"{uri} (covered by {server.name}'s certificate)"
    return None


def _dns_findings(
    domain: DomainDns, certificates: Sequence[CertificateInfo], settings: AuditSettings
) -> list[Finding]:
    name = f"autodiscover.{normalise_host(domain.domain)}"
    resolution = domain.autodiscover
    srv_ok = any(_srv_serves(domain, certificate) for certificate in certificates)
    endpoints = settings.external_endpoints
    addresses = ", ".join(sorted(resolution.addresses))
    expected = ", ".join(sorted(endpoints))
    fix = (
        f"Add an explicit A or CNAME record for {name} pointing at Exchange, or an "
        f"_autodiscover._tcp.{domain.domain} SRV record whose target is on the certificate."
    )

    if resolution.error is not None:
        return [
            Finding(
                "warning",
                "dns-lookup",
                domain.domain,
                f"the lookup of {name} failed ({resolution.error}), so DNS was not checked.",
                "Check that the configured DNS servers answer for the domain.",
            )
        ]
    if resolution.resolves and resolution.through_wildcard:
        if endpoints and not resolution.addresses & endpoints:
            return [
                Finding(
                    "error",
                    "dns-wildcard",
                    domain.domain,
                    f"{name} resolves only through the wildcard record *.{domain.domain} to "
                    f"{addresses}, which is not an Exchange endpoint ({expected}); Outlook will "
                    "be offered that host's certificate.",
                    fix,
                )
            ]
        if not endpoints and not srv_ok:
            return [
                Finding(
                    "warning",
                    "dns-wildcard",
                    domain.domain,
                    f"{name} resolves only through the wildcard record *.{domain.domain} to "
                    f"{addresses}; set external_endpoints to check that this is Exchange.",
                    fix,
                )
            ]
        return []
    if resolution.resolves:
        if endpoints and not resolution.addresses & endpoints:
            return [
                Finding(
                    "error",
                    "dns-endpoint",
                    domain.domain,
                    f"{name} resolves to {addresses}, which is not an Exchange endpoint "
                    f"({expected}).",
                    f"Point {name} at the Exchange load balancer.",
                )
            ]
        return []
    if domain.srv:
        if srv_ok:
            return []
        targets = ", ".join(target.target for target in domain.srv)
        return [
            Finding(
                "error",
                "dns-srv",
                domain.domain,
                f"{name} does not resolve and the _autodiscover._tcp.{domain.domain} SRV "
                f"record points to {targets}, which no IIS certificate covers.",
                "Point the SRV record at a name on the certificate, such as the mail namespace.",
            )
        ]
    return [
        Finding(
            "error",
            "dns-missing",
            domain.domain,
            f"{name} does not resolve and there is no _autodiscover._tcp.{domain.domain} SRV "
            "record, so Outlook outside the network cannot find Exchange.",
            fix,
        )
    ]


def audit_autodiscover(
    servers: Sequence[ServerFacts],
    domains: Sequence[DomainDns],
    *,
    now: datetime,
    settings: AuditSettings | None = None,
    scp_resolutions: Mapping[str, NameResolution] | None = None,
) -> list[Finding]:
    """Check URLs, certificates, DNS and the SCP of every server together.

    Args:
        servers: Every Client Access server, each with its own certificates.
        domains: DNS answers for each authoritative accepted domain.
        now: The time certificates are checked against, timezone-aware.
        settings: Limits; the defaults when None.
        scp_resolutions: How each SCP host resolved, keyed by normalised host name; an SCP
            host missing from it is not checked in DNS.

    Returns:
        The findings, errors first, in server then domain order within a severity.
    """
    settings = settings or AuditSettings()
    resolutions = scp_resolutions or {}
    suggestion = _scp_suggestion(servers, domains)
    findings: list[Finding] = []

    iis_certificates = [c for c in (s.iis_certificate() for s in servers) if c is not None]
    trusted = [c for c in iis_certificates if not c.self_signed]
    for server in servers:
        certificate = server.iis_certificate()
        for pending in server.pending_requests:
            findings.append(
                Finding(
                    "info",
                    "certificate-pending",
                    server.name,
                    f"{server.name} has a pending certificate request {pending}.",
                    "Complete it with Import-ExchangeCertificate or remove it.",
                )
            )
        scp_host = urlsplit(server.scp_uri).hostname if server.scp_uri else None
        scp = _scp_finding(
            server, certificate, resolutions.get(scp_host or ""), suggestion, trusted
        )
        if scp is not None:
            findings.append(scp)
        if certificate is None:
            findings.append(
                Finding(
                    "error",
                    "certificate-missing",
                    server.name,
                    f"{server.name} has no valid certificate enabled for IIS, so HTTPS "
                    "clients get none or the wrong one.",
                    f"Enable a trusted certificate with Enable-ExchangeCertificate -Server "
                    f"{server.name} -Services IIS.",
                )
            )
            continue
        findings.extend(_certificate_findings(server, certificate, now, settings))
        for host in server.configured_hosts():
            if host == scp_host and scp is not None:
                continue  # The SCP finding already names this host.
            finding = _name_finding(server, certificate, host, "clients connect to it")
            if finding is not None:
                findings.append(finding)
        for domain in domains:
            if _srv_serves(domain, certificate):
                continue
            host = f"autodiscover.{normalise_host(domain.domain)}"
            why = f"Outlook looks up Autodiscover for {domain.domain} there"
            finding = _name_finding(server, certificate, host, why)
            if finding is not None:
                findings.append(finding)

    for domain in domains:
        findings.extend(_dns_findings(domain, iis_certificates, settings))

    order = {"error": 0, "warning": 1, "info": 2}
    return sorted(findings, key=lambda finding: order[finding.severity])


def gather_domain_dns(resolver: Resolver, domain: str) -> DomainDns:
    """Look up ``autodiscover.<domain>`` and its SRV record through ``resolver``."""
    resolution = resolver.resolve(f"autodiscover.{normalise_host(domain)}")
    targets, error = resolver.srv(domain)
    if error is not None and resolution.error is None and not resolution.resolves:
        resolution = NameResolution(resolution.name, error=error)
    return DomainDns(normalise_host(domain), resolution, tuple(targets))
