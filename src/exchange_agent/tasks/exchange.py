"""Facts about the Exchange server a task works on, read once per task."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from exchange_agent.errors import TaskError
from exchange_agent.remote.command import Command
from exchange_agent.remote.errors import CommandError
from exchange_agent.tasks.base import TaskContext

_VERSION = re.compile(r"Version (\d+)\.(\d+) \(Build (\d+)\.(\d+)\)")


@dataclass(frozen=True)
class ExchangeServerInfo:
    """A server as ``Get-ExchangeServer`` reports it."""

    name: str
    fqdn: str
    version: tuple[int, int, int, int]

    @property
    def major_version(self) -> int:
        """14 for Exchange 2010, 15 for 2013 and later."""
        return self.version[0]

    @property
    def product(self) -> str:
        """The product name for the version: 2010, 2013, 2016 or 2019 (2019 includes SE)."""
        major, minor = self.version[:2]
        if major < 15:
            return "2010"
        return {0: "2013", 1: "2016"}.get(minor, "2019")


def parse_version(text: str) -> tuple[int, int, int, int]:
    """Parse ``Version 15.2 (Build 1118.7)`` into ``(15, 2, 1118, 7)``.

    Raises:
        ValueError: The text has another shape.
    """
    match = _VERSION.search(text)
    if not match:
        raise ValueError(f"unrecognised Exchange version {text!r}")
    major, minor, build, revision = (int(group) for group in match.groups())
    return major, minor, build, revision


def get_server(ctx: TaskContext, name: str) -> ExchangeServerInfo:
    """Read one server with ``Get-ExchangeServer -Identity NAME``."""
    result = ctx.session("exchange").invoke(Command("Get-ExchangeServer", {"Identity": name}))
    if not result.ok:
        raise CommandError(result.errors, host=ctx.host, endpoint="exchange")
    if not result.output:
        raise TaskError(f"Get-ExchangeServer returned nothing for {name!r}")
    server = result.output[0]
    reported = str(server.get("Name", ""))
    if reported.lower() != name.lower():
        raise TaskError(f"Exchange answered for server {reported}, not {name}")
    return ExchangeServerInfo(
        name=reported,
        fqdn=str(server.get("Fqdn", "")),
        version=parse_version(str(server.get("AdminDisplayVersion", ""))),
    )


def parse_flags(value: Any) -> set[str]:
    """Return the names in an enum flag value, given as text (``"A, B"``) or a list."""
    if value is None:
        return set()
    if isinstance(value, str):
        items: Iterable[Any] = value.split(",")
    elif isinstance(value, Iterable):
        items = value
    else:
        items = [value]
    return {str(item).strip() for item in items if str(item).strip()}
