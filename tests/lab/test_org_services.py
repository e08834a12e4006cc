"""Windows service cmdlets take simulated time and warn like Windows PowerShell 5.1."""

from __future__ import annotations

import time
from typing import Any

import pytest

from exchange_agent.lab.clock import Clock, ManualClock
from exchange_agent.lab.cmdlets.services import HANG_LIMIT_SECONDS
from exchange_agent.lab.contract import CmdletCall, LabErrorRecord, LabObject, LabWarning
from exchange_agent.lab.engine import LabEngine
from exchange_agent.lab.org import WindowsService
from exchange_agent.lab.state import open_lab

FRONTEND = "MSExchangeFrontEndTransport"
STOP_WARNING = (
    "Waiting for service 'Microsoft Exchange Frontend Transport (MSExchangeFrontEndTransport)' "
    "to stop..."
)
START_WARNING = STOP_WARNING.replace("to stop...", "to start...")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def engine(clock: ManualClock) -> LabEngine:
    return LabEngine(open_lab(), clock=clock)


def service(engine: LabEngine, name: str = FRONTEND) -> WindowsService:
    (found,) = [s for s in engine.org.services["EX01"] if s.name == name]
    return found


def invoke(engine: LabEngine, name: str, params: dict[str, Any]) -> list[Any]:
    return list(
        engine.invoke([CmdletCall(name, params)], endpoint="windows", user="CONTOSO\\admin")
    )


def test_get_service_shape(engine: LabEngine) -> None:
    (obj,) = invoke(engine, "Get-Service", {"Name": FRONTEND})
    assert isinstance(obj, LabObject)
    assert obj.type_names[0] == "System.ServiceProcess.ServiceController"
    assert obj.properties["Name"] == FRONTEND
    assert obj.properties["DisplayName"] == "Microsoft Exchange Frontend Transport"
    assert obj.properties["Status"] == "Running"
    assert obj.properties["StartType"] == "Automatic"


def test_get_service_wildcard_and_missing(engine: LabEngine) -> None:
    events = invoke(engine, "Get-Service", {"Name": ["MSExchange*Transport", "Nope"]})
    names = [e.properties["Name"] for e in events if isinstance(e, LabObject)]
    assert names == ["MSExchangeFrontEndTransport", "MSExchangeTransport"]
    (record,) = [e for e in events if isinstance(e, LabErrorRecord)]
    assert record.message == "Cannot find any service with service name 'Nope'."
    assert record.fully_qualified_error_id == (
        "NoServiceFoundForGivenName,Microsoft.PowerShell.Commands.GetServiceCommand"
    )


def test_restart_takes_simulated_time(engine: LabEngine, clock: ManualClock) -> None:
    svc = service(engine)
    svc.stop_seconds = 95.0
    svc.start_seconds = 5.0
    events = invoke(engine, "Restart-Service", {"Name": FRONTEND})
    assert clock.monotonic() == pytest.approx(100.0)
    messages = [e.message for e in events if isinstance(e, LabWarning)]
    # One warning per two-second wait that ends with the service still pending.
    assert messages.count(STOP_WARNING) == 47
    assert messages.count(START_WARNING) == 2
    assert messages.index(START_WARNING) > messages.index(STOP_WARNING)
    assert svc.status == "Running"


def test_short_stop_has_no_warning(engine: LabEngine) -> None:
    service(engine).stop_seconds = 1.5
    assert invoke(engine, "Stop-Service", {"Name": FRONTEND}) == []
    assert service(engine).status == "Stopped"


def test_fast_clock_finishes_quickly() -> None:
    engine = LabEngine(open_lab(), clock=Clock(speed=10_000.0))
    service(engine).stop_seconds = 95.0
    started = time.monotonic()
    events = invoke(engine, "Stop-Service", {"Name": FRONTEND})
    assert time.monotonic() - started < 2.0
    assert len(events) == 47


def test_restart_of_stopped_service_only_starts(engine: LabEngine) -> None:
    service(engine).status = "Stopped"
    events = invoke(engine, "Restart-Service", {"Name": FRONTEND, "PassThru": None})
    assert STOP_WARNING not in [e.message for e in events if isinstance(e, LabWarning)]
    assert events[-1].properties["Status"] == "Running"


def test_hanging_start_stays_pending(engine: LabEngine, clock: ManualClock) -> None:
    svc = service(engine)
    svc.hang = True
    svc.status = "Stopped"
    events = invoke(engine, "Start-Service", {"Name": FRONTEND})
    assert svc.status == "StartPending"
    assert clock.monotonic() == pytest.approx(HANG_LIMIT_SECONDS)
    (record,) = [e for e in events if isinstance(e, LabErrorRecord)]
    assert record.fully_qualified_error_id.startswith("StartServiceFailed,")
    (obj,) = invoke(engine, "Get-Service", {"Name": FRONTEND})
    assert obj.properties["Status"] == "StartPending"


def test_disabled_service_cannot_start(engine: LabEngine) -> None:
    svc = service(engine)
    svc.status = "Stopped"
    svc.start_type = "Disabled"
    (record,) = invoke(engine, "Start-Service", {"Name": FRONTEND})
    assert record.fully_qualified_error_id.startswith("CouldNotStartService,")
    assert svc.status == "Stopped"


def test_pipeline_get_to_stop(engine: LabEngine) -> None:
    events = list(
        engine.invoke(
            [
                CmdletCall("Get-Service", {"Name": "MSExchange*Transport"}),
                CmdletCall("Stop-Service", {"Force": None}),
            ],
            endpoint="windows",
            user="CONTOSO\\admin",
        )
    )
    assert all(isinstance(e, LabWarning) for e in events)
    assert service(engine).status == "Stopped"
    assert service(engine, "MSExchangeTransport").status == "Stopped"
    assert service(engine, "MSExchangeDelivery").status == "Running"


def test_clock_rejects_nonpositive_speed() -> None:
    with pytest.raises(ValueError, match="positive"):
        Clock(speed=0)
