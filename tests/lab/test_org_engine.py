"""The lab engine resolves cmdlets per endpoint and runs statements safely across threads."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from exchange_agent.lab.clock import Clock, ManualClock
from exchange_agent.lab.contract import CmdletCall, LabErrorRecord, LabObject, LabTerminatingError
from exchange_agent.lab.engine import LabEngine
from exchange_agent.lab.state import open_lab


@pytest.fixture
def engine() -> LabEngine:
    return LabEngine(open_lab(), clock=ManualClock())


def invoke(engine: LabEngine, endpoint: Any, *calls: tuple[str, dict[str, Any]]) -> list[Any]:
    pipeline = [CmdletCall(name, params) for name, params in calls]
    return list(engine.invoke(pipeline, endpoint=endpoint, user="CONTOSO\\admin"))


@pytest.mark.parametrize(
    ("endpoint", "name"),
    [
        ("windows", "Get-ReceiveConnector"),
        ("exchange", "Get-Service"),
        ("exchange", "Restart-Service"),
        ("exchange", "Get-Mailboxx"),
    ],
)
def test_cmdlet_missing_on_endpoint(engine: LabEngine, endpoint: Any, name: str) -> None:
    with pytest.raises(LabTerminatingError) as caught:
        invoke(engine, endpoint, (name, {}))
    record = caught.value.record
    assert record.message == (
        f"The term '{name}' is not recognized as the name of a cmdlet, function, script file, "
        "or operable program. Check the spelling of the name, or if a path was included, "
        "verify that the path is correct and try again."
    )
    assert record.fully_qualified_error_id == "CommandNotFoundException"
    assert record.category == "ObjectNotFound"
    assert record.target == name


def test_unknown_later_stage_runs_nothing(engine: LabEngine) -> None:
    # PowerShell resolves every command of a pipeline before running any of them.
    with pytest.raises(LabTerminatingError):
        invoke(
            engine,
            "exchange",
            ("Set-ReceiveConnector", {"Identity": "EX01\\Client Frontend EX01", "Enabled": False}),
            ("Out-Nowhere", {}),
        )
    (model,) = [c for c in engine.org.receive_connectors if c.name == "Client Frontend EX01"]
    assert model.enabled is True


def test_cmdlet_names_case_insensitive(engine: LabEngine) -> None:
    events = invoke(engine, "exchange", ("get-exchangeserver", {}))
    assert [e.to_string for e in events] == ["EX01"]


def test_select_object_on_both_endpoints(engine: LabEngine) -> None:
    events = invoke(
        engine,
        "windows",
        ("Get-Service", {"Name": "WinRM"}),
        ("Select-Object", {"Property": "Status"}),
    )
    assert [e.properties for e in events] == [{"Status": "Running"}]


def test_empty_upstream_skips_downstream(engine: LabEngine) -> None:
    events = invoke(
        engine,
        "exchange",
        ("Get-ReceiveConnector", {"Identity": "EX01\\Missing"}),
        ("Set-ReceiveConnector", {"Enabled": False}),
    )
    assert len(events) == 1
    assert isinstance(events[0], LabErrorRecord)
    assert all(c.enabled for c in engine.org.receive_connectors)


def test_events_before_terminating_error_are_yielded(engine: LabEngine) -> None:
    iterator = engine.invoke(
        [
            CmdletCall("Get-Service", {"Name": ["NoSuchService", "WinRM"]}),
            CmdletCall("Stop-Service", {"Colour": "red"}),
        ],
        endpoint="windows",
        user="CONTOSO\\admin",
    )
    first = next(iterator)
    assert isinstance(first, LabErrorRecord)
    with pytest.raises(LabTerminatingError) as caught:
        next(iterator)
    assert caught.value.record.fully_qualified_error_id.startswith("NamedParameterNotFound,")


def test_for_server_shares_organization(engine: LabEngine) -> None:
    other = engine.for_server("EX02")
    assert other.org is engine.org
    assert other.lock is engine.lock
    assert other.server == "EX02"


def test_concurrent_statements_serialized() -> None:
    # Eight threads restart the same service and change the same connector at once; every
    # statement must complete and leave the service Running.
    engine = LabEngine(open_lab(), clock=Clock(speed=1000.0))
    failures: list[BaseException] = []

    def restart() -> None:
        try:
            invoke(engine, "windows", ("Restart-Service", {"Name": "MSExchangeTransport"}))
            invoke(
                engine,
                "exchange",
                ("Set-ReceiveConnector", {"Identity": "EX01\\Default EX01", "Comment": "x"}),
            )
        except BaseException as error:  # reported by the assert below
            failures.append(error)

    threads = [threading.Thread(target=restart) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert failures == []
    statuses = invoke(engine, "windows", ("Get-Service", {"Name": "MSExchangeTransport"}))
    assert isinstance(statuses[0], LabObject)
    assert statuses[0].properties["Status"] == "Running"


def test_server_argument_selects_services(engine: LabEngine) -> None:
    # EX02 has no services in the default seed, so a wildcard matches nothing there.
    pipeline = [CmdletCall("Get-Service", {"Name": "MSExchange*"})]
    on_ex02 = list(engine.invoke(pipeline, endpoint="windows", user="a", server="EX02"))
    on_ex01 = list(engine.invoke(pipeline, endpoint="windows", user="a"))
    assert on_ex02 == []
    assert len(on_ex01) == 7


def test_server_named_in_exchange_error_id(engine: LabEngine) -> None:
    pipeline = [CmdletCall("Get-ReceiveConnector", {"Identity": "Nope"})]
    (record,) = engine.for_server("EX02").invoke(pipeline, endpoint="exchange", user="a")
    assert isinstance(record, LabErrorRecord)
    assert record.fully_qualified_error_id.startswith("[Server=EX02,")
