"""The sessions of one host: opened on first use per endpoint, closed together."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from types import TracebackType

import structlog

from exchange_agent.remote.errors import RemoteError
from exchange_agent.remote.session import EndpointKind, Session
from exchange_agent.remote.settings import EndpointSettings

__all__ = ["EndpointNotConfiguredError", "HostConnections", "SessionFactory"]

log = structlog.get_logger(__name__)

SessionFactory = Callable[[str, EndpointSettings], Session]

# Purpose of each endpoint, named in the error for a missing one.
_ENDPOINT_PURPOSE: dict[str, str] = {
    "exchange": "Exchange cmdlets run on the exchange endpoint (http://<fqdn>/PowerShell)",
    "windows": (
        "service tasks run on the windows endpoint (http(s)://<fqdn>:5985|5986/wsman), because "
        "Exchange's endpoint has no Restart-Service"
    ),
}


class EndpointNotConfiguredError(RemoteError, ValueError):
    """A task needs an endpoint that the host's inventory entry does not configure."""


class HostConnections:
    """Sessions to the endpoints of one host, created lazily by ``session_factory``.

    Use it as a context manager, or call :meth:`close_all` in ``finally``; closing twice is
    harmless.

    Args:
        host: Inventory host name.
        settings_by_endpoint: The endpoints this host configures.
        session_factory: Builds a session from the host name and endpoint settings, such as
            :class:`~exchange_agent.remote.psrp.PsrpSession`.
    """

    def __init__(
        self,
        host: str,
        settings_by_endpoint: Mapping[EndpointKind, EndpointSettings],
        session_factory: SessionFactory,
    ) -> None:
        self.host = host
        self._settings = dict(settings_by_endpoint)
        self._factory = session_factory
        self._sessions: dict[EndpointKind, Session] = {}
        self._lock = threading.Lock()
        self._closed = False

    @property
    def endpoints(self) -> frozenset[EndpointKind]:
        """The endpoints this host configures."""
        return frozenset(self._settings)

    def get(self, endpoint: EndpointKind) -> Session:
        """Return the session to ``endpoint``, creating it on first use.

        Raises:
            EndpointNotConfiguredError: The host has no settings for ``endpoint``.
            RemoteError: The connections were closed.
        """
        with self._lock:
            if self._closed:
                raise RemoteError(
                    "the host's connections are closed", host=self.host, endpoint=endpoint
                )
            session = self._sessions.get(endpoint)
            if session is not None:
                return session
            settings = self._settings.get(endpoint)
            if settings is None:
                purpose = _ENDPOINT_PURPOSE.get(endpoint, f"the task needs the {endpoint} endpoint")
                raise EndpointNotConfiguredError(
                    f"{purpose}; {self.host} has none configured: add {endpoint}.url to the "
                    "host or its group in the inventory",
                    host=self.host,
                    endpoint=endpoint,
                )
            session = self._factory(self.host, settings)
            self._sessions[endpoint] = session
            return session

    def close_all(self) -> None:
        """Close every session opened so far; later calls do nothing."""
        with self._lock:
            self._closed = True
            sessions = list(self._sessions.items())
            self._sessions.clear()
        for endpoint, session in sessions:
            try:
                session.close()
            except Exception as error:  # a failed close must not hide the run's result
                log.warning(
                    "session.close_failed", host=self.host, endpoint=endpoint, error=str(error)
                )

    def __enter__(self) -> HostConnections:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close_all()
