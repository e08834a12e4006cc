"""Guards on the remote IP ranges of an anonymous relay connector, checked before any call.

An anonymous relay connector lets every address in its remote ranges send to any recipient
without authentication, so a broad or public range makes the server an open relay. The
Exchange admin center pre-fills a new custom connector with every address, so an empty or
missing list must never fall back to a default.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from exchange_agent.errors import ConfigErrors, SourceLocation
from exchange_agent.relay.ranges import AddressSet, IPRange, RemoteIPRangeError, parse_ip_range

__all__ = ["PRIVATE_USE", "RangePolicy", "check_relay_ranges", "public_part"]

# Address blocks where a device or application server can sit without being reachable from the
# internet: RFC 1918 private use, RFC 6598 shared address space, loopback and link-local for
# IPv4; RFC 4193 unique local, link-local and loopback for IPv6. Documentation blocks such as
# 203.0.113.0/24 are deliberately absent: in a connector they can only be a typo or a public
# address, so they are treated as public.
PRIVATE_USE = AddressSet.of(
    [
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "fc00::/7",
        "fe80::/10",
        "::1",
    ]
)


@dataclass(frozen=True)
class RangePolicy:
    """Limits on relay ranges and the explicit overrides a playbook may set.

    Attributes:
        allow_public_ranges: Accept ranges that contain public internet addresses.
        allow_broad_ranges: Accept ranges of any size except every address of a family.
        max_prefix_v4: Shortest IPv4 prefix length accepted, so 24 allows at most 256 addresses.
        max_prefix_v6: Shortest IPv6 prefix length accepted.
    """

    allow_public_ranges: bool = False
    allow_broad_ranges: bool = False
    max_prefix_v4: int = 24
    max_prefix_v6: int = 64

    def __post_init__(self) -> None:
        for name, value, bits in (
            ("max_prefix_v4", self.max_prefix_v4, 32),
            ("max_prefix_v6", self.max_prefix_v6, 128),
        ):
            if not 1 <= value <= bits:
                raise ValueError(f"{name} must be between 1 and {bits}, got {value}")

    def max_prefix(self, version: int) -> int:
        """Return the shortest prefix length accepted for IP ``version``."""
        return self.max_prefix_v4 if version == 4 else self.max_prefix_v6


def public_part(item: IPRange) -> AddressSet:
    """Return the addresses of ``item`` outside the private-use blocks."""
    return AddressSet.of([item]) - PRIVATE_USE


def _family_name(item: IPRange) -> str:
    return "every IPv4 address" if item.version == 4 else "every IPv6 address"


def _check_one(item: IPRange, policy: RangePolicy, location: SourceLocation | None) -> None:
    _check_host_bits(item, location)
    if item.covers_family():
        raise RemoteIPRangeError(
            item.text,
            f"contains {_family_name(item)}; an anonymous relay connector must be limited to "
            "named device addresses, and this range is rejected whatever the overrides",
            location,
        )
    if not policy.allow_public_ranges:
        public = public_part(item)
        if public:
            raise RemoteIPRangeError(
                item.text,
                f"contains public internet addresses ({_shorten(public)}); set "
                "allow_public_ranges: true if this is intended",
                location,
            )
    prefix = policy.max_prefix(item.version)
    bits = 32 if item.version == 4 else 128
    if not policy.allow_broad_ranges and item.size > 1 << (bits - prefix):
        raise RemoteIPRangeError(
            item.text,
            f"is wider than the /{prefix} limit ({item.size} addresses); list the device "
            "addresses, or set max_prefix or allow_broad_ranges: true",
            location,
        )


def _check_host_bits(item: IPRange, location: SourceLocation | None) -> None:
    # 10.0.5.7/28 reads like one device but means 16 addresses; Exchange would relay for all.
    if "/" not in item.text or "(" in item.text:
        return
    try:
        ipaddress.ip_network(item.text.strip(), strict=True)
    except ValueError:
        network = ipaddress.ip_network(item.text.strip(), strict=False)
        address = item.text.strip().split("/", 1)[0]
        raise RemoteIPRangeError(
            item.text,
            f"has host bits set, so it means the {item.size} addresses of {network}, not "
            f"{address} alone; write {network} for the block or {address} for one device",
            location,
        ) from None


def _shorten(addresses: AddressSet) -> str:
    texts = addresses.texts()
    if len(texts) > 3:
        return ", ".join(texts[:3]) + f" and {len(texts) - 3} more"
    return ", ".join(texts)


def check_relay_ranges(
    values: Sequence[object] | None,
    policy: RangePolicy | None = None,
    *,
    field: str = "remote_ip_ranges",
    location: SourceLocation | None = None,
) -> list[IPRange]:
    """Parse and check the remote ranges of an anonymous relay connector.

    Every value is checked, and all problems are raised together.

    Args:
        values: The ranges from the playbook; ``None`` means the key is missing.
        policy: Limits and overrides; the defaults allow private ranges up to /24 and /64.
        field: Name of the playbook key, for messages.
        location: Where the list sits in the playbook.

    Returns:
        The parsed ranges, in the order given.

    Raises:
        ConfigErrors: The list is missing or empty, or any range is malformed, contains every
            address, contains public addresses or is too broad.
    """
    policy = policy or RangePolicy()
    if values is None:
        raise ConfigErrors([RemoteIPRangeError("", f"{field} is required", location)])
    if isinstance(values, str):
        values = [values]
    if not values:
        raise ConfigErrors(
            [
                RemoteIPRangeError(
                    "",
                    f"{field} is empty; an empty list would leave Exchange's default of every "
                    "address in place, so name the device addresses",
                    location,
                    path=(field,),
                )
            ]
        )
    parsed: list[IPRange] = []
    errors: list[RemoteIPRangeError] = []
    for index, value in enumerate(values):
        try:
            item = parse_ip_range(value, location)
            _check_one(item, policy, location)
        except RemoteIPRangeError as error:
            error.path = (field, index)
            errors.append(error)
        else:
            parsed.append(item)
    if errors:
        raise ConfigErrors(list(errors))
    return parsed
