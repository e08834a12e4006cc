"""EndpointSettings validation and HostConnections' lazy, idempotent session handling."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from exchange_agent.remote.command import Command
from exchange_agent.remote.connections import EndpointNotConfiguredError, HostConnections
from exchange_agent.remote.errors import RemoteError
from exchange_agent.remote.psrp import PsrpSession
from exchange_agent.remote.session import Session
from exchange_agent.remote.settings import EndpointSettings

EXCHANGE = EndpointSettings(url="http://ex01.contoso.com/PowerShell")
WINDOWS = EndpointSettings(
    url="https://ex01.contoso.com:5986/wsman",
    configuration_name="Microsoft.PowerShell",
    auth="ntlm",
    username="CONTOSO\\ada",
    password=SecretStr("secret"),
    kind="windows",
)


def test_settings_url_parts() -> None:
    assert EXCHANGE.server == "ex01.contoso.com"
    assert EXCHANGE.port == 80
    assert EXCHANGE.ssl is False
    assert EXCHANGE.path == "PowerShell"
    assert WINDOWS.port == 5986
    assert WINDOWS.ssl is True
    assert WINDOWS.path == "wsman"


def test_settings_hide_password() -> None:
    assert "secret" not in repr(WINDOWS)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"url": "ex01.contoso.com"}, "expected http"),
        ({"url": "ftp://ex01/PowerShell"}, "expected http"),
        ({"url": "http://ex01/PowerShell", "max_concurrency": 18}, "below Exchange's limit"),
        ({"url": "http://ex01/PowerShell", "max_concurrency": 0}, "invalid max_concurrency"),
        (
            {"url": "http://ex01/PowerShell", "operation_timeout": 30, "read_timeout": 30},
            "must exceed operation_timeout",
        ),
        ({"url": "http://ex01/PowerShell", "auth": "basic"}, "set encryption to 'never'"),
    ],
)
def test_settings_reject(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EndpointSettings(**options)  # type: ignore[arg-type]


def test_basic_over_https_keeps_encryption_auto() -> None:
    settings = EndpointSettings(url="https://ex01/PowerShell", auth="basic")
    assert settings.encryption == "auto"


def factory(host: str, settings: EndpointSettings) -> Session:
    return PsrpSession(host, settings)


def test_sessions_are_lazy_and_cached() -> None:
    created: list[str] = []

    def counting(host: str, settings: EndpointSettings) -> Session:
        created.append(settings.kind)
        return factory(host, settings)

    connections = HostConnections("ex01", {"exchange": EXCHANGE, "windows": WINDOWS}, counting)
    assert created == []
    first = connections.get("exchange")
    assert connections.get("exchange") is first
    assert first.endpoint == "exchange"
    assert connections.get("windows").endpoint == "windows"
    assert created == ["exchange", "windows"]
    assert connections.endpoints == {"exchange", "windows"}


def test_missing_endpoint_names_host_and_fix() -> None:
    connections = HostConnections("ex01", {"exchange": EXCHANGE}, factory)
    with pytest.raises(EndpointNotConfiguredError) as caught:
        connections.get("windows")
    message = str(caught.value)
    assert "service tasks run on the windows endpoint" in message
    assert "ex01 has none configured" in message
    assert "add windows.url" in message
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, RemoteError)


def test_close_all_closes_every_session_once() -> None:
    connections = HostConnections("ex01", {"exchange": EXCHANGE}, factory)
    session = connections.get("exchange")
    connections.close_all()
    connections.close_all()
    with pytest.raises(RemoteError, match="session is closed"):
        session.invoke(Command("Get-Mailbox"))
    with pytest.raises(RemoteError, match="connections are closed"):
        connections.get("exchange")


def test_context_manager_closes() -> None:
    with HostConnections("ex01", {"exchange": EXCHANGE}, factory) as connections:
        connections.get("exchange")
    with pytest.raises(RemoteError, match="connections are closed"):
        connections.get("exchange")
