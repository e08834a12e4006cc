"""Overlap and conflict detection between receive connectors on one server.

Exchange picks, for each incoming connection, the connector on the local address and port whose
remote range matches the source most specifically (Set-ReceiveConnector, Bindings parameter:
connectors may share a binding only when their RemoteIPRanges differ). Overlapping ranges are
legal but decide which connector a device or a load balancer lands on. Connectors of different
transport roles may not share a binding at all: Exchange 2016 rejects New-ReceiveConnector with
"Receive connectors assigned to different Transport roles on a single server must listen on
unique local IP address & port bindings". Admins report that cumulative-update setup also stops
on such a pair.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from exchange_agent.relay.ranges import AddressSet

__all__ = [
    "Binding",
    "ConnectorView",
    "Overlap",
    "RoleConflict",
    "bindings_collide",
    "find_overlaps",
    "find_role_conflicts",
    "parse_binding",
]


@dataclass(frozen=True)
class Binding:
    """A local address and TCP port a receive connector listens on."""

    address: ipaddress.IPv4Address | ipaddress.IPv6Address
    port: int

    def __str__(self) -> str:
        if self.address.version == 6:
            return f"[{self.address}]:{self.port}"
        return f"{self.address}:{self.port}"

    def collides(self, other: Binding) -> bool:
        """Return whether both bindings accept connections on the same address and port.

        ``0.0.0.0`` and ``[::]`` stand for every local address of their family.
        """
        if self.port != other.port or self.address.version != other.address.version:
            return False
        return (
            self.address == other.address
            or self.address.is_unspecified
            or other.address.is_unspecified
        )


def parse_binding(text: str) -> Binding:
    """Parse ``0.0.0.0:25``, ``[::]:25`` or ``192.168.1.1:25``.

    Raises:
        ValueError: The text is not ``address:port`` with a port from 1 to 65535.
    """
    host, separator, port_text = text.strip().rpartition(":")
    if not separator or not port_text.isdigit():
        raise ValueError(f"binding {text!r} is invalid; expected address:port such as 0.0.0.0:25")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise ValueError(f"binding {text!r} has port {port}; expected 1 to 65535")
    address = ipaddress.ip_address(host.removeprefix("[").removesuffix("]"))
    return Binding(address, port)


def bindings_collide(left: Iterable[Binding], right: Iterable[Binding]) -> list[Binding]:
    """Return each binding of ``left`` that collides with some binding of ``right``."""
    right_list = list(right)
    return [binding for binding in left if any(binding.collides(o) for o in right_list)]


@dataclass(frozen=True)
class ConnectorView:
    """The facts about a receive connector that overlap detection needs."""

    identity: str
    bindings: tuple[Binding, ...]
    ranges: AddressSet
    transport_role: str | None = None
    extra: dict[str, object] = field(default_factory=dict, compare=False)

    @property
    def server(self) -> str:
        """Server part of ``SERVER\\Name``."""
        return self.identity.partition("\\")[0]

    @property
    def name(self) -> str:
        """Name part of ``SERVER\\Name``."""
        return self.identity.partition("\\")[2] or self.identity


@dataclass(frozen=True)
class Overlap:
    """Two connectors sharing a binding whose remote ranges share addresses."""

    connector: ConnectorView
    other: ConnectorView
    binding: Binding
    shared: AddressSet

    def message(self) -> str:
        """Warning text naming both connectors, the binding and where connections go."""
        mine, theirs = self.connector.ranges, self.other.ranges
        if not (mine - theirs):
            winner = self.connector
        elif not (theirs - mine):
            winner = self.other
        else:
            return (
                f"{self.connector.identity} overlaps {self.other.identity} on {self.binding}; "
                f"connections from {self.shared.describe()} match both, and Exchange uses "
                "whichever range matches a source most specifically"
            )
        return (
            f"{self.connector.identity} overlaps {self.other.identity} on {self.binding}; "
            f"connections from {self.shared.describe()} will use {winner.name} "
            "(most specific match)"
        )


@dataclass(frozen=True)
class RoleConflict:
    """Two connectors in different transport roles listening on the same address and port."""

    connector: ConnectorView
    other: ConnectorView
    binding: Binding

    def message(self) -> str:
        """Error text with the consequence and the fix."""
        return (
            f"{self.connector.identity} ({self.connector.transport_role}) and "
            f"{self.other.identity} ({self.other.transport_role}) both bind {self.binding}. "
            "Exchange setup rejects this combination on the next cumulative update. Recreate "
            f"{self.connector.name} in {self.other.transport_role} or bind it to another "
            "address or port."
        )


def _same_server(connector: ConnectorView, other: ConnectorView) -> bool:
    return (
        connector.server.lower() == other.server.lower()
        and connector.identity.lower() != other.identity.lower()
    )


def find_overlaps(connector: ConnectorView, others: Sequence[ConnectorView]) -> list[Overlap]:
    """Find connectors on the same server whose bindings and remote ranges overlap ``connector``.

    Connectors on other servers, and ``connector`` itself, are skipped. One overlap is
    reported per other connector, on the first colliding binding.
    """
    found = []
    for other in others:
        if not _same_server(connector, other):
            continue
        shared_bindings = bindings_collide(connector.bindings, other.bindings)
        shared = connector.ranges & other.ranges
        if shared_bindings and shared:
            found.append(Overlap(connector, other, shared_bindings[0], shared))
    return found


def find_role_conflicts(connectors: Sequence[ConnectorView]) -> list[RoleConflict]:
    """Find pairs of connectors on one server in different roles that share a binding.

    Connectors without a transport role (Exchange 2010) never conflict. Each pair is reported
    once, naming first the connector whose role does not own the port.
    """
    ordered = sorted(connectors, key=lambda view: view.identity.lower())
    found = []
    for index, first in enumerate(ordered):
        for second in ordered[index + 1 :]:
            if not _same_server(first, second):
                continue
            if not first.transport_role or not second.transport_role:
                continue
            if first.transport_role.lower() == second.transport_role.lower():
                continue
            shared_bindings = bindings_collide(first.bindings, second.bindings)
            if shared_bindings:
                binding = shared_bindings[0]
                misplaced, owner = _misplaced_first(first, second, binding)
                found.append(RoleConflict(misplaced, owner, binding))
    return found


# Exchange 2013 and later run ports 25 and 587 in the front-end transport service and 2525 and
# 465 in the hub Transport service (default connectors of Exchange 2019).
_FRONTEND_PORTS = frozenset({25, 587})


def _misplaced_first(
    first: ConnectorView, second: ConnectorView, binding: Binding
) -> tuple[ConnectorView, ConnectorView]:
    owner_role = "frontendtransport" if binding.port in _FRONTEND_PORTS else "hubtransport"
    if (first.transport_role or "").lower() == owner_role:
        return second, first
    return first, second
