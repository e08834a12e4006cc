"""New/Remove-ReceiveConnector and the AD permission cmdlets of the lab."""

from __future__ import annotations

from typing import Any

import pytest

from exchange_agent.lab.clock import ManualClock
from exchange_agent.lab.contract import (
    CmdletCall,
    LabErrorRecord,
    LabEvent,
    LabObject,
    LabTerminatingError,
)
from exchange_agent.lab.engine import LabEngine
from exchange_agent.lab.org import AdUser, Server
from exchange_agent.lab.state import open_lab

ANONYMOUS = "NT AUTHORITY\\ANONYMOUS LOGON"
ACCEPT_ANY = "ms-Exch-SMTP-Accept-Any-Recipient"
RELAY = "EX01\\Relay Printers"
NEW_RELAY: dict[str, Any] = {
    "Name": "Relay Printers",
    "Server": "EX01",
    "TransportRole": "FrontendTransport",
    "Custom": True,
    "Bindings": ["0.0.0.0:25"],
    "RemoteIPRanges": ["10.0.5.20", "10.0.6.0/24"],
}


@pytest.fixture
def engine() -> LabEngine:
    org = open_lab()
    org.ad_users.append(AdUser("svc-scan", "scanner@contoso.com"))
    org.ad_users.append(AdUser("mfp-lobby", "mfp-lobby@contoso.com", mail="scanner@contoso.com"))
    org.servers.append(Server(name="EX10", fqdn="EX10.contoso.com", version=2010))
    return LabEngine(org, clock=ManualClock())


def run(engine: LabEngine, *calls: tuple[str, dict[str, Any]]) -> list[LabEvent]:
    pipeline = [CmdletCall(name, params) for name, params in calls]
    return list(engine.invoke(pipeline, endpoint="exchange", user="CONTOSO\\admin"))


def objects(events: list[LabEvent]) -> list[LabObject]:
    return [event for event in events if isinstance(event, LabObject)]


def errors(events: list[LabEvent]) -> list[LabErrorRecord]:
    return [event for event in events if isinstance(event, LabErrorRecord)]


def terminating(engine: LabEngine, *calls: tuple[str, dict[str, Any]]) -> LabErrorRecord:
    with pytest.raises(LabTerminatingError) as caught:
        run(engine, *calls)
    return caught.value.record


def permissions(engine: LabEngine, identity: str = RELAY) -> list[LabObject]:
    return objects(run(engine, ("Get-ADPermission", {"Identity": identity})))


def test_new_custom_connector_created(engine: LabEngine) -> None:
    [created] = objects(run(engine, ("New-ReceiveConnector", NEW_RELAY)))
    assert created.to_string == RELAY
    assert created.properties["TransportRole"] == "FrontendTransport"
    assert created.properties["RemoteIPRanges"].items == ("10.0.5.20", "10.0.6.0/24")
    assert created.properties["Bindings"].items == ("0.0.0.0:25",)


def test_new_name_clash_rejected(engine: LabEngine) -> None:
    run(engine, ("New-ReceiveConnector", NEW_RELAY))
    [error] = errors(run(engine, ("New-ReceiveConnector", NEW_RELAY)))
    assert "ADObjectAlreadyExistsException" in error.fully_qualified_error_id
    assert "already exists" in error.message


def test_new_same_binding_and_ranges_rejected(engine: LabEngine) -> None:
    run(engine, ("New-ReceiveConnector", NEW_RELAY))
    twin = NEW_RELAY | {"Name": "Relay Twin"}
    [error] = errors(run(engine, ("New-ReceiveConnector", twin)))
    assert "conflict with the settings on Receive connector 'EX01\\Relay Printers'" in error.message


def test_new_other_role_same_binding_rejected(engine: LabEngine) -> None:
    hub = NEW_RELAY | {"TransportRole": "HubTransport"}
    [error] = errors(run(engine, ("New-ReceiveConnector", hub)))
    assert "different Transport roles" in error.message
    assert "Default Frontend EX01" in error.message


def test_new_without_role_lands_in_hub(engine: LabEngine) -> None:
    no_role = {k: v for k, v in NEW_RELAY.items() if k != "TransportRole"}
    no_role["Bindings"] = ["0.0.0.0:2526"]
    [created] = objects(run(engine, ("New-ReceiveConnector", no_role)))
    assert created.properties["TransportRole"] == "HubTransport"


@pytest.mark.parametrize("missing", ["Bindings", "RemoteIPRanges"])
def test_new_custom_requires_lists(engine: LabEngine, missing: str) -> None:
    params = {k: v for k, v in NEW_RELAY.items() if k != missing}
    record = terminating(engine, ("New-ReceiveConnector", params))
    assert record.fully_qualified_error_id.startswith("MissingMandatoryParameter,")
    assert missing in record.message


def test_new_empty_ranges_rejected(engine: LabEngine) -> None:
    record = terminating(engine, ("New-ReceiveConnector", NEW_RELAY | {"RemoteIPRanges": []}))
    assert "EmptyArrayNotAllowed" in record.fully_qualified_error_id


def test_new_needs_usage_type(engine: LabEngine) -> None:
    params = {k: v for k, v in NEW_RELAY.items() if k != "Custom"}
    record = terminating(engine, ("New-ReceiveConnector", params))
    assert record.fully_qualified_error_id.startswith("AmbiguousParameterSet,")


def test_new_client_usage_rejects_bindings(engine: LabEngine) -> None:
    params = {k: v for k, v in NEW_RELAY.items() if k != "Custom"} | {"Usage": "Client"}
    record = terminating(engine, ("New-ReceiveConnector", params))
    assert record.fully_qualified_error_id.startswith("AmbiguousParameterSet,")


def test_new_transport_role_absent_on_2010(engine: LabEngine) -> None:
    record = terminating(engine, ("New-ReceiveConnector", NEW_RELAY | {"Server": "EX10"}))
    assert record.fully_qualified_error_id.startswith("NamedParameterNotFound,")
    params = {k: v for k, v in NEW_RELAY.items() if k != "TransportRole"} | {"Server": "EX10"}
    [created] = objects(run(engine, ("New-ReceiveConnector", params)))
    assert "TransportRole" not in created.properties


def test_new_malformed_range_rejected(engine: LabEngine) -> None:
    params = NEW_RELAY | {"RemoteIPRanges": ["10.0.5"]}
    [error] = errors(run(engine, ("New-ReceiveConnector", params)))
    assert "isn't a valid IP address range" in error.message


def test_remove_connector(engine: LabEngine) -> None:
    run(engine, ("New-ReceiveConnector", NEW_RELAY))
    assert not errors(
        run(engine, ("Remove-ReceiveConnector", {"Identity": RELAY, "Confirm": False}))
    )
    [error] = errors(run(engine, ("Get-ReceiveConnector", {"Identity": RELAY})))
    assert "ManagementObjectNotFoundException" in error.fully_qualified_error_id


def test_add_permission_never_duplicates(engine: LabEngine) -> None:
    run(engine, ("New-ReceiveConnector", NEW_RELAY))
    grant = {"Identity": RELAY, "User": ANONYMOUS, "ExtendedRights": [ACCEPT_ANY]}
    first = objects(run(engine, ("Add-ADPermission", grant)))
    second = objects(run(engine, ("Add-ADPermission", grant)))
    assert len(first) == 1
    assert second == []
    [row] = permissions(engine)
    assert row.properties["User"] == ANONYMOUS
    assert row.properties["ExtendedRights"].items == (ACCEPT_ANY,)
    assert row.properties["Deny"] is False
    assert row.properties["IsInherited"] is False


def test_add_through_pipeline(engine: LabEngine) -> None:
    run(engine, ("New-ReceiveConnector", NEW_RELAY))
    grant = {"User": ANONYMOUS, "ExtendedRights": [ACCEPT_ANY]}
    run(engine, ("Get-ReceiveConnector", {"Identity": RELAY}), ("Add-ADPermission", grant))
    assert len(permissions(engine)) == 1


def test_rows_per_principal_and_right(engine: LabEngine) -> None:
    run(engine, ("New-ReceiveConnector", NEW_RELAY))
    rights = [ACCEPT_ANY, "ms-Exch-SMTP-Submit"]
    run(
        engine,
        ("Add-ADPermission", {"Identity": RELAY, "User": ANONYMOUS, "ExtendedRights": rights}),
    )
    run(
        engine,
        ("Add-ADPermission", {"Identity": RELAY, "User": "jsmith", "ExtendedRights": rights[1:]}),
    )
    rows = permissions(engine)
    assert [(r.properties["User"], r.properties["ExtendedRights"].items[0]) for r in rows] == [
        (ANONYMOUS, ACCEPT_ANY),
        (ANONYMOUS, "ms-Exch-SMTP-Submit"),
        ("CONTOSO\\jsmith", "ms-Exch-SMTP-Submit"),
    ]
    jsmith = objects(run(engine, ("Get-ADPermission", {"Identity": RELAY, "User": "jsmith"})))
    assert len(jsmith) == 1


def test_deny_entry_kept_apart_from_allow(engine: LabEngine) -> None:
    run(engine, ("New-ReceiveConnector", NEW_RELAY))
    grant = {"Identity": RELAY, "User": ANONYMOUS, "ExtendedRights": [ACCEPT_ANY]}
    run(engine, ("Add-ADPermission", grant))
    run(engine, ("Add-ADPermission", grant | {"Deny": True}))
    assert sorted(r.properties["Deny"] for r in permissions(engine)) == [False, True]
    run(engine, ("Remove-ADPermission", grant | {"Deny": True, "Confirm": False}))
    [row] = permissions(engine)
    assert row.properties["Deny"] is False


def test_ambiguous_user_rejected(engine: LabEngine) -> None:
    run(engine, ("New-ReceiveConnector", NEW_RELAY))
    grant = {"Identity": RELAY, "User": "scanner@contoso.com", "ExtendedRights": [ACCEPT_ANY]}
    [error] = errors(run(engine, ("Add-ADPermission", grant)))
    assert "multiple users or groups matching the identity" in error.message
    assert permissions(engine) == []


def test_unknown_user_rejected(engine: LabEngine) -> None:
    run(engine, ("New-ReceiveConnector", NEW_RELAY))
    grant = {"Identity": RELAY, "User": "nobody", "ExtendedRights": [ACCEPT_ANY]}
    [error] = errors(run(engine, ("Add-ADPermission", grant)))
    assert "ManagementObjectNotFoundException" in error.fully_qualified_error_id


def test_permission_on_missing_connector(engine: LabEngine) -> None:
    [error] = errors(run(engine, ("Get-ADPermission", {"Identity": "EX01\\Nope"})))
    assert "couldn't be found" in error.message
