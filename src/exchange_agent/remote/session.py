"""The session protocol: what tasks use to run cmdlets on one endpoint of one host."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal, Protocol, runtime_checkable

from exchange_agent.remote.command import Statement
from exchange_agent.remote.result import ExObject, Result

EndpointKind = Literal["exchange", "windows"]


@runtime_checkable
class Session(Protocol):
    """A PowerShell remoting session to one endpoint of one host.

    Implementations send every statement as command objects, never script text. ``invoke``
    runs several statements in one pipeline (one round trip) and returns everything they
    produced; it raises :class:`~exchange_agent.remote.errors.RemoteError` subclasses for
    transport, authentication and throttling failures, and reports cmdlet errors as records in
    the result (see :meth:`Result.ok`).
    """

    @property
    def host(self) -> str:
        """The inventory host name this session belongs to."""
        ...

    @property
    def endpoint(self) -> EndpointKind:
        """Which of the host's endpoints this session talks to."""
        ...

    def invoke(self, *statements: Statement, timeout: float | None = None) -> Result:
        """Run ``statements`` in one pipeline and return their combined output."""
        ...

    def stream(self, statement: Statement, timeout: float | None = None) -> Iterator[ExObject]:
        """Yield the output objects of ``statement`` as they arrive.

        Error records raise :class:`~exchange_agent.remote.errors.CommandError` after the
        objects that came before them; warnings are logged.
        """
        ...

    def close(self) -> None:
        """Close the session and release its server-side shell. Safe to call twice."""
        ...
