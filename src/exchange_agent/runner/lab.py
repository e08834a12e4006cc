"""The embedded lab: hosts marked ``lab:`` in the inventory are served by a simulated
organization started for the run, reached over real WinRM on loopback or in process."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import structlog
from pydantic import SecretStr

from exchange_agent.config.inventory import EndpointConfig, HostConfig
from exchange_agent.errors import ConfigError
from exchange_agent.lab.clock import Clock
from exchange_agent.lab.engine import LabEngine
from exchange_agent.lab.org import Organization
from exchange_agent.lab.state import StateLock, default_state_file, open_lab, save
from exchange_agent.remote.connections import HostConnections
from exchange_agent.remote.session import EndpointKind, Session
from exchange_agent.remote.settings import EndpointSettings

log = structlog.get_logger(__name__)

LabTransport = Literal["wsman", "inprocess"]

DEFAULT_LAB_USER = "lab-admin"
DEFAULT_LAB_PASSWORD = "lab-password"  # noqa: S105  (a loopback lab's documented default)


def lab_credentials() -> tuple[str, str]:
    """Return the lab's user and password from the environment, or the documented defaults."""
    return (
        os.environ.get("EXCHANGE_AGENT_LAB_USER", DEFAULT_LAB_USER),
        os.environ.get("EXCHANGE_AGENT_LAB_PASSWORD", DEFAULT_LAB_PASSWORD),
    )


def lab_clock_speed() -> float:
    """Return how much faster than real time the lab's services start and stop.

    ``EXCHANGE_AGENT_LAB_SPEED`` sets it (default 20, so a 15 s transport restart takes
    under a second); 1 makes the lab wait in real time.
    """
    text = os.environ.get("EXCHANGE_AGENT_LAB_SPEED", "20")
    try:
        speed = float(text)
    except ValueError:
        speed = 0.0
    if speed <= 0:
        raise ConfigError(f"EXCHANGE_AGENT_LAB_SPEED must be a positive number, found {text!r}")
    return speed


def server_available() -> bool:
    """True when the lab's WinRM server is part of this installation."""
    try:
        from exchange_agent.lab.server import LabServer  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True


def host_connections(
    host: HostConfig,
    lab: EmbeddedLab | None,
    resolved: dict[EndpointKind, EndpointSettings] | None = None,
) -> HostConnections:
    """Build ``host``'s lazily opened connections: to the lab for a lab host, else over WinRM.

    ``resolved`` contains settings whose secrets were already read. Without it, secrets are read
    here.
    """
    from exchange_agent.remote.psrp import PsrpSession  # noqa: PLC0415

    kinds: tuple[EndpointKind, ...] = ("exchange", "windows")
    settings: dict[EndpointKind, EndpointSettings] = {}
    for kind in kinds:
        endpoint = host.endpoint(kind)
        if endpoint is None:
            continue
        if host.lab is not None and lab is not None:
            settings[kind] = lab.settings(host, endpoint)
        elif resolved is not None:
            if kind in resolved:
                settings[kind] = resolved[kind]
        else:
            settings[kind] = endpoint.to_settings(endpoint.resolve_password())
    if host.lab is not None and lab is not None:
        return HostConnections(host.name, settings, lab.session_factory(host))
    return HostConnections(host.name, settings, PsrpSession)


class EmbeddedLab:
    """One simulated organization shared by every lab host of the run.

    The organization loads from the state file when it exists (so a second run finds the
    first one's changes), else from the seed, and is saved back when the lab stops.
    """

    def __init__(self, hosts: list[HostConfig], transport: LabTransport) -> None:
        first = hosts[0].lab
        assert first is not None
        self.seed: Path | None = first.seed
        self.state_file: Path = first.state or default_state_file()
        self.transport: LabTransport = transport
        self.auth = first.auth
        self.tls = first.tls
        self.org: Organization | None = None
        self.engine: LabEngine | None = None
        self._server: Any = None
        self._lock = StateLock(self.state_file)

    def start(self) -> None:
        """Lock and load the organization and, for wsman, start the loopback server.

        Raises:
            ConfigError: Another process has the same state loaded.
        """
        self._lock.acquire()
        try:
            self.org = open_lab(self.seed, self.state_file)
        except BaseException:
            self._lock.release()
            raise
        self.engine = LabEngine(self.org, clock=Clock(speed=lab_clock_speed()))
        if self.transport == "wsman":
            from exchange_agent.lab.server import LabServer  # noqa: PLC0415

            user, password = lab_credentials()
            self._server = LabServer(
                self.engine, users={user: password}, auth=self.auth, tls=self.tls
            )
            self._server.start()
            log.info("lab.started", url=self._server.exchange_url, state=str(self.state_file))

    def stop(self) -> None:
        """Stop the server, save the organization and unlock it."""
        try:
            if self._server is not None:
                self._server.stop()
                self._server = None
            if self.org is not None:
                save(self.org, self.state_file)
        finally:
            self._lock.release()

    def session_factory(self, host: HostConfig) -> Callable[[str, EndpointSettings], Session]:
        """Return the session factory for ``host``'s endpoints."""
        from exchange_agent.remote.inprocess import InProcessSession  # noqa: PLC0415
        from exchange_agent.remote.psrp import PsrpSession  # noqa: PLC0415

        def factory(name: str, settings: EndpointSettings) -> Session:
            if self.transport == "inprocess":
                assert self.engine is not None
                return InProcessSession(name, self.engine, settings.kind, server_name=host.server)
            return PsrpSession(name, settings)

        return factory

    def settings(self, host: HostConfig, endpoint: EndpointConfig) -> EndpointSettings:
        """Return settings that point ``endpoint`` of ``host`` at the lab."""
        user, password = lab_credentials()
        kind: EndpointKind = endpoint.kind
        if self._server is not None:
            url = self._server.exchange_url if kind == "exchange" else self._server.windows_url
        else:
            url = "http://127.0.0.1/PowerShell" if kind == "exchange" else "http://127.0.0.1/wsman"
        certificate = getattr(self._server, "certificate_path", None)
        return EndpointSettings(
            url=url,
            configuration_name=endpoint.configuration_name,
            auth=self.auth,
            username=user,
            password=SecretStr(password),
            # Basic over the lab's plain http cannot encrypt; NTLM encrypts every message.
            encryption="never" if self.auth == "basic" and not self.tls else "auto",
            ca_bundle=str(certificate) if self.tls and certificate else None,
            operation_timeout=endpoint.model.operation_timeout,
            read_timeout=max(endpoint.model.read_timeout, endpoint.model.operation_timeout + 10),
            max_concurrency=endpoint.model.max_concurrency,
            kind=kind,
        )
