"""audit_autodiscover against the simulated organization and a loopback DNS server."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

import pytest
from test_autodiscover_scp import URI, Recorder, context, organization

import exchange_agent.lab.cmdlets.certificate_lifecycle as lifecycle
from exchange_agent.lab.engine import LabEngine
from exchange_agent.remote.inprocess import InProcessSession
from exchange_agent.tasks.audit_autodiscover import AuditAutodiscoverArgs, AuditAutodiscoverTask
from exchange_agent.tasks.autodiscover_scp import AutodiscoverScpArgs, AutodiscoverScpTask
from exchange_agent.tasks.virtual_directories import (
    VirtualDirectoriesArgs,
    VirtualDirectoriesTask,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from support.certs import make_certificate
from support.dns_server import LoopbackDnsServer, Zone

ENDPOINT = "198.51.100.10"
ZONE: Zone = {
    "mail.contoso.com": [("A", ENDPOINT)],
    "autodiscover.contoso.com": [("A", ENDPOINT)],
}
WILDCARD_ZONE: Zone = {
    "*.contoso.com": [("A", "203.0.113.80")],
    "mail.contoso.com": [("A", ENDPOINT)],
}


def install(engine: LabEngine, server: str, names: list[str], **kwargs: Any) -> None:
    """Store a real certificate on ``server``, enabled for IIS and SMTP."""
    raw = make_certificate(names[0], names, **kwargs)
    lifecycle.stored_certificates(engine.org).append(
        lifecycle.StoredCertificate(
            server=server,
            thumbprint=hashlib.sha1(raw).hexdigest().upper(),
            subject=f"CN={names[0]}",
            domains=names,
            status="Valid",
            private_key=None,
            raw_data=raw,
            services=["IIS", "SMTP"],
        )
    )


@pytest.fixture
def configured() -> tuple[LabEngine, Recorder]:
    """EX01 configured for mail.contoso.com; EX03 freshly installed with a self-signed cert."""
    engine = LabEngine(organization(), server="EX01")
    recorder = Recorder(InProcessSession("ex01.contoso.com", engine))
    ctx = context(engine, recorder)
    VirtualDirectoriesTask(
        VirtualDirectoriesArgs(servers=["EX01"], namespace="mail.contoso.com")
    ).run(ctx)
    AutodiscoverScpTask(AutodiscoverScpArgs(servers=["EX01"], uri=URI)).run(ctx)
    install(engine, "EX01", ["mail.contoso.com", "autodiscover.contoso.com"])
    install(engine, "EX03", ["EX03", "ex03.contoso.local"], self_signed=True)
    recorder.sent.clear()
    return engine, recorder


def audit(
    engine: LabEngine, recorder: Recorder, zone: Zone, servers: list[str]
) -> tuple[Any, list[dict[str, str]]]:
    with LoopbackDnsServer(zone) as dns:
        args = AuditAutodiscoverArgs(
            servers=servers,
            domains=["contoso.com"],
            dns={"nameservers": [dns.address], "port": dns.port, "timeout": 1.0},
            external_endpoints=[ENDPOINT],
        )
        result = AuditAutodiscoverTask(args).run(context(engine, recorder))
    return result, result.data["findings"]


def test_audit_task_clean_organization_passes(configured: tuple[LabEngine, Recorder]) -> None:
    engine, recorder = configured

    result, findings = audit(engine, recorder, ZONE, ["EX01"])

    assert findings == []
    assert result.status == "ok"


def test_audit_task_names_server_in_every_command(
    configured: tuple[LabEngine, Recorder],
) -> None:
    engine, recorder = configured

    audit(engine, recorder, ZONE, ["EX01", "EX03"])

    certificate_reads = [s for s in recorder.sent if s.startswith("Get-ExchangeCertificate")]
    assert certificate_reads == [
        "Get-ExchangeCertificate -Server 'EX01'",
        "Get-ExchangeCertificate -Server 'EX03'",
    ]
    assert all("EX0" in sent for sent in recorder.sent)
    assert not [sent for sent in recorder.sent if not sent.startswith("Get-")]


def test_audit_task_new_server_scp_then_fixed(configured: tuple[LabEngine, Recorder]) -> None:
    # A new server advertises itself in the SCP behind its self-signed certificate. The audit
    # must check every server, and the SCP task must repoint only that server.
    engine, recorder = configured

    before, findings = audit(engine, recorder, ZONE, ["EX01", "EX03"])
    scp = [f for f in findings if f["check"] == "scp"]
    assert before.status == "failed"
    assert [f["subject"] for f in scp] == ["EX03"]
    assert scp[0]["message"].startswith(
        "EX03: the Autodiscover SCP points to https://ex03.contoso.local/"
    )
    assert f"{URI} (covered by EX01's certificate)" in scp[0]["fix"]

    task = AutodiscoverScpTask(AutodiscoverScpArgs(servers=["EX01", "EX03"], uri=URI))
    fixed = task.run(context(engine, recorder))
    assert [change.target for change in fixed.changes] == ["EX03"]

    _, after = audit(engine, recorder, ZONE, ["EX01", "EX03"])
    assert not [f for f in after if f["check"] == "scp"]


def test_audit_task_wildcard_dns_and_typo(configured: tuple[LabEngine, Recorder]) -> None:
    engine, recorder = configured
    lifecycle.stored_certificates(engine.org).clear()
    install(engine, "EX01", ["mail.contoso.com", "autdiscover.contoso.com"])

    result, findings = audit(engine, recorder, WILDCARD_ZONE, ["EX01"])

    checks = sorted((f["check"], f["subject"]) for f in findings)
    assert ("dns-wildcard", "contoso.com") in checks
    assert ("certificate-name", "EX01") in checks
    names = [f for f in findings if f["check"] == "certificate-name"]
    assert "it has autdiscover.contoso.com, which is not the same name" in names[0]["message"]
    assert result.status == "failed"


def test_audit_task_without_dns_notes_skip(configured: tuple[LabEngine, Recorder]) -> None:
    engine, recorder = configured
    args = AuditAutodiscoverArgs(servers=["EX01"], domains=["contoso.com"])

    result = AuditAutodiscoverTask(args).run(context(engine, recorder))

    assert result.status == "ok"
    assert any("DNS was not checked" in warning for warning in result.warnings)
