"""Client access lab cmdlets: shapes, version differences and per-server state."""

from __future__ import annotations

import pytest

import exchange_agent.lab.cmdlets.clientaccess  # noqa: F401  (registers the cmdlets)
from exchange_agent.lab.engine import LabEngine
from exchange_agent.lab.org import Organization, Server
from exchange_agent.remote.command import Command, Switch
from exchange_agent.remote.inprocess import InProcessSession
from exchange_agent.remote.result import Result


def engine() -> LabEngine:
    org = Organization(
        servers=[
            Server("EX01", "ex01.contoso.com", 2019, "15.2.1118.7"),
            Server("EX02", "ex02.contoso.com", 2016, "15.1.2507.6"),
            Server("EX13", "ex13.contoso.com", 2013, "15.0.1497.2"),
            Server("EX10", "ex10.contoso.com", 2010, "14.3.123.4"),
        ]
    )
    return LabEngine(org, server="EX01")


def invoke(lab: LabEngine, server: str, command: Command) -> Result:
    return InProcessSession(f"{server.lower()}.contoso.com", lab.for_server(server)).invoke(command)


def test_owa_directory_shape_matches_exchange() -> None:
    result = invoke(engine(), "EX01", Command("Get-OwaVirtualDirectory", {"Server": "EX01"}))

    assert result.ok
    owa = result.output[0]
    assert owa["Name"] == "owa (Default Web Site)"
    assert owa["Identity"] == "EX01\\owa (Default Web Site)"
    assert owa["Server"] == "EX01"
    assert owa["InternalUrl"] == "https://ex01.contoso.com/owa"
    assert owa["ExternalUrl"] is None


def test_new_server_scp_points_at_itself() -> None:
    result = invoke(engine(), "EX01", Command("Get-ClientAccessService", {"Identity": "EX02"}))

    assert result.ok
    assert result.output[0]["Name"] == "EX02"
    assert result.output[0]["AutoDiscoverServiceInternalUri"] == (
        "https://ex02.contoso.com/Autodiscover/Autodiscover.xml"
    )


def test_client_access_service_missing_before_2016() -> None:
    lab = engine()

    on_2013 = invoke(lab, "EX13", Command("Get-ClientAccessService", {"Identity": "EX13"}))
    server_cmdlet = invoke(lab, "EX13", Command("Get-ClientAccessServer", {"Identity": "EX13"}))

    assert not on_2013.ok
    assert server_cmdlet.ok


def test_set_client_access_server_deprecated_on_2019() -> None:
    lab = engine()
    uri = "https://autodiscover.contoso.com/Autodiscover/Autodiscover.xml"
    command = Command(
        "Set-ClientAccessServer",
        {"Identity": "EX02", "AutoDiscoverServiceInternalUri": uri, "Confirm": Switch(False)},
    )

    result = invoke(lab, "EX01", command)
    after = invoke(lab, "EX01", Command("Get-ClientAccessService", {"Identity": "EX02"}))

    assert result.ok
    assert any("deprecated" in warning for warning in result.warnings)
    assert after.output[0]["AutoDiscoverServiceInternalUri"] == uri


def test_set_changes_only_named_server() -> None:
    lab = engine()
    command = Command(
        "Set-WebServicesVirtualDirectory",
        {
            "Identity": "EX02\\EWS (Default Web Site)",
            "ExternalUrl": "https://mail.contoso.com/EWS/Exchange.asmx",
        },
    )

    assert invoke(lab, "EX01", command).ok
    ex01 = invoke(lab, "EX01", Command("Get-WebServicesVirtualDirectory", {"Server": "EX01"}))
    ex02 = invoke(lab, "EX01", Command("Get-WebServicesVirtualDirectory", {"Server": "EX02"}))

    assert ex01.output[0]["ExternalUrl"] is None
    assert ex02.output[0]["ExternalUrl"] == "https://mail.contoso.com/EWS/Exchange.asmx"


@pytest.mark.parametrize(("server", "accepted"), [("EX10", True), ("EX13", False)])
def test_autodiscover_directory_urls_only_2010(server: str, accepted: bool) -> None:
    command = Command(
        "Set-AutodiscoverVirtualDirectory",
        {
            "Identity": f"{server}\\Autodiscover (Default Web Site)",
            "InternalUrl": "https://mail.contoso.com/Autodiscover/Autodiscover.xml",
        },
    )

    result = invoke(engine(), "EX01", command)

    assert result.ok is accepted


def test_mapi_directory_absent_on_2010() -> None:
    lab = engine()

    on_2010 = invoke(lab, "EX01", Command("Get-MapiVirtualDirectory", {"Server": "EX10"}))
    on_2013 = invoke(lab, "EX01", Command("Get-MapiVirtualDirectory", {"Server": "EX13"}))

    assert not on_2010.ok
    assert on_2013.ok


def test_outlook_anywhere_internal_hostname_not_on_2010() -> None:
    lab = engine()
    command = Command(
        "Set-OutlookAnywhere",
        {"Identity": "EX10\\Rpc (Default Web Site)", "InternalHostname": "mail.contoso.com"},
    )

    result = invoke(lab, "EX01", command)
    listed = invoke(lab, "EX01", Command("Get-OutlookAnywhere", {"Server": "EX10"}))

    assert not result.ok
    assert listed.output[0]["InternalHostname"] is None


def test_unknown_server_is_error() -> None:
    result = invoke(engine(), "EX01", Command("Get-OwaVirtualDirectory", {"Server": "EX99"}))

    assert not result.ok
