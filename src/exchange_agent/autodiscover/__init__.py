"""Autodiscover: URL planning per Exchange version, certificate names, DNS and the audit."""

from exchange_agent.autodiscover.audit import (
    AuditSettings,
    DomainDns,
    Finding,
    ServerFacts,
    audit_autodiscover,
    gather_domain_dns,
    is_private_name,
)
from exchange_agent.autodiscover.certificate import (
    CertificateInfo,
    CertificateParseError,
    certificate_info,
)
from exchange_agent.autodiscover.dns import DnsSettings, NameResolution, Resolver, SrvTarget
from exchange_agent.autodiscover.hostnames import HostMatch, match_host, normalise_host
from exchange_agent.autodiscover.urls import (
    ExchangeVersion,
    OutlookAnywherePlan,
    UrlPlan,
    VersionParseError,
    VirtualDirectoryPlan,
    plan_urls,
    scp_uri,
)

__all__ = [
    "AuditSettings",
    "CertificateInfo",
    "CertificateParseError",
    "DnsSettings",
    "DomainDns",
    "ExchangeVersion",
    "Finding",
    "HostMatch",
    "NameResolution",
    "OutlookAnywherePlan",
    "Resolver",
    "ServerFacts",
    "SrvTarget",
    "UrlPlan",
    "VersionParseError",
    "VirtualDirectoryPlan",
    "audit_autodiscover",
    "certificate_info",
    "gather_domain_dns",
    "is_private_name",
    "match_host",
    "normalise_host",
    "plan_urls",
    "scp_uri",
]
