"""InProcessSession: wire conversion of commands and the mapping of engine events to results.

``EventEngine`` below implements the lab's ``Engine`` protocol by replaying fixed events; it
models no cmdlet. It checks what the session sends across that boundary and how it turns events
into a ``Result``. Cmdlet behaviour is tested against the lab's own engine.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from exchange_agent.lab.contract import (
    CmdletCall,
    EndpointName,
    LabErrorRecord,
    LabEvent,
    LabObject,
    LabTerminatingError,
    LabWarning,
    MultiValued,
)
from exchange_agent.remote.command import Command, Secret, Switch
from exchange_agent.remote.errors import CommandError, RemoteError
from exchange_agent.remote.inprocess import InProcessSession, to_cmdlet_calls, wire_value
from exchange_agent.remote.result import ExObject
from exchange_agent.remote.session import Session

NOT_FOUND = LabErrorRecord(
    message="The operation couldn't be performed because object 'EX01\\Nope' couldn't be found.",
    fully_qualified_error_id=(
        "[Server=EX01,RequestId=1,TimeStamp=1] "
        "[FailureCategory=Cmdlet-ManagementObjectNotFoundException] E3DE7D95,"
        "Microsoft.Exchange.Management.SystemConfigurationTasks.GetReceiveConnector"
    ),
    category="NotSpecified",
    reason="ManagementObjectNotFoundException",
    target="EX01\\Nope",
    exception_type="Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException",
    command="Get-ReceiveConnector",
)
CONNECTOR = LabObject(
    type_names=(
        "Microsoft.Exchange.Data.Directory.SystemConfiguration.ReceiveConnector",
        "System.Object",
    ),
    to_string="EX01\\Relay",
    properties={
        "Name": "Relay",
        "PermissionGroups": "AnonymousUsers",
        "RemoteIPRanges": MultiValued(("192.0.2.10", "192.0.2.11")),
        "Enabled": True,
    },
)


class EventEngine:
    """Replays one list of events per statement and records the calls it received."""

    def __init__(self, *responses: list[LabEvent] | LabTerminatingError) -> None:
        self.responses = list(responses)
        self.calls: list[tuple[list[CmdletCall], EndpointName, str]] = []

    def invoke(
        self, pipeline: list[CmdletCall], *, endpoint: EndpointName, user: str
    ) -> Iterator[LabEvent]:
        self.calls.append((pipeline, endpoint, user))
        response = self.responses.pop(0)
        if isinstance(response, LabTerminatingError):
            raise response
        yield from response


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Switch(True), None),
        (Switch(False), False),
        (Secret("pw"), "pw"),
        (("a", "b"), ["a", "b"]),
        ({"Remove": ("smtp:a@fabrikam.com",)}, {"Remove": ["smtp:a@fabrikam.com"]}),
        (b"\x00", b"\x00"),
        (None, None),
        (5, 5),
        ("text", "text"),
    ],
)
def test_wire_value(value: object, expected: object) -> None:
    assert wire_value(value) == expected


def test_pipeline_becomes_cmdlet_calls() -> None:
    statement = Command("Get-ReceiveConnector", {"Identity": "EX01\\Relay"}) | Command(
        "Add-ADPermission",
        {"User": "NT AUTHORITY\\ANONYMOUS LOGON", "ExtendedRights": ("ms-Exch-SMTP-Submit",)},
    )
    assert to_cmdlet_calls(statement) == [
        CmdletCall("Get-ReceiveConnector", {"Identity": "EX01\\Relay"}),
        CmdletCall(
            "Add-ADPermission",
            {"User": "NT AUTHORITY\\ANONYMOUS LOGON", "ExtendedRights": ["ms-Exch-SMTP-Submit"]},
        ),
    ]


def test_invoke_maps_events_to_result() -> None:
    engine = EventEngine([CONNECTOR, LabWarning("no settings modified"), NOT_FOUND])
    session = InProcessSession("ex01.contoso.com", engine, user="CONTOSO\\ada")
    result = session.invoke(Command("Get-ReceiveConnector"))
    (connector,) = result.output
    assert isinstance(connector, ExObject)
    assert str(connector) == "EX01\\Relay"
    assert connector["RemoteIPRanges"] == ["192.0.2.10", "192.0.2.11"]
    assert connector["Enabled"] is True
    assert result.warnings == ["no settings modified"]
    (error,) = result.errors
    assert error.is_not_found
    assert error.target == "EX01\\Nope"
    assert result.state == "Completed"
    assert not result.ok
    assert engine.calls == [([CmdletCall("Get-ReceiveConnector", {})], "exchange", "CONTOSO\\ada")]


def test_terminating_error_stops_later_statements() -> None:
    engine = EventEngine(LabTerminatingError(NOT_FOUND), [CONNECTOR])
    session = InProcessSession("ex01", engine)
    result = session.invoke(Command("Get-ReceiveConnector"), Command("Get-AcceptedDomain"))
    assert result.state == "Failed"
    assert [e.reason for e in result.errors] == ["ManagementObjectNotFoundException"]
    assert result.output == []
    assert len(engine.calls) == 1


def test_stream_raises_at_first_error() -> None:
    engine = EventEngine([CONNECTOR, NOT_FOUND, CONNECTOR])
    stream = InProcessSession("ex01", engine).stream(Command("Get-ReceiveConnector"))
    assert str(next(stream)) == "EX01\\Relay"
    with pytest.raises(CommandError) as caught:
        next(stream)
    assert caught.value.is_not_found


def test_stream_terminating_error() -> None:
    engine = EventEngine(LabTerminatingError(NOT_FOUND))
    with pytest.raises(CommandError, match="ManagementObjectNotFoundException"):
        list(InProcessSession("ex01", engine).stream(Command("Get-ReceiveConnector")))


def test_session_properties_and_close() -> None:
    session = InProcessSession("ex01.contoso.com", EventEngine(), endpoint="windows")
    assert isinstance(session, Session)
    assert session.host == "ex01.contoso.com"
    assert session.endpoint == "windows"
    assert session.server_name == "EX01"
    session.close()
    session.close()
    with pytest.raises(RemoteError, match="session is closed"):
        session.invoke(Command("Get-Service"))


def test_invoke_without_statements_raises() -> None:
    with pytest.raises(ValueError, match="at least one statement"):
        InProcessSession("ex01", EventEngine()).invoke()
