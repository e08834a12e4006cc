"""The in-process session drives the lab engine end to end with typed commands."""

from __future__ import annotations

import pytest

from exchange_agent.lab.clock import ManualClock
from exchange_agent.lab.engine import LabEngine
from exchange_agent.lab.state import open_lab
from exchange_agent.remote.command import Command, Switch
from exchange_agent.remote.inprocess import InProcessSession

FRONTEND = "EX01\\Default Frontend EX01"


@pytest.fixture
def engine() -> LabEngine:
    return LabEngine(open_lab(), clock=ManualClock())


def test_session_set_and_read_back(engine: LabEngine) -> None:
    session = InProcessSession("ex01.contoso.com", engine)
    result = session.invoke(
        Command(
            "Set-ReceiveConnector", {"Identity": FRONTEND, "PermissionGroups": ["ExchangeServers"]}
        ),
        Command("Get-ReceiveConnector", {"Identity": FRONTEND}),
    )
    assert result.ok
    (connector,) = result.output
    assert str(connector["PermissionGroups"]) == "ExchangeServers"


def test_session_noop_warning_and_not_found(engine: LabEngine) -> None:
    session = InProcessSession("ex01.contoso.com", engine)
    result = session.invoke(
        Command("Set-ReceiveConnector", {"Identity": FRONTEND, "Enabled": True}),
        Command("Get-ReceiveConnector", {"Identity": "EX01\\Missing"}),
    )
    assert result.warnings == [
        f"The command completed successfully but no settings of '{FRONTEND}' have been modified."
    ]
    (error,) = result.errors
    assert error.is_not_found
    assert error.failure_category == "Cmdlet-ManagementObjectNotFoundException"
    assert result.state == "Completed"


def test_session_pipeline_and_switch(engine: LabEngine) -> None:
    session = InProcessSession("ex01.contoso.com", engine, endpoint="windows")
    result = session.invoke(
        Command("Get-Service", {"Name": "MSExchangeTransport"})
        | Command("Restart-Service", {"Force": Switch(True), "PassThru": Switch(True)})
    )
    assert result.ok
    (service,) = result.output
    assert service["Status"] == "Running"
    assert any("to stop..." in warning for warning in result.warnings)


def test_session_exchange_cmdlet_on_windows_fails(engine: LabEngine) -> None:
    session = InProcessSession("ex01.contoso.com", engine, endpoint="windows")
    result = session.invoke(Command("Get-ReceiveConnector", {}))
    assert result.state == "Failed"
    (error,) = result.errors
    assert error.fully_qualified_error_id == "CommandNotFoundException"
