"""Per-user shell quota, idle shell expiry and HTTPS of the lab WinRM server, through pypsrp."""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterator

import pytest
import requests
from pypsrp.exceptions import WSManFaultError
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from exchange_agent.lab.contract import CmdletCall, LabEvent, LabObject
from exchange_agent.lab.server import MAX_SHELLS_PER_USER, LabServer

pytestmark = pytest.mark.wire

USERS = {"ada": "Pa55-lab", "bob": "B0b-lab"}


class EchoEngine:
    def invoke(self, pipeline: list[CmdletCall], *, endpoint: str, user: str) -> Iterator[LabEvent]:
        yield LabObject(("Lab.Echo", "System.Object"), f"{pipeline[0].name}:{user}", {})


def pool(server: LabServer, user: str = "ada", **options: object) -> RunspacePool:
    options.setdefault("ssl", server.tls)
    connection = WSMan(
        "127.0.0.1",
        port=server.port,
        path="PowerShell",
        auth="basic",
        encryption="never" if not server.tls else "auto",
        username=user,
        password=USERS[user],
        **options,  # type: ignore[arg-type]
    )
    return RunspacePool(connection, configuration_name="Microsoft.Exchange")


def run(runspaces: RunspacePool, name: str = "Get-Lab") -> list[str]:
    ps = PowerShell(runspaces)
    ps.add_cmdlet(name)
    return [str(obj) for obj in ps.invoke()]


def test_nineteenth_shell_of_a_user_is_throttled() -> None:
    with LabServer(EchoEngine(), users=USERS) as server:
        pools = [pool(server) for _ in range(MAX_SHELLS_PER_USER)]
        try:
            for runspaces in pools:
                runspaces.open()
            assert server.open_shells("ada") == 18
            extra = pool(server)
            with pytest.raises(WSManFaultError) as caught:
                extra.open()
            assert caught.value.code == 2150859174
            assert "maximum number of 18 concurrent shells" in str(caught.value.reason)
            # The quota is per user: another user still gets a shell.
            with pool(server, user="bob") as other:
                assert run(other) == ["Get-Lab:bob"]
            pools[0].close()
            with pool(server) as again:
                assert run(again) == ["Get-Lab:ada"]
        finally:
            for runspaces in pools:
                runspaces.close()
        assert server.open_shells() == 0
        assert server.knobs.counters()["throttled"] == 1


def test_idle_shell_expires() -> None:
    with LabServer(EchoEngine(), users=USERS, idle_timeout=0.4) as server:
        runspaces = pool(server)
        runspaces.open()
        assert run(runspaces) == ["Get-Lab:ada"]
        deadline = time.monotonic() + 5
        while server.open_shells() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.open_shells() == 0
        with pytest.raises(WSManFaultError) as caught:
            run(runspaces)
        assert caught.value.code == 2150858843
        assert "the shell was not found on the server" in str(caught.value.reason)
        assert server.knobs.counters()["expired_shells"] == 1


def test_active_shell_does_not_expire() -> None:
    with (
        LabServer(EchoEngine(), users=USERS, idle_timeout=0.5) as server,
        pool(server) as runspaces,
    ):
        for _ in range(8):
            assert run(runspaces) == ["Get-Lab:ada"]
            time.sleep(0.15)
        assert server.open_shells() == 1


@pytest.fixture
def tls_server() -> Iterator[LabServer]:
    with LabServer(EchoEngine(), users=USERS, tls=True) as server:
        yield server


def test_https_with_certificate_path_validation(tls_server: LabServer) -> None:
    path = tls_server.certificate_path
    assert path is not None
    assert path.exists()
    assert tls_server.exchange_url.startswith("https://127.0.0.1:")
    with pool(tls_server, cert_validation=str(path)) as runspaces:
        assert run(runspaces) == ["Get-Lab:ada"]


def test_https_without_validation(tls_server: LabServer) -> None:
    with pool(tls_server, cert_validation=False) as runspaces:
        assert run(runspaces) == ["Get-Lab:ada"]


def test_https_self_signed_fails_default_validation(tls_server: LabServer) -> None:
    runspaces = pool(tls_server, cert_validation=True)
    with pytest.raises(requests.exceptions.SSLError):
        runspaces.open()


def test_certificate_names_loopback_and_is_removed_on_stop() -> None:
    server = LabServer(EchoEngine(), tls=True).start()
    path = server.certificate_path
    assert path is not None
    context = ssl.create_default_context(cafile=str(path))
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    with context.wrap_socket(raw, server_hostname="127.0.0.1") as connection:
        assert connection.version() in ("TLSv1.2", "TLSv1.3")
    server.stop()
    assert not path.exists()
