"""PsrpSession through real pypsrp and requests against HTTP servers on 127.0.0.1.

A small stdlib server responds to every WinRM request with one fixed failure (401, 404, a WSMan
fault, 503, a dropped connection), so these tests cover error mapping, retries and cleanup end
to end. Successful sessions run against the lab's WinRM server (``exchange_agent.lab.server``)
and are skipped while it is not importable.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pydantic import SecretStr

from exchange_agent.lab.contract import (
    CmdletCall,
    LabErrorRecord,
    LabEvent,
    LabObject,
    LabTerminatingError,
    LabWarning,
    MultiValued,
    SecureText,
)
from exchange_agent.remote.command import Command, Secret, Switch
from exchange_agent.remote.errors import (
    AuthenticationError,
    CommandError,
    EndpointNotFoundError,
    OperationTimeoutError,
    RemoteError,
    ThrottledError,
    TransportError,
)
from exchange_agent.remote.psrp import PsrpSession, parallel
from exchange_agent.remote.result import ExObject, Result
from exchange_agent.remote.settings import EndpointSettings

pytestmark = pytest.mark.wire


def wsman_fault(code: int, message: str) -> bytes:
    return (
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault">'
        "<s:Body><s:Fault><s:Code><s:Value>s:Receiver</s:Value></s:Code>"
        f"<s:Reason><s:Text>{message}</s:Text></s:Reason><s:Detail>"
        f'<f:WSManFault Code="{code}" Machine="127.0.0.1"><f:Message>{message}</f:Message>'
        "</f:WSManFault></s:Detail></s:Fault></s:Body></s:Envelope>"
    ).encode()


IIS_404 = (
    b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><head>'
    b"<title>404 - File or directory not found.</title></head><body /></html>"
)

# Path -> (status, body); "drop" closes the connection without a response.
RESPONSES: dict[str, tuple[int, bytes] | str] = {
    "/unauthorized": (401, b""),
    "/missing": (404, b"Not Found"),
    "/iis404": (404, IIS_404),
    "/wsman": (500, wsman_fault(2150858811, "The resource URI was not found.")),
    "/busy": (503, b"Service Unavailable"),
    "/throttled": (
        500,
        wsman_fault(
            2150859174,
            "This user is allowed a maximum number of 18 concurrent shells, which has been "
            "exceeded.",
        ),
    ),
    "/drop": "drop",
}


@dataclass
class Recorder:
    paths: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    recorder: Recorder

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(length)
        with self.recorder.lock:
            self.recorder.paths.append(self.path)
        answer = RESPONSES.get(self.path, (404, b""))
        if answer == "drop":
            self.close_connection = True
            self.connection.close()
            return
        assert isinstance(answer, tuple)
        status, body = answer
        self.send_response(status)
        if status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="lab"')
        self.send_header("Content-Type", "application/soap+xml;charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def server() -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder()
    handler = type("BoundHandler", (Handler,), {"recorder": recorder})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", recorder
    finally:
        httpd.shutdown()
        httpd.server_close()


def session(base: str, path: str, **options: object) -> PsrpSession:
    settings = EndpointSettings(
        url=f"{base}{path}",
        auth="basic",
        encryption="never",
        username="lab\\ada",
        password=SecretStr("not-a-real-password"),
        connect_timeout=2,
        operation_timeout=2,
        read_timeout=5,
    )
    return PsrpSession("ex01", settings, retry_wait=0.001, **options)  # type: ignore[arg-type]


def test_401_raises_authentication_error_once(server: tuple[str, Recorder]) -> None:
    base, recorder = server
    remote = session(base, "/unauthorized")
    with pytest.raises(AuthenticationError, match=r"rejected the credentials of 'lab\\ada'"):
        remote.invoke(Command("Get-Mailbox"))
    assert recorder.paths == ["/unauthorized"]
    remote.close()


@pytest.mark.parametrize("path", ["/missing", "/iis404", "/wsman"])
def test_wrong_url_raises_endpoint_not_found(server: tuple[str, Recorder], path: str) -> None:
    base, recorder = server
    remote = session(base, path)
    with pytest.raises(EndpointNotFoundError) as caught:
        remote.invoke(Command("Get-Mailbox"))
    assert f"{base}{path}" in str(caught.value)
    assert "http://<fqdn>/PowerShell" in str(caught.value)
    assert recorder.paths == [path]
    remote.close()


def test_throttled_is_not_retried(server: tuple[str, Recorder]) -> None:
    base, recorder = server
    with pytest.raises(ThrottledError, match="18 concurrent shells"):
        session(base, "/throttled").invoke(Command("Get-Mailbox"))
    assert recorder.paths == ["/throttled"]


def test_read_is_retried_on_503(server: tuple[str, Recorder]) -> None:
    base, recorder = server
    with pytest.raises(TransportError, match="HTTP 503"):
        session(base, "/busy", retry_attempts=3).invoke(Command("Get-Mailbox"))
    assert recorder.paths == ["/busy"] * 3


def test_write_is_not_retried_on_503(server: tuple[str, Recorder]) -> None:
    base, recorder = server
    with pytest.raises(TransportError, match="HTTP 503"):
        session(base, "/busy").invoke(Command("Set-Mailbox", {"Identity": "ada"}))
    assert recorder.paths == ["/busy"]


def test_dropped_connection_is_transport_error(server: tuple[str, Recorder]) -> None:
    base, recorder = server
    with pytest.raises(TransportError, match="connection dropped"):
        session(base, "/drop", retry_attempts=2).invoke(Command("Get-Mailbox"))
    assert recorder.paths == ["/drop", "/drop"]


def test_parallel_reports_each_batch_error(server: tuple[str, Recorder]) -> None:
    base, recorder = server
    batches = [[Command("Set-Mailbox", {"Identity": f"user{i}"})] for i in range(4)]
    results = dict(parallel(lambda: session(base, "/unauthorized"), batches, max_pools=2))
    assert sorted(results) == [0, 1, 2, 3]
    assert all(isinstance(result, AuthenticationError) for result in results.values())
    assert len(recorder.paths) == 4


def test_close_after_failure_is_safe(server: tuple[str, Recorder]) -> None:
    base, _ = server
    remote = session(base, "/missing")
    with pytest.raises(RemoteError):
        remote.invoke(Command("Get-Mailbox"))
    remote.close()
    remote.close()


# Sessions against the lab's WinRM server. The engine below replays fixed events and records
# the calls it receives, so these tests check the wire path (command objects in, CLIXML out)
# rather than any cmdlet's behaviour.

RELAY = LabObject(
    type_names=(
        "Microsoft.Exchange.Data.Directory.SystemConfiguration.ReceiveConnector",
        "System.Object",
    ),
    to_string="EX01\\Relay",
    properties={
        "Name": "Relay",
        "PermissionGroups": "AnonymousUsers, ExchangeServers",
        "RemoteIPRanges": MultiValued(("192.0.2.10", "192.0.2.11")),
        "Comment": "line1\nline2_x",
        "MaxMessageSize": "36 MB (37,748,736 bytes)",
        "Enabled": True,
    },
)
MISSING = LabErrorRecord(
    message="The operation couldn't be performed because object 'EX01\\Nope' couldn't be found.",
    fully_qualified_error_id=(
        "[Server=EX01,RequestId=1,TimeStamp=1] "
        "[FailureCategory=Cmdlet-ManagementObjectNotFoundException] E3DE7D95,"
        "Microsoft.Exchange.Management.SystemConfigurationTasks.GetReceiveConnector"
    ),
    reason="ManagementObjectNotFoundException",
    target="EX01\\Nope",
    exception_type="Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException",
    command="Get-ReceiveConnector",
)


class ReplayEngine:
    """Returns fixed events per cmdlet name; ``Wait-Lab`` blocks until released."""

    def __init__(self) -> None:
        self.calls: list[list[CmdletCall]] = []
        self.release = threading.Event()
        self.lock = threading.Lock()

    def invoke(self, pipeline: list[CmdletCall], *, endpoint: str, user: str) -> Iterator[LabEvent]:
        with self.lock:
            self.calls.append(pipeline)
        name = pipeline[-1].name
        if name == "Wait-Lab":
            self.release.wait(10)
            return
        if name == "Stop-Lab":
            raise LabTerminatingError(MISSING)
        if name == "Get-ReceiveConnector":
            yield RELAY
            yield LabWarning("the connector list may be truncated")
            yield MISSING
            return
        yield from ()


@pytest.fixture
def lab() -> Iterator[tuple[Any, ReplayEngine]]:
    server_module = pytest.importorskip("exchange_agent.lab.server")
    if not hasattr(server_module, "LabServer"):
        pytest.skip("exchange_agent.lab.server.LabServer does not exist yet")
    engine = ReplayEngine()
    server = server_module.LabServer(engine, users={"ada": "Pa55-lab"}, idle_timeout=2.0)
    with server:
        yield server, engine
        engine.release.set()


def lab_session(
    url: str, *, configuration: str = "Microsoft.Exchange", password: str = "Pa55-lab"
) -> PsrpSession:
    settings = EndpointSettings(
        url=url,
        configuration_name=configuration,
        auth="basic",
        encryption="never",
        username="ada",
        password=SecretStr(password),
        connect_timeout=5,
        operation_timeout=2,
        read_timeout=10,
    )
    return PsrpSession("ex01", settings, retry_wait=0.001)


def test_lab_output_errors_and_warnings(lab: tuple[Any, ReplayEngine]) -> None:
    server, _ = lab
    remote = lab_session(server.exchange_url)
    try:
        result = remote.invoke(Command("Get-ReceiveConnector", {"Server": "EX01"}))
    finally:
        remote.close()
    (connector,) = result.output
    assert isinstance(connector, ExObject)
    assert str(connector) == "EX01\\Relay"
    assert connector["RemoteIPRanges"] == ["192.0.2.10", "192.0.2.11"]
    assert connector["Comment"] == "line1\nline2_x"
    assert connector["Enabled"] is True
    assert result.warnings == ["the connector list may be truncated"]
    (error,) = result.errors
    assert error.is_not_found
    assert result.state == "Completed"
    assert server.open_shells() == 0


def test_lab_parameters_arrive_as_sent(lab: tuple[Any, ReplayEngine]) -> None:
    server, engine = lab
    remote = lab_session(server.exchange_url)
    statement = Command("Get-ReceiveConnector", {"Identity": "EX01\\Relay"}) | Command(
        "Set-Mailbox",
        {
            "EmailAddresses": {"Remove": ["smtp:ada@fabrikam.com"]},
            "Force": Switch(True),
            "Confirm": Switch(False),
            "Password": Secret("s3cret"),
            "Count": 3,
        },
    )
    try:
        remote.invoke(statement, Command("Get-AcceptedDomain"))
    finally:
        remote.close()
    first, second = engine.calls
    assert [call.name for call in first] == ["Get-ReceiveConnector", "Set-Mailbox"]
    assert first[1].parameters == {
        "EmailAddresses": {"Remove": ["smtp:ada@fabrikam.com"]},
        "Force": None,
        "Confirm": False,
        "Password": "s3cret",
        "Count": 3,
    }
    assert [call.name for call in second] == ["Get-AcceptedDomain"]
    # The Secret travelled as a SecureString, encrypted with the session key.
    assert isinstance(first[1].parameters["Password"], SecureText)


def test_lab_terminating_error_fails_pipeline(lab: tuple[Any, ReplayEngine]) -> None:
    server, _ = lab
    remote = lab_session(server.exchange_url)
    try:
        result = remote.invoke(Command("Stop-Lab"))
    finally:
        remote.close()
    assert result.state == "Failed"
    assert result.errors[0].is_not_found


def test_lab_stream_raises_after_objects(lab: tuple[Any, ReplayEngine]) -> None:
    server, _ = lab
    remote = lab_session(server.exchange_url)
    stream = remote.stream(Command("Get-ReceiveConnector"))
    try:
        assert str(next(stream)) == "EX01\\Relay"
        with pytest.raises(CommandError):
            next(stream)
    finally:
        remote.close()


def test_lab_timeout_stops_pipeline(lab: tuple[Any, ReplayEngine]) -> None:
    server, engine = lab
    remote = lab_session(server.exchange_url)
    try:
        with pytest.raises(OperationTimeoutError, match="Wait-Lab did not finish within 1 s"):
            remote.invoke(Command("Wait-Lab"), timeout=1)
    finally:
        engine.release.set()
        remote.close()
    assert server.open_shells() == 0


def test_lab_exchange_configuration_on_wsman(lab: tuple[Any, ReplayEngine]) -> None:
    server, _ = lab
    with pytest.raises(EndpointNotFoundError, match="http://<fqdn>/PowerShell"):
        lab_session(server.windows_url).invoke(Command("Get-Mailbox"))


def test_lab_wrong_password(lab: tuple[Any, ReplayEngine]) -> None:
    server, _ = lab
    with pytest.raises(AuthenticationError):
        lab_session(server.exchange_url, password="wrong").invoke(Command("Get-Mailbox"))


def test_lab_windows_endpoint(lab: tuple[Any, ReplayEngine]) -> None:
    server, engine = lab
    remote = lab_session(server.windows_url, configuration="Microsoft.PowerShell")
    try:
        assert remote.invoke(Command("Get-Service", {"Name": "MSExchangeTransport"})).ok
    finally:
        remote.close()
    assert engine.calls == [[CmdletCall("Get-Service", {"Name": "MSExchangeTransport"})]]


def test_lab_expired_shell_is_reopened(lab: tuple[Any, ReplayEngine]) -> None:
    server, _ = lab
    remote = lab_session(server.exchange_url)
    try:
        assert remote.invoke(Command("Get-AcceptedDomain")).ok
        time.sleep(2.5)
        assert remote.invoke(Command("Get-AcceptedDomain")).ok
    finally:
        remote.close()
    assert server.open_shells() == 0


def test_lab_pool_per_thread(lab: tuple[Any, ReplayEngine]) -> None:
    server, engine = lab
    remote = lab_session(server.exchange_url)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(5):
                remote.invoke(Command("Get-ReceiveConnector"))
        except BaseException as error:  # collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert server.open_shells() == 3
    remote.close()
    assert errors == []
    assert len(engine.calls) == 15
    assert server.open_shells() == 0


def test_lab_parallel_batches(lab: tuple[Any, ReplayEngine]) -> None:
    server, engine = lab
    batches = [[Command("Get-AcceptedDomain", {"Identity": f"d{i}"})] for i in range(10)]
    results = dict(parallel(lambda: lab_session(server.exchange_url), batches, max_pools=3))
    assert sorted(results) == list(range(10))
    assert all(isinstance(r, Result) and r.ok for r in results.values())
    assert len(engine.calls) == 10
    assert server.open_shells() == 0
