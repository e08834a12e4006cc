"""Receive connector and server cmdlets of the lab behave like Exchange 2019's."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

import pytest

from exchange_agent.lab.clock import ManualClock
from exchange_agent.lab.contract import (
    CmdletCall,
    LabErrorRecord,
    LabEvent,
    LabObject,
    LabTerminatingError,
    LabWarning,
    MultiValued,
)
from exchange_agent.lab.engine import LabEngine
from exchange_agent.lab.org import AdPermission, ReceiveConnector
from exchange_agent.lab.state import open_lab

FRONTEND = "EX01\\Default Frontend EX01"
NO_CHANGE = (
    f"The command completed successfully but no settings of '{FRONTEND}' have been modified."
)


@pytest.fixture
def engine() -> LabEngine:
    return LabEngine(open_lab(), clock=ManualClock())


def run(engine: LabEngine, *calls: tuple[str, dict[str, Any]]) -> list[LabEvent]:
    pipeline = [CmdletCall(name, params) for name, params in calls]
    return list(engine.invoke(pipeline, endpoint="exchange", user="CONTOSO\\admin"))


def objects(events: list[LabEvent]) -> list[LabObject]:
    return [e for e in events if isinstance(e, LabObject)]


def errors(events: list[LabEvent]) -> list[LabErrorRecord]:
    return [e for e in events if isinstance(e, LabErrorRecord)]


def warnings(events: list[LabEvent]) -> list[str]:
    return [e.message for e in events if isinstance(e, LabWarning)]


def connector(engine: LabEngine, identity: str = FRONTEND) -> LabObject:
    (found,) = objects(run(engine, ("Get-ReceiveConnector", {"Identity": identity})))
    return found


def test_get_lists_five_default_connectors(engine: LabEngine) -> None:
    found = objects(run(engine, ("Get-ReceiveConnector", {"Server": "EX01"})))
    assert [c.to_string for c in found] == [
        "EX01\\Default EX01",
        "EX01\\Client Proxy EX01",
        "EX01\\Default Frontend EX01",
        "EX01\\Outbound Proxy Frontend EX01",
        "EX01\\Client Frontend EX01",
    ]


def test_get_output_shape(engine: LabEngine) -> None:
    obj = connector(engine)
    assert obj.type_names[0] == (
        "Microsoft.Exchange.Data.Directory.SystemConfiguration.ReceiveConnector"
    )
    assert obj.type_names[-1] == "System.Object"
    props = obj.properties
    assert props["PermissionGroups"] == "AnonymousUsers, ExchangeServers, ExchangeLegacyServers"
    assert props["AuthMechanism"] == (
        "Tls, Integrated, BasicAuth, BasicAuthRequireTLS, ExchangeServer"
    )
    assert props["MaxMessageSize"] == "36 MB (37,748,736 bytes)"
    assert props["TransportRole"] == "FrontendTransport"
    assert props["Identity"] == FRONTEND
    assert isinstance(props["Guid"], UUID)
    assert props["Enabled"] is True
    bindings = props["Bindings"]
    assert isinstance(bindings, MultiValued)
    assert bindings.items == ("[::]:25", "0.0.0.0:25")
    assert "IPBinding" in bindings.type_names[0]
    ranges = props["RemoteIPRanges"]
    assert isinstance(ranges, MultiValued)
    assert "Microsoft.Exchange.Data.IPRange," in ranges.type_names[0]
    assert props["DistinguishedName"].startswith(
        "CN=Default Frontend EX01,CN=SMTP Receive Connectors,CN=Protocols,CN=EX01,"
    )


@pytest.mark.parametrize("form", ["identity", "name", "dn", "guid", "lower"])
def test_get_identity_forms(engine: LabEngine, form: str) -> None:
    props = connector(engine).properties
    identity = {
        "identity": FRONTEND,
        "name": "Default Frontend EX01",
        "dn": props["DistinguishedName"],
        "guid": str(props["Guid"]),
        "lower": FRONTEND.lower(),
    }[form]
    assert connector(engine, identity).to_string == FRONTEND


def test_get_not_found_is_nonterminating(engine: LabEngine) -> None:
    events = run(engine, ("Get-ReceiveConnector", {"Identity": "EX01\\Missing"}))
    (record,) = errors(events)
    assert record.message == (
        "The operation couldn't be performed because object 'EX01\\Missing' couldn't be found "
        "on 'DC01.contoso.com'."
    )
    assert re.fullmatch(
        r"\[Server=EX01,RequestId=[0-9a-f-]{36},TimeStamp=\d+/\d+/\d{4} \d+:\d\d:\d\d [AP]M\] "
        r"\[FailureCategory=Cmdlet-ManagementObjectNotFoundException\] [0-9A-F]{8},"
        r"Microsoft\.Exchange\.Management\.SystemConfigurationTasks\.GetReceiveConnector",
        record.fully_qualified_error_id,
    )
    assert record.target == "EX01\\Missing"


def test_bare_name_ambiguous_across_servers(engine: LabEngine) -> None:
    engine.org.receive_connectors.append(ReceiveConnector(name="Relay", server="EX01"))
    engine.org.receive_connectors.append(ReceiveConnector(name="Relay", server="EX02"))
    events = run(engine, ("Set-ReceiveConnector", {"Identity": "Relay", "Enabled": False}))
    (record,) = errors(events)
    assert record.message == (
        "The operation couldn't be performed because 'Relay' matches multiple entries."
    )
    assert "Cmdlet-ManagementObjectAmbiguousException" in record.fully_qualified_error_id
    assert all(c.enabled for c in engine.org.receive_connectors)


def test_permission_groups_replace_set(engine: LabEngine) -> None:
    events = run(
        engine,
        ("Set-ReceiveConnector", {"Identity": FRONTEND, "PermissionGroups": "ExchangeServers"}),
    )
    assert events == []
    assert connector(engine).properties["PermissionGroups"] == "ExchangeServers"


def test_permission_groups_comma_text(engine: LabEngine) -> None:
    run(
        engine,
        (
            "Set-ReceiveConnector",
            {"Identity": FRONTEND, "PermissionGroups": "exchangeservers, AnonymousUsers"},
        ),
    )
    assert connector(engine).properties["PermissionGroups"] == "AnonymousUsers, ExchangeServers"


def test_custom_reported_with_extra_permissions(engine: LabEngine) -> None:
    (model,) = [c for c in engine.org.receive_connectors if c.identity == FRONTEND]
    model.permissions.append(
        AdPermission("NT AUTHORITY\\ANONYMOUS LOGON", ["ms-Exch-SMTP-Accept-Any-Recipient"])
    )
    assert connector(engine).properties["PermissionGroups"] == (
        "AnonymousUsers, ExchangeServers, ExchangeLegacyServers, Custom"
    )


def test_custom_inherited_permission_not_reported(engine: LabEngine) -> None:
    (model,) = [c for c in engine.org.receive_connectors if c.identity == FRONTEND]
    model.permissions.append(AdPermission("CONTOSO\\admin", ["GenericAll"], inherited=True))
    assert "Custom" not in connector(engine).properties["PermissionGroups"]


def test_custom_cannot_be_set(engine: LabEngine) -> None:
    events = run(
        engine,
        ("Set-ReceiveConnector", {"Identity": FRONTEND, "PermissionGroups": ["Custom"]}),
    )
    (record,) = errors(events)
    assert "Custom" in record.message
    assert record.target == FRONTEND
    assert "Cmdlet-DataValidationException" in record.fully_qualified_error_id


def test_read_value_write_back_noop(engine: LabEngine) -> None:
    current = connector(engine).properties["PermissionGroups"]
    events = run(
        engine, ("Set-ReceiveConnector", {"Identity": FRONTEND, "PermissionGroups": current})
    )
    assert warnings(events) == [NO_CHANGE]


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"PermissionGroups": ["None", "AnonymousUsers"]}, "None"),
        ({"AuthMechanism": ["None", "Tls"]}, "None"),
        ({"AuthMechanism": ["BasicAuthRequireTLS", "BasicAuth"]}, "BasicAuth and Tls"),
        (
            {
                "AuthMechanism": ["Tls", "ExternalAuthoritative"],
                "PermissionGroups": "AnonymousUsers",
            },
            "ExchangeServers",
        ),
        ({"Bindings": []}, "Bindings"),
    ],
)
def test_set_rule_violations_change_nothing(
    engine: LabEngine, params: dict[str, Any], needle: str
) -> None:
    before = connector(engine).properties
    events = run(engine, ("Set-ReceiveConnector", {"Identity": FRONTEND, **params}))
    (record,) = errors(events)
    assert needle in record.message
    assert connector(engine).properties == before


def test_external_authoritative_with_exchange_servers(engine: LabEngine) -> None:
    run(
        engine,
        (
            "Set-ReceiveConnector",
            {
                "Identity": FRONTEND,
                "AuthMechanism": ["Tls", "ExternalAuthoritative"],
                "PermissionGroups": "ExchangeServers",
            },
        ),
    )
    props = connector(engine).properties
    assert props["AuthMechanism"] == "Tls, ExternalAuthoritative"
    assert props["PermissionGroups"] == "ExchangeServers"


def test_noop_warning_for_identical_values(engine: LabEngine) -> None:
    events = run(
        engine,
        (
            "Set-ReceiveConnector",
            {
                "Identity": FRONTEND,
                "Enabled": True,
                "MaxMessageSize": "36 MB (37,748,736 bytes)",
                "Bindings": ["0.0.0.0:25", "[::]:25"],
            },
        ),
    )
    assert warnings(events) == [NO_CHANGE]
    assert errors(events) == []


def test_set_values_normalized(engine: LabEngine) -> None:
    run(
        engine,
        (
            "Set-ReceiveConnector",
            {
                "Identity": FRONTEND,
                "MaxMessageSize": "50MB",
                "Fqdn": "mail.contoso.com",
                "RemoteIPRanges": ["192.168.1.0/24", "10.0.0.1-10.0.0.9", "2001:DB8::1"],
                "Banner": "220 mail",
            },
        ),
    )
    props = connector(engine).properties
    assert props["MaxMessageSize"] == "50 MB (52,428,800 bytes)"
    assert props["Fqdn"] == "mail.contoso.com"
    assert props["RemoteIPRanges"].items == ("192.168.1.0/24", "10.0.0.1-10.0.0.9", "2001:db8::1")
    assert props["Banner"] == "220 mail"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RemoteIPRanges", "10.0.0.300"),
        ("RemoteIPRanges", "10.0.0.9-10.0.0.1"),
        ("Bindings", "0.0.0.0"),
        ("Bindings", "0.0.0.0:70000"),
        ("Fqdn", "bad_name!"),
        ("MaxMessageSize", "lots"),
        ("PermissionGroups", "Everyone"),
        ("Enabled", "false"),
    ],
)
def test_set_bad_value_terminates(engine: LabEngine, name: str, value: str) -> None:
    with pytest.raises(LabTerminatingError) as caught:
        run(engine, ("Set-ReceiveConnector", {"Identity": FRONTEND, name: value}))
    record = caught.value.record
    assert record.fully_qualified_error_id.startswith("ParameterArgumentTransformationError,")
    assert f"'{name}'" in record.message


def test_pipeline_get_then_set(engine: LabEngine) -> None:
    events = run(
        engine,
        ("Get-ReceiveConnector", {"Identity": "Client Frontend EX01"}),
        ("Set-ReceiveConnector", {"ProtocolLoggingLevel": "verbose"}),
    )
    assert events == []
    props = connector(engine, "EX01\\Client Frontend EX01").properties
    assert props["ProtocolLoggingLevel"] == "Verbose"


def test_pipeline_server_to_all_connectors(engine: LabEngine) -> None:
    events = run(
        engine,
        ("Get-ReceiveConnector", {"Server": "ex01.contoso.com"}),
        ("Set-ReceiveConnector", {"Comment": "managed"}),
    )
    assert events == []
    assert all(c.comment == "managed" for c in engine.org.receive_connectors)


def test_pipeline_select_object(engine: LabEngine) -> None:
    (selected,) = objects(
        run(
            engine,
            ("Get-ReceiveConnector", {"Identity": FRONTEND}),
            ("Select-Object", {"Property": ["Identity", "Perm*", "NoSuch"]}),
        )
    )
    assert selected.properties == {
        "Identity": FRONTEND,
        "PermissionGroups": "AnonymousUsers, ExchangeServers, ExchangeLegacyServers",
        "NoSuch": None,
    }
    assert selected.type_names[1] == "System.Management.Automation.PSCustomObject"


def test_whatif_changes_nothing(engine: LabEngine) -> None:
    run(engine, ("Set-ReceiveConnector", {"Identity": FRONTEND, "Enabled": False, "WhatIf": None}))
    assert connector(engine).properties["Enabled"] is True


def test_get_exchange_server(engine: LabEngine) -> None:
    (server,) = objects(run(engine, ("Get-ExchangeServer", {"Identity": "ex01"})))
    assert server.to_string == "EX01"
    assert server.properties["AdminDisplayVersion"] == "Version 15.2 (Build 1118.7)"
    assert server.properties["ServerRole"] == "Mailbox"
    assert server.properties["IsE15OrLater"] is True
    (record,) = errors(run(engine, ("Get-ExchangeServer", {"Identity": "EX99"})))
    assert record.reason == "ManagementObjectNotFoundException"
    assert "Cmdlet-ManagementObjectNotFoundException" in record.fully_qualified_error_id


def test_get_identity_and_server_together(engine: LabEngine) -> None:
    with pytest.raises(LabTerminatingError) as caught:
        run(engine, ("Get-ReceiveConnector", {"Identity": FRONTEND, "Server": "EX01"}))
    assert caught.value.record.fully_qualified_error_id == (
        "AmbiguousParameterSet,"
        "Microsoft.Exchange.Management.SystemConfigurationTasks.GetReceiveConnector"
    )


def test_rename_to_existing_name_rejected(engine: LabEngine) -> None:
    events = run(
        engine, ("Set-ReceiveConnector", {"Identity": FRONTEND, "Name": "client frontend ex01"})
    )
    (record,) = errors(events)
    assert "Cmdlet-ADObjectAlreadyExistsException" in record.fully_qualified_error_id
    assert connector(engine).properties["Name"] == "Default Frontend EX01"


def test_rename_changes_identity(engine: LabEngine) -> None:
    run(engine, ("Set-ReceiveConnector", {"Identity": FRONTEND, "Name": "Internet EX01"}))
    assert connector(engine, "EX01\\Internet EX01").properties["Identity"] == "EX01\\Internet EX01"


def test_binding_conflict_same_ranges_rejected(engine: LabEngine) -> None:
    events = run(
        engine,
        (
            "Set-ReceiveConnector",
            {"Identity": "EX01\\Client Frontend EX01", "Bindings": "0.0.0.0:25"},
        ),
    )
    (record,) = errors(events)
    assert "'EX01\\Default Frontend EX01'" in record.message
    assert connector(engine, "EX01\\Client Frontend EX01").properties["Bindings"].items == (
        "[::]:587",
        "0.0.0.0:587",
    )


def test_binding_shared_with_narrower_ranges_allowed(engine: LabEngine) -> None:
    events = run(
        engine,
        (
            "Set-ReceiveConnector",
            {
                "Identity": "EX01\\Client Frontend EX01",
                "Bindings": "10.0.0.5:25",
                "RemoteIPRanges": "192.168.5.10",
            },
        ),
    )
    assert errors(events) == []
    props = connector(engine, "EX01\\Client Frontend EX01").properties
    assert props["Bindings"].items == ("10.0.0.5:25",)
