"""virtual_directories against the simulated organization, across Exchange versions."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest
from test_autodiscover_scp import Recorder, context, organization

from exchange_agent.lab.engine import LabEngine
from exchange_agent.remote.command import Command
from exchange_agent.remote.inprocess import InProcessSession
from exchange_agent.tasks.virtual_directories import (
    VirtualDirectoriesArgs,
    VirtualDirectoriesTask,
)


def lab() -> tuple[LabEngine, Recorder]:
    engine = LabEngine(organization(), server="EX01")
    return engine, Recorder(InProcessSession("ex01.contoso.com", engine))


def read_one(engine: LabEngine, cmdlet: str, server: str) -> Any:
    session = InProcessSession("ex01.contoso.com", engine)
    result = session.invoke(Command(cmdlet, {"Server": server}))
    assert result.ok
    return result.output[0]


def test_virtual_directories_2019_then_ok() -> None:
    engine, recorder = lab()
    task = VirtualDirectoriesTask(
        VirtualDirectoriesArgs(servers=["EX01"], namespace="Mail.Contoso.com")
    )

    first = task.run(context(engine, recorder))
    second = task.run(context(engine, recorder))

    assert first.status == "changed"
    assert second.status == "ok"
    owa = read_one(engine, "Get-OwaVirtualDirectory", "EX01")
    assert owa["InternalUrl"] == "https://mail.contoso.com/owa"
    assert owa["ExternalUrl"] == "https://mail.contoso.com/owa"
    mapi = read_one(engine, "Get-MapiVirtualDirectory", "EX01")
    assert mapi["ExternalUrl"] == "https://mail.contoso.com/mapi"
    anywhere = read_one(engine, "Get-OutlookAnywhere", "EX01")
    assert anywhere["InternalHostname"] == "mail.contoso.com"
    assert anywhere["ExternalHostname"] == "mail.contoso.com"
    sets = [sent for sent in recorder.sent if sent.startswith("Set-")]
    assert not any(sent.startswith("Set-AutodiscoverVirtualDirectory") for sent in sets)
    assert all("EX01" in sent for sent in recorder.sent)


def test_virtual_directories_2010_sets_autodiscover_urls() -> None:
    engine, recorder = lab()
    task = VirtualDirectoriesTask(
        VirtualDirectoriesArgs(servers=["EX10"], namespace="mail.contoso.com")
    )

    result = task.run(context(engine, recorder))

    assert result.status == "changed"
    autodiscover = read_one(engine, "Get-AutodiscoverVirtualDirectory", "EX10")
    assert autodiscover["ExternalUrl"] == ("https://mail.contoso.com/Autodiscover/Autodiscover.xml")
    commands = " ".join(result.commands)
    assert "Set-MapiVirtualDirectory" not in commands
    assert "InternalHostname" not in commands


def test_virtual_directories_check_mode_lists_changes() -> None:
    engine, recorder = lab()
    task = VirtualDirectoriesTask(
        VirtualDirectoriesArgs(servers=["EX13"], namespace="mail.contoso.com")
    )

    result = task.run(context(engine, recorder, check_mode=True))

    assert result.status == "changed"
    targets = {change.target for change in result.changes}
    assert "EX13\\EWS (Default Web Site)" in targets
    assert "EX13" in targets  # Outlook Anywhere
    assert not [sent for sent in recorder.sent if sent.startswith("Set-")]
    ews = read_one(engine, "Get-WebServicesVirtualDirectory", "EX13")
    assert ews["ExternalUrl"] is None


def test_virtual_directories_internal_only_clears_external() -> None:
    engine, recorder = lab()
    configure = VirtualDirectoriesArgs(servers=["EX01"], namespace="mail.contoso.com")
    VirtualDirectoriesTask(configure).run(context(engine, recorder))
    internal_only = VirtualDirectoriesArgs(
        servers=["EX01"], namespace="mail.contoso.com", external=False
    )

    result = VirtualDirectoriesTask(internal_only).run(context(engine, recorder))

    assert result.status == "changed"
    assert read_one(engine, "Get-OwaVirtualDirectory", "EX01")["ExternalUrl"] is None
    assert read_one(engine, "Get-OutlookAnywhere", "EX01")["ExternalHostname"] is None


@pytest.mark.parametrize("namespace", ["*.contoso.com", "bad..name", ""])
def test_virtual_directories_args_reject_namespace(namespace: str) -> None:
    with pytest.raises(pydantic.ValidationError):
        VirtualDirectoriesArgs(servers=["EX01"], namespace=namespace)
