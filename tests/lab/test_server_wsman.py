"""The lab WinRM server through unmodified pypsrp and raw HTTP on 127.0.0.1."""

from __future__ import annotations

import base64
import http.client
import threading
from collections.abc import Iterator

import pytest
from pydantic import SecretStr
from pypsrp.powershell import PowerShell, PSInvocationState, RunspacePool
from pypsrp.wsman import WSMan

from exchange_agent.lab.clock import ManualClock
from exchange_agent.lab.contract import CmdletCall, LabEvent, LabObject
from exchange_agent.lab.engine import LabEngine
from exchange_agent.lab.server import LabServer
from exchange_agent.lab.state import open_lab
from exchange_agent.remote.command import Command, Switch
from exchange_agent.remote.psrp import PsrpSession
from exchange_agent.remote.settings import EndpointSettings

pytestmark = pytest.mark.wire

USERS = {"ada": "Pa55-lab"}
FRONTEND = "EX01\\Default Frontend EX01"


class GateEngine:
    """Yields one object per call; ``Wait-Lab`` blocks until ``gate`` is set."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.calls: list[list[CmdletCall]] = []

    def invoke(self, pipeline: list[CmdletCall], *, endpoint: str, user: str) -> Iterator[LabEvent]:
        self.calls.append(pipeline)
        if pipeline[-1].name == "Wait-Lab":
            self.gate.wait(10)
        yield LabObject(("Lab.Echo", "System.Object"), f"{endpoint}:{user}", {"Calls": 1})


@pytest.fixture
def lab() -> Iterator[LabServer]:
    engine = LabEngine(open_lab(), clock=ManualClock())
    with LabServer(engine, users=USERS) as server:
        yield server


@pytest.fixture
def gate() -> Iterator[tuple[LabServer, GateEngine]]:
    engine = GateEngine()
    with LabServer(engine, users=USERS) as server:
        yield server, engine
        engine.gate.set()


def wsman(server: LabServer, path: str = "PowerShell", **options: object) -> WSMan:
    return WSMan(
        "127.0.0.1",
        port=server.port,
        path=path,
        ssl=False,
        auth="basic",
        encryption="never",
        username="ada",
        password=USERS["ada"],
        **options,  # type: ignore[arg-type]
    )


def pool(server: LabServer, **options: object) -> RunspacePool:
    return RunspacePool(wsman(server, **options), configuration_name="Microsoft.Exchange")


def post(
    server: LabServer, path: str, body: bytes, password: str = USERS["ada"]
) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    token = base64.b64encode(f"ada:{password}".encode()).decode()
    try:
        connection.request(
            "POST",
            path,
            body,
            {"Authorization": f"Basic {token}", "Content-Type": "application/soap+xml"},
        )
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_real_engine_round_trip_changes_and_reads_back(lab: LabServer) -> None:
    settings = EndpointSettings(
        url=lab.exchange_url,
        auth="basic",
        encryption="never",
        username="ada",
        password=SecretStr(USERS["ada"]),
        operation_timeout=2,
        read_timeout=10,
    )
    remote = PsrpSession("ex01", settings, retry_wait=0.001)
    try:
        result = remote.invoke(
            Command(
                "Set-ReceiveConnector",
                {"Identity": FRONTEND, "PermissionGroups": ["ExchangeServers"]},
            ),
            Command("Get-ReceiveConnector", {"Identity": FRONTEND}),
            Command("Get-ReceiveConnector", {"Identity": "EX01\\Missing"}),
        )
    finally:
        remote.close()
    assert result.state == "Completed"
    (connector,) = result.output
    assert str(connector) == FRONTEND
    assert str(connector["PermissionGroups"]) == "ExchangeServers"
    (error,) = result.errors
    assert error.is_not_found
    assert lab.open_shells() == 0


def test_exchange_endpoint_rejects_scripts(lab: LabServer) -> None:
    with pool(lab) as runspaces:
        ps = PowerShell(runspaces)
        ps.add_script("Get-Mailbox | Where-Object { $_.Name -eq 'ada' }")
        ps.invoke()
    assert ps.state == PSInvocationState.FAILED
    assert ps.had_errors
    (record,) = ps.streams.error
    assert record.fq_error == "ScriptsNotAllowed"
    exception = record.exception
    assert "no-language mode" in str(exception.adapted_properties | exception.extended_properties)
    assert record.message.startswith("ParserError: ")


def test_positional_argument_fails_with_parameter_binding_error(
    gate: tuple[LabServer, GateEngine],
) -> None:
    server, engine = gate
    with pool(server) as runspaces:
        ps = PowerShell(runspaces)
        ps.add_cmdlet("Get-Mailbox").add_argument("ada")
        ps.invoke()
    assert ps.state == PSInvocationState.FAILED
    assert ps.streams.error[0].fq_error == "PositionalParameterNotFound,Get-Mailbox"
    assert engine.calls == []


def test_switch_list_and_nested_hashtable_reach_the_engine(
    gate: tuple[LabServer, GateEngine],
) -> None:
    server, engine = gate
    with pool(server) as runspaces:
        ps = PowerShell(runspaces)
        ps.add_cmdlet("Set-Lab").add_parameter("Force")
        ps.add_parameter("Items", ["a", 1, False, None])
        ps.add_parameter("Nested", {"Add": ["x"], "Remove": {"Deep": 2}})
        output = ps.invoke()
    assert ps.state == PSInvocationState.COMPLETED
    assert [str(obj) for obj in output] == ["exchange:ada"]
    assert engine.calls == [
        [
            CmdletCall(
                "Set-Lab",
                {
                    "Force": None,
                    "Items": ["a", 1, False, None],
                    "Nested": {"Add": ["x"], "Remove": {"Deep": 2}},
                },
            )
        ]
    ]


def test_stop_blocked_pipeline(
    gate: tuple[LabServer, GateEngine],
) -> None:
    server, engine = gate
    with pool(server, operation_timeout=1) as blocked, pool(server) as other:
        ps = PowerShell(blocked)
        ps.add_cmdlet("Wait-Lab")
        ps.begin_invoke()
        assert server.open_shells() == 2
        quick = PowerShell(other)
        quick.add_cmdlet("Get-Lab")
        assert [str(obj) for obj in quick.invoke()] == ["exchange:ada"]
        ps.stop()
        assert ps.state == PSInvocationState.STOPPED
    engine.gate.set()
    assert server.open_shells() == 0


def test_receive_timeout_fault_polled_again(
    gate: tuple[LabServer, GateEngine],
) -> None:
    server, engine = gate
    threading.Timer(1.5, engine.gate.set).start()
    with pool(server, operation_timeout=1) as runspaces:
        ps = PowerShell(runspaces)
        ps.add_cmdlet("Wait-Lab")
        output = ps.invoke()
    assert [str(obj) for obj in output] == ["exchange:ada"]
    assert server.knobs.counters()["fault_2150858793"] >= 1


def test_windows_endpoint_rejects_exchange_configuration(
    gate: tuple[LabServer, GateEngine],
) -> None:
    server, _ = gate
    from pypsrp.exceptions import WSManFaultError

    runspaces = RunspacePool(wsman(server, path="wsman"), configuration_name="Microsoft.Exchange")
    with pytest.raises(WSManFaultError) as caught:
        runspaces.open()
    assert caught.value.code == 2150858811
    assert server.open_shells() == 0


def test_windows_endpoint_passes_endpoint_name_to_engine(
    gate: tuple[LabServer, GateEngine],
) -> None:
    server, _ = gate
    runspaces = RunspacePool(wsman(server, path="wsman"), configuration_name="Microsoft.PowerShell")
    with runspaces:
        ps = PowerShell(runspaces)
        ps.add_cmdlet("Get-Service")
        assert [str(obj) for obj in ps.invoke()] == ["windows:ada"]


@pytest.mark.parametrize("path", ["/", "/powershell/extra", "/ecp", "/wsman2"])
def test_other_paths_are_not_found(lab: LabServer, path: str) -> None:
    status, body = post(lab, path, b"<x/>")
    assert status == 404
    assert b"404 - File or directory not found." in body


def test_basic_auth_credentials(lab: LabServer) -> None:
    assert post(lab, "/PowerShell", b"<x/>", password="wrong")[0] == 401
    connection = http.client.HTTPConnection("127.0.0.1", lab.port, timeout=5)
    token = base64.b64encode(b"CONTOSO\\ada:Pa55-lab").decode()
    connection.request("POST", "/PowerShell", b"<x/>", {"Authorization": f"Basic {token}"})
    response = connection.getresponse()
    # Authenticated, so the body is examined and rejected as not SOAP.
    assert response.status == 400
    connection.close()


@pytest.mark.parametrize(
    "body",
    [
        b"not xml",
        b"<a/>",
        b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>',
    ],
)
def test_malformed_envelopes_get_400(lab: LabServer, body: bytes) -> None:
    status, text = post(lab, "/PowerShell", body)
    assert status == 400
    assert text.startswith(b"expected")


def test_unknown_shell_fault(lab: LabServer) -> None:
    envelope = (
        b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        b'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
        b'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Header>'
        b"<a:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete</a:Action>"
        b"<a:MessageID>uuid:0A1B</a:MessageID>"
        b"<w:ResourceURI>http://schemas.microsoft.com/powershell/Microsoft.Exchange</w:ResourceURI>"
        b'<w:SelectorSet><w:Selector Name="ShellId">1234</w:Selector></w:SelectorSet>'
        b"</s:Header><s:Body/></s:Envelope>"
    )
    status, body = post(lab, "/PowerShell", envelope)
    assert status == 500
    assert b'Code="2150858843"' in body
    assert b"<a:RelatesTo>uuid:0A1B</a:RelatesTo>" in body


def test_constructor_rejects_bad_options() -> None:
    engine = GateEngine()
    with pytest.raises(ValueError, match="loopback"):
        LabServer(engine, host="0.0.0.0")
    with pytest.raises(ValueError, match="loopback"):
        LabServer(engine, host="::1")
    with pytest.raises(ValueError, match="auth 'basic', 'ntlm' or 'kerberos'"):
        LabServer(engine, auth="digest")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs the keytab"):
        LabServer(engine, auth="kerberos")


def test_many_objects_arrive_in_order(lab: LabServer) -> None:
    del lab
    engine = ManyEngine(3000)
    with LabServer(engine, users=USERS) as server, pool(server) as runspaces:
        ps = PowerShell(runspaces)
        ps.add_cmdlet("Get-Many").add_parameter("Confirm", Switch(False).on)
        output = ps.invoke()
        requests = server.knobs.counters()["Receive"]
    assert [obj.adapted_properties["Index"] for obj in output] == list(range(3000))
    # Several fragments share a Receive envelope instead of one round trip each.
    assert requests < 300


class ManyEngine:
    """Yields ``count`` objects with a 2 KB property each."""

    def __init__(self, count: int) -> None:
        self.count = count

    def invoke(self, pipeline: list[CmdletCall], *, endpoint: str, user: str) -> Iterator[LabEvent]:
        for index in range(self.count):
            yield LabObject(
                ("Lab.Item", "System.Object"), f"item{index}", {"Index": index, "Pad": "x" * 2048}
            )


def test_invalid_psrp_data_gets_400(gate: tuple[LabServer, GateEngine]) -> None:
    server, _ = gate
    with pool(server) as runspaces:
        shell_id = str(runspaces.shell.id).upper()
        envelope = (
            '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
            'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
            'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" '
            'xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell"><s:Header>'
            "<a:Action>http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Send</a:Action>"
            "<a:MessageID>uuid:0A1C</a:MessageID>"
            "<w:ResourceURI>http://schemas.microsoft.com/powershell/Microsoft.Exchange"
            f'</w:ResourceURI><w:SelectorSet><w:Selector Name="ShellId">{shell_id}'
            "</w:Selector></w:SelectorSet></s:Header><s:Body><rsp:Send>"
            '<rsp:Stream Name="stdin">AAAA</rsp:Stream></rsp:Send></s:Body></s:Envelope>'
        ).encode()
        status, body = post(server, "/PowerShell", envelope)
        assert status == 400
        assert body.startswith(b"invalid PSRP data in the Send request")
        # The shell keeps working after the invalid request.
        ps = PowerShell(runspaces)
        ps.add_cmdlet("Get-Lab")
        assert [str(obj) for obj in ps.invoke()] == ["exchange:ada"]
