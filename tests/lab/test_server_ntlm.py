"""NTLM and Negotiate with WinRM message encryption on the lab server, through pypsrp."""

from __future__ import annotations

import http.client
from collections.abc import Iterator

import pytest
from pypsrp.exceptions import AuthenticationError
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from exchange_agent.lab.contract import CmdletCall, LabEvent, LabObject
from exchange_agent.lab.server import LabServer

pytestmark = pytest.mark.wire

USERS = {"ada": "Pa55-lab", "CONTOSO\\bob": "B0b-lab"}


class EchoEngine:
    def invoke(self, pipeline: list[CmdletCall], *, endpoint: str, user: str) -> Iterator[LabEvent]:
        # A large property makes the encrypted response span several Receive fragments.
        yield LabObject(
            ("Lab.Echo", "System.Object"), f"{pipeline[0].name}:{user}", {"Pad": "x" * 70_000}
        )


@pytest.fixture
def server() -> Iterator[LabServer]:
    with LabServer(EchoEngine(), users=USERS, auth="ntlm") as lab:
        yield lab


def connect(server: LabServer, auth: str, user: str, password: str) -> WSMan:
    return WSMan(
        "127.0.0.1",
        port=server.port,
        path="PowerShell",
        ssl=False,
        auth=auth,
        username=user,
        password=password,
    )


@pytest.mark.parametrize("auth", ["ntlm", "negotiate"])
def test_encrypted_session_round_trip(server: LabServer, auth: str) -> None:
    connection = connect(server, auth, "ada", "Pa55-lab")
    with RunspacePool(connection, configuration_name="Microsoft.Exchange") as runspaces:
        ps = PowerShell(runspaces)
        ps.add_cmdlet("Get-Lab")
        output = ps.invoke()
        assert connection.transport.encryption is not None
    assert [str(obj) for obj in output] == ["Get-Lab:ada"]
    assert len(output[0].adapted_properties["Pad"]) == 70_000
    assert server.open_shells() == 0


def test_domain_user(server: LabServer) -> None:
    connection = connect(server, "ntlm", "CONTOSO\\bob", "B0b-lab")
    with RunspacePool(connection, configuration_name="Microsoft.Exchange") as runspaces:
        ps = PowerShell(runspaces)
        ps.add_cmdlet("Get-Lab")
        assert [str(obj) for obj in ps.invoke()] == ["Get-Lab:CONTOSO\\bob"]


def test_wrong_password_is_rejected(server: LabServer) -> None:
    connection = connect(server, "ntlm", "ada", "wrong")
    with pytest.raises(AuthenticationError, match="Failed to authenticate the user ada"):
        RunspacePool(connection, configuration_name="Microsoft.Exchange").open()
    assert server.open_shells() == 0


def test_request_without_authentication_gets_401(server: LabServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        connection.request("POST", "/PowerShell", b"<x/>", {"Content-Type": "application/soap+xml"})
        response = connection.getresponse()
        response.read()
    finally:
        connection.close()
    assert response.status == 401
    assert response.getheader("WWW-Authenticate") == "Negotiate"
