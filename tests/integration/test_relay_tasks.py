"""relay_connector, ad_permission and relay_audit against the simulated organization."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pydantic
import pytest

from exchange_agent.errors import TaskError
from exchange_agent.lab.clock import ManualClock
from exchange_agent.lab.engine import LabEngine
from exchange_agent.lab.org import AdPermission, AdUser, Organization, ReceiveConnector, Server
from exchange_agent.lab.state import open_lab
from exchange_agent.remote.command import Command, Statement
from exchange_agent.remote.inprocess import InProcessSession
from exchange_agent.tasks.ad_permission import AdPermissionArgs, AdPermissionTask
from exchange_agent.tasks.base import TaskContext, TaskResult
from exchange_agent.tasks.relay_audit import RelayAuditArgs, RelayAuditTask
from exchange_agent.tasks.relay_connector import RelayConnectorArgs, RelayConnectorTask

ANONYMOUS = "NT AUTHORITY\\ANONYMOUS LOGON"
ACCEPT_ANY = "ms-Exch-SMTP-Accept-Any-Recipient"


@dataclass
class Recorder:
    """Passes statements to the real session and keeps the names of cmdlets that write."""

    inner: InProcessSession
    sent: list[str]
    host: str = "ex01.contoso.com"
    endpoint: str = "exchange"

    def invoke(self, *statements: Statement, timeout: float | None = None) -> Any:
        for statement in statements:
            name = str(statement).split(" ", 1)[0]
            if not name.startswith("Get-"):
                self.sent.append(name)
        return self.inner.invoke(*statements, timeout=timeout)


@dataclass
class Lab:
    org: Organization
    session: InProcessSession
    sent: list[str]

    def run(self, task: Any, *, check_mode: bool = False, journal: Any = None) -> TaskResult:
        ctx = TaskContext(
            "ex01.contoso.com",
            check_mode,
            False,
            {"exchange_server": "EX01"},
            lambda endpoint: Recorder(self.session, self.sent),
            journal,
        )
        result: TaskResult = task.run(ctx)
        return result

    def permissions(self, identity: str) -> list[Any]:
        return list(self.session.invoke(Command("Get-ADPermission", {"Identity": identity})).output)

    def connector(self, identity: str) -> ReceiveConnector:
        [found] = [c for c in self.org.receive_connectors if c.identity == identity]
        return found


@dataclass
class RecordingJournal:
    """A journal that keeps entries in memory, in the order they were recorded."""

    entries: list[dict[str, Any]] = field(default_factory=list)

    def record(self, *, task: str, target: str, undo: list[Statement], before: Any) -> None:
        self.entries.append({"task": task, "target": target, "undo": undo, "before": before})


@pytest.fixture
def lab() -> Lab:
    org = open_lab()
    org.servers.append(Server(name="EX02", fqdn="EX02.contoso.com"))
    org.ad_users.append(AdUser("svc-scan", "scanner@contoso.com"))
    org.ad_users.append(AdUser("mfp-lobby", "mfp-lobby@contoso.com", mail="scanner@contoso.com"))
    session = InProcessSession("ex01.contoso.com", LabEngine(org, clock=ManualClock()))
    return Lab(org, session, [])


def relay(**extra: Any) -> RelayConnectorTask:
    values = {"server": "EX01", "name": "Relay Printers", "remote_ip_ranges": ["10.20.30.0/28"]}
    return RelayConnectorTask(RelayConnectorArgs(**(values | extra)))


def seed_relay(org: Organization, server: str, name: str, ranges: list[str], **extra: Any) -> None:
    connector = ReceiveConnector(
        name=name,
        server=server,
        bindings=["0.0.0.0:25"],
        remote_ip_ranges=ranges,
        permission_groups=["AnonymousUsers"],
        **extra,
    )
    connector.permissions.append(AdPermission(ANONYMOUS, [ACCEPT_ANY]))
    org.receive_connectors.append(connector)


# --- relay_connector ------------------------------------------------------------------------


def test_relay_connector_created_then_ok(lab: Lab) -> None:
    first = lab.run(relay())
    assert first.status == "changed"
    assert lab.sent == ["New-ReceiveConnector", "Add-ADPermission"]
    created = lab.connector("EX01\\Relay Printers")
    assert created.transport_role == "FrontendTransport"
    assert created.bindings == ["0.0.0.0:25"]
    assert created.remote_ip_ranges == ["10.20.30.0/28"]
    assert created.permission_groups == ["AnonymousUsers"]

    second = lab.run(relay())
    assert second.status == "ok"
    assert "already relays for 10.20.30.0/28 only" in second.message
    assert lab.sent == ["New-ReceiveConnector", "Add-ADPermission"]
    [row] = lab.permissions("EX01\\Relay Printers")
    assert row["User"] == ANONYMOUS


def test_relay_connector_check_mode_sends_nothing(lab: Lab) -> None:
    result = lab.run(relay(), check_mode=True)
    assert result.status == "changed"
    assert lab.sent == []
    assert "-TransportRole 'FrontendTransport'" in result.commands[0]
    assert not [c for c in lab.org.receive_connectors if c.name == "Relay Printers"]


def test_relay_connector_2010_omits_role(lab: Lab) -> None:
    lab.org.servers[0].version = 2010
    lab.org.servers[0].build = "14.3.513.0"
    for connector in lab.org.receive_connectors:
        connector.transport_role = None
    result = lab.run(relay(), check_mode=True)
    assert "TransportRole" not in result.commands[0]


def test_relay_ranges_compared_as_sets(lab: Lab) -> None:
    seed_relay(lab.org, "EX01", "Relay Printers", ["10.20.30.0-10.20.30.15"])
    result = lab.run(relay())
    assert result.status == "ok"
    assert lab.sent == []


def test_relay_missing_permission_added_once(lab: Lab) -> None:
    seed_relay(lab.org, "EX01", "Relay Printers", ["10.20.30.0/28"])
    lab.connector("EX01\\Relay Printers").permissions.clear()
    assert lab.run(relay()).status == "changed"
    assert lab.sent == ["Add-ADPermission"]
    assert lab.run(relay()).status == "ok"
    assert len(lab.permissions("EX01\\Relay Printers")) == 1


def test_relay_ranges_replaced_with_overlap_warning(lab: Lab) -> None:
    seed_relay(lab.org, "EX01", "Relay Apps", ["10.0.5.0/24"])
    requested = ["10.0.5.20", "10.0.5.21", "10.0.6.0(255.255.255.0)"]
    result = lab.run(relay(name="Relay Apps", remote_ip_ranges=requested))
    assert result.status == "changed"
    [change] = result.changes
    assert change.property == "RemoteIPRanges"
    assert change.before == ["10.0.5.0/24"]
    assert change.after == ["10.0.5.20", "10.0.5.21", "10.0.6.0/24"]
    assert any(
        "EX01\\Relay Apps overlaps EX01\\Default Frontend EX01 on 0.0.0.0:25" in w
        and "10.0.5.20/31, 10.0.6.0/24 will use Relay Apps" in w
        for w in result.warnings
    )
    assert lab.connector("EX01\\Relay Apps").remote_ip_ranges == change.after
    assert lab.run(relay(name="Relay Apps", remote_ip_ranges=requested)).status == "ok"


def test_relay_snat_inside_ranges_rejected() -> None:
    with pytest.raises(
        pydantic.ValidationError, match=r"10\.0\.5\.10 \(load balancer source NAT\)"
    ):
        relay(remote_ip_ranges=["10.0.5.0/24"], snat_addresses=["10.0.5.10"])


def test_relay_hub_conflict_reported(lab: Lab) -> None:
    legacy = ReceiveConnector(
        name="Relay Legacy",
        server="EX01",
        transport_role="HubTransport",
        bindings=["0.0.0.0:25"],
        remote_ip_ranges=["10.20.30.40"],
    )
    lab.org.receive_connectors.append(legacy)
    result = lab.run(relay(), check_mode=True)
    assert any(
        w.startswith("EX01\\Relay Legacy (HubTransport) and EX01\\Default Frontend EX01")
        for w in result.warnings
    )
    assert any(
        w.startswith("EX01\\Relay Legacy (HubTransport) and EX01\\Relay Printers")
        for w in result.warnings
    )
    assert "-TransportRole 'FrontendTransport'" in result.commands[0]


@pytest.mark.parametrize(
    ("ranges", "fragment"),
    [
        (["0.0.0.0/0"], "every IPv4 address"),
        (["0.0.0.0-255.255.255.255"], "every IPv4 address"),
        (["::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"], "every IPv6 address"),
        (["203.0.113.0/24"], "public internet addresses"),
        (["10.0.0.0/8"], "wider than the /24 limit"),
        (["10.0.5"], "not an IPv4 or IPv6 address"),
        ([], "remote_ip_ranges is empty"),
        (None, "remote_ip_ranges is required"),
    ],
)
def test_relay_guard_rejects(ranges: list[str] | None, fragment: str) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        relay(remote_ip_ranges=ranges)
    assert fragment in str(caught.value)


def test_relay_external_authoritative_needs_override() -> None:
    with pytest.raises(pydantic.ValidationError, match="allow_external_authoritative"):
        relay(auth_mechanism=["ExternalAuthoritative"])
    allowed = relay(auth_mechanism=["ExternalAuthoritative"], allow_external_authoritative=True)
    assert allowed.args.auth_mechanism == ["ExternalAuthoritative"]


# --- ad_permission --------------------------------------------------------------------------


def permission(**extra: Any) -> AdPermissionTask:
    values = {
        "identity": "EX01\\Relay Printers",
        "user": ANONYMOUS,
        "extended_rights": [ACCEPT_ANY],
    }
    return AdPermissionTask(AdPermissionArgs(**(values | extra)))


def test_permission_second_run_ok(lab: Lab) -> None:
    seed_relay(lab.org, "EX01", "Relay Printers", ["10.20.30.0/28"])
    result = lab.run(permission())
    assert result.status == "ok"
    assert lab.sent == []


def test_permission_ambiguous_user_fails_before_write(lab: Lab) -> None:
    seed_relay(lab.org, "EX01", "Relay Printers", ["10.20.30.0/28"])
    task = permission(
        user="scanner@contoso.com", extended_rights=["ms-Exch-SMTP-Submit"], deny=True
    )
    with pytest.raises(TaskError, match="matches several accounts"):
        lab.run(task)
    assert lab.sent == []


def test_permission_deny_keeps_allow(lab: Lab) -> None:
    seed_relay(lab.org, "EX01", "Relay Printers", ["10.20.30.0/28"])
    deny = permission(user="CONTOSO\\svc-scan", extended_rights=["ms-Exch-SMTP-Submit"], deny=True)
    assert lab.run(deny).status == "changed"
    assert lab.run(deny).status == "ok"
    rows = lab.permissions("EX01\\Relay Printers")
    assert [(r["User"], r["Deny"]) for r in rows] == [
        (ANONYMOUS, False),
        ("CONTOSO\\svc-scan", True),
    ]


def test_permission_absent_removes_only_matching(lab: Lab) -> None:
    seed_relay(lab.org, "EX01", "Relay Printers", ["10.20.30.0/28"])
    assert lab.run(permission(state="absent", deny=True)).status == "ok"
    assert lab.run(permission(state="absent")).status == "changed"
    assert lab.sent == ["Remove-ADPermission"]
    assert lab.permissions("EX01\\Relay Printers") == []


def test_permission_args_rejected() -> None:
    with pytest.raises(pydantic.ValidationError, match="SERVER"):
        permission(identity="Relay Printers")
    with pytest.raises(pydantic.ValidationError, match="extended_rights is empty"):
        permission(extended_rights=[])


# --- relay_audit ----------------------------------------------------------------------------


def audit(**extra: Any) -> RelayAuditTask:
    return RelayAuditTask(RelayAuditArgs(**({"servers": ["EX01", "EX02"]} | extra)))


def test_audit_clean_org_ok(lab: Lab) -> None:
    seed_relay(lab.org, "EX01", "Relay Printers", ["10.20.30.0/28"])
    result = lab.run(audit())
    assert result.status == "ok"
    assert result.data["relay_connectors"] == [
        {"identity": "EX01\\Relay Printers", "reason": f"ANONYMOUS LOGON has {ACCEPT_ANY}"}
    ]


def test_audit_finds_open_relay(lab: Lab) -> None:
    seed_relay(lab.org, "EX02", "Open Relay", ["0.0.0.0-255.255.255.255"])
    result = lab.run(audit())
    assert result.status == "failed"
    assert "EX02\\Open Relay relays" in result.message
    assert "every IPv4 address" in result.message
    assert lab.sent == []


def test_audit_external_authoritative_public(lab: Lab) -> None:
    trusted = ReceiveConnector(
        name="Partner Trust",
        server="EX01",
        bindings=["0.0.0.0:25"],
        remote_ip_ranges=["203.0.113.0/24"],
        permission_groups=["ExchangeServers"],
        auth_mechanism=["Tls", "ExternalAuthoritative"],
    )
    lab.org.receive_connectors.append(trusted)
    result = lab.run(audit(fail_on_drift=False))
    assert result.status == "ok"
    assert "ExternalAuthoritative" in result.data["errors"][0]
    assert "public internet addresses" in result.data["errors"][0]


def test_audit_snat_inside_relay_and_drift(lab: Lab) -> None:
    seed_relay(lab.org, "EX01", "Relay Apps", ["10.0.5.0/24"])
    seed_relay(lab.org, "EX02", "Relay Apps", ["10.0.5.0-10.0.5.255", "10.0.7.15"])
    result = lab.run(audit(snat_addresses=["10.0.5.10"]))
    assert result.status == "failed"
    assert "10.0.5.10 (load balancer source NAT) is inside EX01\\Relay Apps" in result.message
    assert "EX02\\Relay Apps" in result.message
    [drift] = result.warnings
    assert "only on EX02: 10.0.7.15" in drift
    assert "only on EX01: no addresses" in drift


def test_audit_role_conflict_error(lab: Lab) -> None:
    legacy = ReceiveConnector(
        name="Relay Legacy",
        server="EX01",
        transport_role="HubTransport",
        bindings=["0.0.0.0:25"],
        remote_ip_ranges=["10.20.30.40"],
    )
    lab.org.receive_connectors.append(legacy)
    result = lab.run(audit(servers=["EX01"]))
    assert result.status == "failed"
    assert "Recreate Relay Legacy in FrontendTransport" in result.message


# --- journal --------------------------------------------------------------------------------


def test_relay_journal_restores_ranges(lab: Lab) -> None:
    seed_relay(lab.org, "EX01", "Relay Apps", ["10.0.5.0/24"])
    journal = RecordingJournal()
    lab.run(relay(name="Relay Apps", remote_ip_ranges=["10.0.5.20"]), journal=journal)
    [entry] = journal.entries
    assert entry["target"] == "EX01\\Relay Apps"
    assert entry["before"] == {"RemoteIPRanges": ["10.0.5.0/24"]}
    for statement in entry["undo"]:
        assert lab.session.invoke(statement).ok
    assert lab.connector("EX01\\Relay Apps").remote_ip_ranges == ["10.0.5.0/24"]


def test_relay_journal_undo_of_create(lab: Lab) -> None:
    journal = RecordingJournal()
    lab.run(relay(), journal=journal)
    [entry] = journal.entries
    [undo] = entry["undo"]
    assert str(undo).startswith("Remove-ReceiveConnector -Identity 'EX01\\Relay Printers'")


def test_permission_journal_restores_entry(lab: Lab) -> None:
    seed_relay(lab.org, "EX01", "Relay Printers", ["10.20.30.0/28"])
    journal = RecordingJournal()
    lab.run(permission(state="absent"), journal=journal)
    [entry] = journal.entries
    assert entry["before"] == [ACCEPT_ANY]
    for statement in entry["undo"]:
        assert lab.session.invoke(statement).ok
    [row] = lab.permissions("EX01\\Relay Printers")
    assert row["User"] == ANONYMOUS
