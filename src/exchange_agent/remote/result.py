"""Session results: plain Python objects, error records and warnings."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

_FAILURE_CATEGORY = re.compile(r"FailureCategory=([A-Za-z0-9_.-]+)")

PipelineState = Literal["Completed", "Failed", "Stopped"]


@dataclass(frozen=True)
class ExObject(Mapping[str, Any]):
    """An object returned by a cmdlet, as plain Python.

    ``type_names`` is the type chain as sent on the wire, most derived first (for example
    ``Microsoft.Exchange.Data.Directory.SystemConfiguration.ReceiveConnector``). Property values
    are ``str``, ``int``, ``float``, ``bool``, ``None``, ``bytes``, ``datetime``, ``UUID``,
    ``list`` (multi-valued properties, already decoded), ``dict`` or nested :class:`ExObject`.
    """

    type_names: tuple[str, ...]
    to_string: str | None
    properties: Mapping[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.properties[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.properties)

    def __len__(self) -> int:
        return len(self.properties)

    def __str__(self) -> str:
        return self.to_string if self.to_string is not None else ""


@dataclass(frozen=True)
class ErrorRecord:
    """An error record from a pipeline, terminating or not.

    Exchange's ids look like ``[Server=EX01,RequestId=...,TimeStamp=...]
    [FailureCategory=Cmdlet-ManagementObjectNotFoundException] E3DE7D95,Microsoft.Exchange...``;
    :attr:`failure_category` returns the ``Cmdlet-...`` token, which is what callers match on.
    """

    message: str
    fully_qualified_error_id: str = ""
    category: str = "NotSpecified"
    reason: str = ""
    target: str | None = None
    command: str | None = None
    exception_type: str | None = None

    @property
    def failure_category(self) -> str | None:
        """The ``Cmdlet-<Exception>`` token of an Exchange error id, if present."""
        match = _FAILURE_CATEGORY.search(self.fully_qualified_error_id)
        return match.group(1) if match else None

    @property
    def exception_name(self) -> str:
        """The short exception name, from the failure category, the reason or the type."""
        category = self.failure_category
        if category and "-" in category:
            return category.split("-", 1)[1]
        if self.reason:
            return self.reason
        if self.exception_type:
            return self.exception_type.rsplit(".", 1)[-1]
        return ""

    @property
    def is_not_found(self) -> bool:
        """True for Exchange's ``ManagementObjectNotFoundException``."""
        return self.exception_name == "ManagementObjectNotFoundException"


@dataclass
class Result:
    """Everything one invocation produced, with both kinds of failure kept.

    ``state`` is ``Failed`` only for a terminating error; Exchange reports most failures
    (object not found, invalid values on one of several statements) as non-terminating error
    records while the pipeline still completes, so callers must check :attr:`errors` too.
    """

    output: list[ExObject | Any] = field(default_factory=list)
    errors: list[ErrorRecord] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    state: PipelineState = "Completed"

    @property
    def ok(self) -> bool:
        """True when the pipeline completed without any error record."""
        return self.state == "Completed" and not self.errors
