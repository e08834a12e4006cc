"""Fault injection of the lab WinRM server, seen through the agent's pypsrp session."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from exchange_agent.lab.contract import CmdletCall, LabEvent, LabObject
from exchange_agent.lab.server import Knobs, LabServer
from exchange_agent.remote.command import Command
from exchange_agent.remote.errors import RemoteError, ThrottledError, TransportError
from exchange_agent.remote.psrp import PsrpSession
from exchange_agent.remote.settings import EndpointSettings

pytestmark = pytest.mark.wire


class EchoEngine:
    def invoke(self, pipeline: list[CmdletCall], *, endpoint: str, user: str) -> Iterator[LabEvent]:
        yield LabObject(("Lab.Echo", "System.Object"), pipeline[0].name, {})


@pytest.fixture
def server() -> Iterator[LabServer]:
    with LabServer(EchoEngine(), users={"ada": "Pa55-lab"}) as lab:
        yield lab


def session(server: LabServer, **options: object) -> PsrpSession:
    settings = EndpointSettings(
        url=server.exchange_url,
        auth="basic",
        encryption="never",
        username="ada",
        password=SecretStr("Pa55-lab"),
        connect_timeout=5,
        operation_timeout=2,
        read_timeout=10,
    )
    return PsrpSession("ex01", settings, retry_wait=0.001, **options)  # type: ignore[arg-type]


def names(remote: PsrpSession, cmdlet: str = "Get-Lab") -> list[str]:
    return [str(obj) for obj in remote.invoke(Command(cmdlet)).output]


def test_counters_count_requests_per_action(server: LabServer) -> None:
    remote = session(server)
    try:
        assert names(remote) == ["Get-Lab"]
    finally:
        remote.close()
    counters = server.knobs.counters()
    assert counters["Create"] == 1
    assert counters["Command"] == 1
    assert counters["Delete"] == 1
    assert counters["Receive"] >= 2
    assert counters["requests"] == sum(
        counters[action]
        for action in ("Create", "Command", "Send", "Receive", "Signal", "Delete")
        if action in counters
    )


def test_throttle_next_fails_shell_creation(server: LabServer) -> None:
    server.knobs.throttle_next()
    with pytest.raises(ThrottledError, match="18 concurrent shells"):
        names(session(server))
    assert server.knobs.counters()["injected_fault"] == 1
    remote = session(server)
    try:
        assert names(remote) == ["Get-Lab"]
    finally:
        remote.close()


def test_drop_next_once(server: LabServer) -> None:
    server.knobs.drop_next(action="Create")
    with pytest.raises(TransportError, match="connection dropped"):
        names(session(server, retry_attempts=1))
    remote = session(server)
    try:
        assert names(remote) == ["Get-Lab"]
    finally:
        remote.close()
    assert server.knobs.counters()["injected_drop"] == 1


def test_drop_after_skipped_requests(server: LabServer) -> None:
    remote = session(server, retry_attempts=1)
    try:
        assert names(remote) == ["Get-Lab"]
        # The second Command from now is dropped; the first one passes.
        server.knobs.drop_next(action="Command", skip=1)
        assert names(remote) == ["Get-Lab"]
        with pytest.raises(RemoteError):
            names(remote, "Set-Lab")
    finally:
        remote.close()
    assert server.knobs.counters()["injected_drop"] == 1


@pytest.mark.parametrize("status", [500, 503])
def test_status_next_answers_http_error(server: LabServer, status: int) -> None:
    server.knobs.status_next(status, count=2, action="Create")
    with pytest.raises(TransportError, match=f"HTTP {status}"):
        names(session(server, retry_attempts=1))
    # Each injected response fails one session; the third session finds none left.
    with pytest.raises(TransportError, match=f"HTTP {status}"):
        names(session(server, retry_attempts=1))
    remote = session(server, retry_attempts=1)
    try:
        assert names(remote) == ["Get-Lab"]
    finally:
        remote.close()
    assert server.knobs.counters()["injected_status"] == 2


def test_fault_next_sends_the_given_wsman_fault(server: LabServer) -> None:
    server.knobs.fault_next(2150858843, "the shell was not found on the server", action="Command")
    remote = session(server)
    try:
        # The session treats a missing shell as expired: it opens a new pool and retries.
        assert names(remote) == ["Get-Lab"]
    finally:
        remote.close()
    counters = server.knobs.counters()
    assert counters["fault_2150858843"] == 1
    assert counters["Create"] == 2


def test_hang_next_holds_a_receive(server: LabServer) -> None:
    remote = session(server)
    try:
        assert names(remote) == ["Get-Lab"]
        server.knobs.hang_next(0.4)
        started = time.monotonic()
        assert names(remote) == ["Get-Lab"]
        assert time.monotonic() - started >= 0.4
    finally:
        remote.close()
    assert server.knobs.counters()["injected_hang"] == 1


def test_latency_applies_to_every_request_until_reset(server: LabServer) -> None:
    server.knobs.latency = 0.05
    remote = session(server)
    try:
        started = time.monotonic()
        assert names(remote) == ["Get-Lab"]
        requests = server.knobs.counters()["requests"]
        assert time.monotonic() - started >= 0.05 * requests
        server.knobs.reset()
        assert server.knobs.latency == 0.0
    finally:
        remote.close()


def test_stop_wakes_a_hung_receive() -> None:
    lab = LabServer(EchoEngine(), users={"ada": "Pa55-lab"}).start()
    lab.knobs.hang_next(30)
    failures: list[BaseException] = []

    def work() -> None:
        try:
            names(session(lab))
        except BaseException as error:  # collected and asserted below
            failures.append(error)

    thread = threading.Thread(target=work)
    thread.start()
    deadline = time.monotonic() + 5
    while "injected_hang" not in lab.knobs.counters() and time.monotonic() < deadline:
        time.sleep(0.02)
    started = time.monotonic()
    lab.stop()
    thread.join(15)
    assert not thread.is_alive()
    assert time.monotonic() - started < 10
    assert len(failures) == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda knobs: setattr(knobs, "latency", 61), "latency between 0 and 60"),
        (lambda knobs: knobs.drop_next(0), "count between 1 and 1000"),
        (lambda knobs: knobs.status_next(200), "HTTP error status 400-599"),
        (lambda knobs: knobs.fault_next(1, "x", action="Get"), "expected action"),
        (lambda knobs: knobs.hang_next(-1), "seconds between 0 and 60"),
    ],
)
def test_knob_values_are_bounded(change: object, message: str) -> None:
    knobs = Knobs()
    with pytest.raises(ValueError, match=message):
        change(knobs)  # type: ignore[operator]
    assert knobs.take("Create") is None
