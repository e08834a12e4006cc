"""Pure logic for SMTP relay: sending-method advice, remote IP ranges, guards and overlaps."""

from exchange_agent.relay.advisor import Advice, Method, SenderFacts, advise
from exchange_agent.relay.guards import RangePolicy, check_relay_ranges
from exchange_agent.relay.overlap import (
    Binding,
    ConnectorView,
    Overlap,
    RoleConflict,
    find_overlaps,
    find_role_conflicts,
    parse_binding,
)
from exchange_agent.relay.ranges import AddressSet, IPRange, RemoteIPRangeError, parse_ip_range

__all__ = [
    "AddressSet",
    "Advice",
    "Binding",
    "ConnectorView",
    "IPRange",
    "Method",
    "Overlap",
    "RangePolicy",
    "RemoteIPRangeError",
    "RoleConflict",
    "SenderFacts",
    "advise",
    "check_relay_ranges",
    "find_overlaps",
    "find_role_conflicts",
    "parse_binding",
    "parse_ip_range",
]
