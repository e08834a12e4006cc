"""The ``audit_autodiscover`` task: check URLs, certificates, DNS and the SCP together."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from exchange_agent.autodiscover.audit import (
    AuditSettings,
    DomainDns,
    audit_autodiscover,
    gather_domain_dns,
)
from exchange_agent.autodiscover.dns import DnsSettings, NameResolution, Resolver
from exchange_agent.autodiscover.gather import gather_server_facts, read
from exchange_agent.autodiscover.hostnames import normalise_host
from exchange_agent.remote.command import Command
from exchange_agent.tasks import register
from exchange_agent.tasks.base import Task, TaskArgs, TaskContext, TaskResult


class DnsArgs(BaseModel):
    """DNS servers for the audit's lookups. No other resolver is queried."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    nameservers: list[str] = Field(min_length=1, description="DNS server IP addresses.")
    port: int = Field(53, ge=1, le=65535, description="UDP and TCP port of the servers.")
    timeout: float = Field(3.0, gt=0, le=60, description="Seconds one lookup may take.")


class AuditAutodiscoverArgs(TaskArgs):
    """Arguments of :class:`AuditAutodiscoverTask`."""

    servers: list[str] = Field(min_length=1, description="Client Access server names.")
    domains: list[str] | None = Field(
        None, description="Accepted domains to check; authoritative ones from Exchange if unset."
    )
    dns: DnsArgs | None = Field(None, description="DNS servers; DNS checks are skipped if unset.")
    external_endpoints: list[str] = Field(
        default_factory=list, description="Addresses Autodiscover names should resolve to."
    )
    expiry_warning_days: int = Field(30, ge=0, description="Warn this many days before expiry.")
    min_key_size: int = Field(2048, ge=1024, description="Smallest RSA key size in bits.")
    fail_on: Literal["error", "warning", "never"] = Field(
        "error", description="Lowest finding severity that fails the task."
    )


@register
class AuditAutodiscoverTask(Task[AuditAutodiscoverArgs]):
    """Report what keeps Outlook from finding Exchange, without changing anything.

    For every server it checks that the IIS certificate covers every configured host name and
    ``autodiscover.<domain>`` of each authoritative accepted domain, unless an SRV record
    serves that domain. It also checks the key size, the expiry date, a self-signed certificate
    on an external name, pending requests, and that the SCP URL is a trusted name that
    resolves. With
    ``dns`` set it checks ``autodiscover.<domain>`` (A, AAAA or CNAME, and whether only a
    wildcard record matches it) and the ``_autodiscover._tcp`` SRV record. Findings go to the
    task's data and warnings; the task fails when one reaches ``fail_on``.

    Example:
        .. code-block:: yaml

            - audit_autodiscover:
                servers: [EX01, EX02]
                dns: {nameservers: [10.0.0.10]}
                external_endpoints: [198.51.100.10]
    """

    name = "audit_autodiscover"
    args_model = AuditAutodiscoverArgs

    def _domains(self, ctx: TaskContext) -> list[str]:
        if self.args.domains is not None:
            return [normalise_host(domain) for domain in self.args.domains]
        items = read(ctx.session("exchange"), ctx.host, Command("Get-AcceptedDomain"))
        return [
            normalise_host(str(item.get("DomainName")))
            for item in items
            if str(item.get("DomainType", "")).casefold() == "authoritative"
            and not str(item.get("DomainName", "")).startswith("*")
        ]

    def run(self, ctx: TaskContext) -> TaskResult:
        """Gather the facts, audit them and report the findings."""
        session = ctx.session("exchange")
        servers = [gather_server_facts(session, ctx.host, name) for name in self.args.servers]
        domains = self._domains(ctx)

        domain_dns: list[DomainDns] = []
        scp_resolutions: dict[str, NameResolution] = {}
        notes: list[str] = []
        if self.args.dns is None:
            notes.append("DNS was not checked because no DNS servers were given (dns:)")
        else:
            dns = self.args.dns
            resolver = Resolver(DnsSettings(tuple(dns.nameservers), dns.port, dns.timeout))
            domain_dns = [gather_domain_dns(resolver, domain) for domain in domains]
            for server in servers:
                host = urlsplit(server.scp_uri).hostname if server.scp_uri else None
                if host and host not in scp_resolutions:
                    scp_resolutions[host] = resolver.resolve(host)

        settings = AuditSettings(
            expiry_warning_days=self.args.expiry_warning_days,
            min_key_size=self.args.min_key_size,
            external_endpoints=frozenset(self.args.external_endpoints),
        )
        findings = audit_autodiscover(
            servers,
            domain_dns,
            now=datetime.now(UTC),
            settings=settings,
            scp_resolutions=scp_resolutions,
        )
        lines = [f"{f.severity}: {f.message} Fix: {f.fix}" for f in findings]
        data = {
            "findings": [
                {
                    "severity": f.severity,
                    "check": f.check,
                    "subject": f.subject,
                    "message": f.message,
                    "fix": f.fix,
                }
                for f in findings
            ]
        }
        failing = {"error": {"error"}, "warning": {"error", "warning"}, "never": set()}
        failed = [f for f in findings if f.severity in failing[self.args.fail_on]]
        status: Literal["ok", "failed"] = "failed" if failed else "ok"
        message = f"{len(findings)} finding(s), {len(failed)} at or above {self.args.fail_on}"
        return TaskResult(status, message, warnings=notes + lines, data=data)
