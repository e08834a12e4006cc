"""The boundary between the simulated organization and whatever carries calls to it.

Both the in-process session and the WinRM server hand :class:`CmdletCall` pipelines to
:meth:`Engine.invoke` and turn the events it yields into what their client expects. Values in a
call are what PowerShell remoting delivers: ``None`` for a switch that is present or for
``$null`` (the cmdlet's parameter schema decides which), ``bool``, ``int``, ``str``, ``bytes``,
``list`` and ``dict`` (hashtables such as ``@{Remove=...}``), and :class:`SecureText` for a
SecureString, which remoting carries encrypted with the session key.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, TypeAlias
from uuid import UUID

EndpointName = Literal["exchange", "windows"]


class SecureText(str):
    """The decrypted text of a SecureString; a plain ``str`` is not a SecureString."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "SecureText('********')"


@dataclass(frozen=True)
class CmdletCall:
    """One command of a pipeline as the server received it."""

    name: str
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MultiValued:
    """An Exchange ``MultiValuedProperty``: serialized as an object with a list, no ToString."""

    items: tuple[Any, ...]
    type_names: tuple[str, ...] = (
        "Microsoft.Exchange.Data.MultiValuedProperty`1[[System.String, mscorlib, "
        "Version=4.0.0.0, Culture=neutral, PublicKeyToken=b77a5c561934e089]]",
        "Microsoft.Exchange.Data.MultiValuedPropertyBase",
        "System.Object",
    )


LabValue: TypeAlias = (
    "str | int | float | bool | bytes | datetime | UUID | MultiValued | LabObject | None"
)


@dataclass
class LabObject:
    """An output object with Exchange's type chain, ToString and properties in wire order."""

    type_names: tuple[str, ...]
    to_string: str | None
    properties: dict[str, Any]


@dataclass(frozen=True)
class LabErrorRecord:
    """An error record shaped like the ones Exchange writes."""

    message: str
    fully_qualified_error_id: str
    category: str = "NotSpecified"
    reason: str = ""
    target: str | None = None
    exception_type: str = "System.Exception"
    command: str | None = None


@dataclass(frozen=True)
class LabWarning:
    """A warning record's message."""

    message: str


LabEvent: TypeAlias = LabObject | LabErrorRecord | LabWarning


class LabTerminatingError(Exception):
    """Raised by :meth:`Engine.invoke` when the pipeline fails with a terminating error."""

    def __init__(self, record: LabErrorRecord) -> None:
        self.record = record
        super().__init__(record.message)


class Engine(Protocol):
    """Runs cmdlet pipelines against a simulated organization."""

    def invoke(
        self,
        pipeline: list[CmdletCall],
        *,
        endpoint: EndpointName,
        user: str,
        server: str | None = None,
    ) -> Iterator[LabEvent]:
        """Run one statement, yielding output, non-terminating errors and warnings in order.

        ``server`` names the Exchange server the session is connected to (the one that
        answers server-scoped cmdlets without ``-Server``); ``None`` means the engine's own.

        Raises:
            LabTerminatingError: The statement failed as a whole (unknown cmdlet, parameter
                binding failure, a cmdlet that stops the pipeline).
        """
        ...
