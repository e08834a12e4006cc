"""Errors raised by sessions, each carrying the host, endpoint and cmdlet it concerns."""

from __future__ import annotations

from exchange_agent.errors import ExchangeAgentError
from exchange_agent.remote.result import ErrorRecord


class RemoteError(ExchangeAgentError):
    """A failure talking to a remote endpoint.

    Args:
        message: What failed and what to do next.
        host: The inventory host name.
        endpoint: ``exchange`` or ``windows``.
        cmdlet: The cmdlet being run, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        host: str | None = None,
        endpoint: str | None = None,
        cmdlet: str | None = None,
    ) -> None:
        self.message = message
        self.host = host
        self.endpoint = endpoint
        self.cmdlet = cmdlet
        super().__init__(f"{host}: {message}" if host else message)


class UnreachableError(RemoteError):
    """The endpoint could not be reached or would not open a session; the host is unreachable."""


class AuthenticationError(UnreachableError):
    """The endpoint rejected the credentials. Never retried: retries lock accounts out."""


class EndpointNotFoundError(UnreachableError):
    """No PowerShell endpoint of the requested configuration at the URL (404, fault 2150858811)."""


class TlsError(UnreachableError):
    """The server's TLS certificate could not be validated."""


class ThrottledError(RemoteError):
    """Exchange's throttling policy refused a session or a request."""


class TransportError(RemoteError):
    """The connection dropped or the server answered HTTP 5xx; transient, reads may retry."""


class ShellExpiredError(TransportError):
    """The remote shell no longer exists (idle timeout or server recycle)."""


class OperationTimeoutError(RemoteError):
    """A command did not finish within its timeout; the pipeline was stopped."""


class StalledError(OperationTimeoutError):
    """A command stopped because it sent nothing for the endpoint's stall_timeout.

    Its pool is closed, because the shell may still contain what the client never received. A
    read may be retried on a new pool, and a write is not.
    """


class ScriptsNotAllowedError(RemoteError):
    """The endpoint runs in no-language mode and rejected script text. Never retried."""


class CommandError(RemoteError):
    """A cmdlet reported one or more error records.

    Args:
        records: The error records, first one first.
    """

    def __init__(
        self,
        records: list[ErrorRecord],
        *,
        host: str | None = None,
        endpoint: str | None = None,
        cmdlet: str | None = None,
    ) -> None:
        self.records = records
        first = records[0] if records else None
        text = first.message if first else "the command failed without an error record"
        if first and first.exception_name:
            text = f"{text} ({first.exception_name})"
        if len(records) > 1:
            text += f" and {len(records) - 1} more error(s)"
        super().__init__(text, host=host, endpoint=endpoint, cmdlet=cmdlet or _command_of(first))

    @property
    def is_not_found(self) -> bool:
        """True when every record is Exchange's ManagementObjectNotFoundException."""
        return bool(self.records) and all(record.is_not_found for record in self.records)


def _command_of(record: ErrorRecord | None) -> str | None:
    return record.command if record else None
