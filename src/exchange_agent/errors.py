"""The exception hierarchy shared by every layer.

Every error the tool raises on purpose derives from :class:`ExchangeAgentError`. Errors about
user input also derive from :class:`ValueError`; the runner maps each family to an exit code.
"""

from __future__ import annotations

from dataclasses import dataclass


class ExchangeAgentError(Exception):
    """Root of every error exchange-agent raises on purpose."""


@dataclass(frozen=True)
class SourceLocation:
    """A position in a user's file, printed as ``path:line:column`` (1-based)."""

    path: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        text = self.path
        if self.line is not None:
            text += f":{self.line}"
            if self.column is not None:
                text += f":{self.column}"
        return text


class ConfigError(ExchangeAgentError, ValueError):
    """Invalid inventory, playbook, variables or options; nothing has been applied.

    Args:
        message: What is wrong and how to fix it.
        location: Where in the user's file the wrong value is, when known.
        path: Keys and indexes of the wrong value inside the data a validator checks, such as
            ``("remote_ip_ranges", 2)``. Raised from a model validator, the error is then
            located at that value instead of at the whole model.
    """

    def __init__(
        self,
        message: str,
        location: SourceLocation | None = None,
        *,
        path: tuple[str | int, ...] = (),
    ) -> None:
        self.message = message
        self.location = location
        self.path = path
        super().__init__(f"{location}: {message}" if location else message)


class ConfigErrors(ConfigError):
    """Several configuration errors found in one validation pass."""

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(error) for error in errors))


class TaskError(ExchangeAgentError):
    """A task could not reach its desired state on one host."""


class InterruptedRunError(ExchangeAgentError):
    """The run was stopped by SIGINT or SIGTERM."""
