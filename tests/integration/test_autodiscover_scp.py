"""autodiscover_scp against the simulated organization, across Exchange versions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pydantic
import pytest

import exchange_agent.lab.cmdlets.clientaccess  # noqa: F401  (registers the cmdlets)
from exchange_agent.autodiscover.gather import ServerMismatchError, check_server, read
from exchange_agent.lab.engine import LabEngine
from exchange_agent.lab.org import Organization, Server
from exchange_agent.remote.command import Command, Statement
from exchange_agent.remote.inprocess import InProcessSession
from exchange_agent.tasks import registry
from exchange_agent.tasks.autodiscover_scp import AutodiscoverScpArgs, AutodiscoverScpTask
from exchange_agent.tasks.base import TaskContext

URI = "https://autodiscover.contoso.com/Autodiscover/Autodiscover.xml"


def organization() -> Organization:
    return Organization(
        servers=[
            Server("EX01", "ex01.contoso.com", 2019, "15.2.1118.7"),
            Server("EX03", "ex03.contoso.local", 2019, "15.2.1118.7"),
            Server("EX13", "ex13.contoso.com", 2013, "15.0.1497.2"),
            Server("EX10", "ex10.contoso.com", 2010, "14.3.123.4"),
        ]
    )


@dataclass
class Recorder:
    """Passes statements to the lab session and keeps each statement it sent."""

    inner: InProcessSession
    sent: list[str] = field(default_factory=list)
    host: str = "ex01.contoso.com"
    endpoint: str = "exchange"

    def invoke(self, *statements: Statement, timeout: float | None = None) -> Any:
        self.sent.extend(str(statement) for statement in statements)
        return self.inner.invoke(*statements, timeout=timeout)


def context(engine: LabEngine, recorder: Recorder, *, check_mode: bool = False) -> TaskContext:
    def open_session(endpoint: str) -> Any:
        assert endpoint == "exchange"
        return recorder

    return TaskContext("ex01.contoso.com", check_mode, False, {}, open_session)


def scp_of(engine: LabEngine, server: str, noun: str) -> Any:
    session = InProcessSession(f"{server.lower()}.contoso.com", engine.for_server(server))
    items = read(session, "test", Command(f"Get-{noun}", {"Identity": server}))
    return items[0]["AutoDiscoverServiceInternalUri"]


def test_scp_task_registered() -> None:
    assert registry()["autodiscover_scp"] is AutodiscoverScpTask


def test_scp_new_server_repointed_existing_ok() -> None:
    engine = LabEngine(organization(), server="EX01")
    recorder = Recorder(InProcessSession("ex01.contoso.com", engine))
    task = AutodiscoverScpTask(AutodiscoverScpArgs(servers=["EX01"], uri=URI))
    assert task.run(context(engine, recorder)).status == "changed"
    assert task.run(context(engine, recorder)).status == "ok"

    both = AutodiscoverScpTask(AutodiscoverScpArgs(servers=["EX01", "EX03"], uri=URI))
    result = both.run(context(engine, recorder))

    assert result.status == "changed"
    assert [change.target for change in result.changes] == ["EX03"]
    assert result.changes[0].before == "https://ex03.contoso.local/Autodiscover/Autodiscover.xml"
    assert scp_of(engine, "EX03", "ClientAccessService") == URI


def test_scp_cmdlet_follows_reported_version() -> None:
    engine = LabEngine(organization(), server="EX01")
    recorder = Recorder(InProcessSession("ex01.contoso.com", engine))
    task = AutodiscoverScpTask(AutodiscoverScpArgs(servers=["EX01", "EX13"], uri=URI))

    result = task.run(context(engine, recorder, check_mode=True))

    assert result.status == "changed"
    assert result.commands[0].startswith("Set-ClientAccessService -Identity 'EX01'")
    assert result.commands[1].startswith("Set-ClientAccessServer -Identity 'EX13'")


def test_scp_check_mode_sends_no_write() -> None:
    engine = LabEngine(organization(), server="EX01")
    recorder = Recorder(InProcessSession("ex01.contoso.com", engine))
    task = AutodiscoverScpTask(AutodiscoverScpArgs(servers=["EX03"], uri=URI))

    task.run(context(engine, recorder, check_mode=True))

    assert not [sent for sent in recorder.sent if sent.startswith("Set-")]
    assert scp_of(engine, "EX03", "ClientAccessService") != URI


def test_scp_every_command_names_server() -> None:
    engine = LabEngine(organization(), server="EX01")
    recorder = Recorder(InProcessSession("ex01.contoso.com", engine))
    task = AutodiscoverScpTask(AutodiscoverScpArgs(servers=["EX03"], uri=None))

    task.run(context(engine, recorder))

    assert recorder.sent
    assert all("-Identity 'EX03'" in sent for sent in recorder.sent)
    assert scp_of(engine, "EX03", "ClientAccessService") is None


def test_scp_answer_for_other_server_fails() -> None:
    engine = LabEngine(organization(), server="EX01")
    session = InProcessSession("ex01.contoso.com", engine)
    everyone = read(session, "ex01", Command("Get-ClientAccessService"))

    with pytest.raises(
        ServerMismatchError, match="ex01: Exchange answered for server EX03, not EX01"
    ):
        check_server("ex01", "EX01", everyone)


def test_scp_2016_cmdlet_missing_on_2013_session() -> None:
    engine = LabEngine(organization(), server="EX13")
    session = InProcessSession("ex13.contoso.com", engine)

    result = session.invoke(Command("Get-ClientAccessService", {"Identity": "EX13"}))

    assert not result.ok


@pytest.mark.parametrize(
    "uri", ["http://autodiscover.contoso.com/x", "autodiscover.contoso.com", "https://"]
)
def test_scp_args_reject_bad_uri(uri: str) -> None:
    with pytest.raises(pydantic.ValidationError, match="https://"):
        AutodiscoverScpArgs(servers=["EX01"], uri=uri)
