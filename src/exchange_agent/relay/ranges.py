"""Remote IP ranges of receive connectors, parsed into address sets.

Exchange accepts three forms in ``RemoteIPRanges``: a single address, a ``first-last`` range and
CIDR notation with host bits allowed (``192.168.5.1/24``), as listed in Microsoft's "Allow
anonymous relay on Exchange servers" procedure. We also accept ``address(mask)`` and convert it
to CIDR before anything is sent, so the tool never depends on Exchange parsing that form.

Two lists that name the same addresses compare equal whatever their spelling: ``10.0.5.0/24``
and ``10.0.5.0-10.0.5.255`` are the same set.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from exchange_agent.errors import ConfigError, SourceLocation

__all__ = [
    "AddressSet",
    "IPRange",
    "RemoteIPRangeError",
    "parse_ip_range",
    "parse_ip_ranges",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_MASK_FORM = re.compile(r"^(?P<address>[^()\s]+)\((?P<mask>[^()\s]+)\)$")
_FAMILY_BITS = {4: 32, 6: 128}


class RemoteIPRangeError(ConfigError):
    """A remote IP range that is malformed or rejected by a relay guard.

    The message reads ``remote IP range '<value>' <reason>``, so ``reason`` starts with a verb
    (``is``, ``contains``); without a value the reason is the whole message.
    """

    def __init__(
        self,
        value: str,
        reason: str,
        location: SourceLocation | None = None,
        *,
        path: tuple[str | int, ...] = (),
    ) -> None:
        self.value = value
        self.reason = reason
        message = f"remote IP range {value!r} {reason}" if value else reason
        super().__init__(message, location, path=path)


@dataclass(frozen=True)
class IPRange:
    """One contiguous span of addresses of a single family, with the text it came from."""

    first: IPAddress
    last: IPAddress
    text: str

    @property
    def version(self) -> int:
        """IP version, 4 or 6."""
        return self.first.version

    @property
    def size(self) -> int:
        """Number of addresses in the range."""
        return int(self.last) - int(self.first) + 1

    def covers_family(self) -> bool:
        """Return whether the range is every address of its family (0.0.0.0/0 or ::/0)."""
        return self.size == 1 << _FAMILY_BITS[self.version]

    def canonical(self) -> str:
        """Exchange-accepted text: a single address, a CIDR block or ``first-last``."""
        if self.first == self.last:
            return str(self.first)
        blocks = list(ipaddress.summarize_address_range(self.first, self.last))
        if len(blocks) == 1:
            return str(blocks[0])
        return f"{self.first}-{self.last}"


def _parse_address(text: str, whole: str) -> IPAddress:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise RemoteIPRangeError(
            whole,
            f"is invalid: {text!r} is not an IPv4 or IPv6 address; expected a single address, "
            "CIDR (10.0.5.0/24), a first-last range (10.0.5.10-10.0.5.20) or address(mask)",
        ) from None


def _network_range(network: ipaddress.IPv4Network | ipaddress.IPv6Network, text: str) -> IPRange:
    return IPRange(network.network_address, network.broadcast_address, text)


def _parse_mask_form(match: re.Match[str], text: str) -> IPRange:
    address = _parse_address(match["address"], text)
    try:
        network = ipaddress.ip_network(f"{address}/{match['mask']}", strict=False)
    except ValueError:
        raise RemoteIPRangeError(
            text, f"is invalid: {match['mask']!r} is not a contiguous subnet mask for {address}"
        ) from None
    return _network_range(network, text)


def _parse_dash_form(text: str) -> IPRange:
    first_text, _, last_text = text.partition("-")
    first = _parse_address(first_text.strip(), text)
    last = _parse_address(last_text.strip(), text)
    if first.version != last.version:
        raise RemoteIPRangeError(
            text, "is invalid: the first and last addresses are of different IP versions"
        )
    if int(first) > int(last):
        raise RemoteIPRangeError(
            text,
            f"is invalid: the first address {first} is after the last address {last}; swap them",
        )
    return IPRange(first, last, text)


def parse_ip_range(value: object, location: SourceLocation | None = None) -> IPRange:
    """Parse one remote IP range in any form Exchange or the ``address(mask)`` form accepts.

    Args:
        value: The range as written by the user or returned by Exchange.
        location: Where the value sits in the user's file, for the error message.

    Raises:
        RemoteIPRangeError: The value is not a string or not a valid range.
    """
    if not isinstance(value, str):
        raise RemoteIPRangeError(repr(value), "is invalid: expected a string", location)
    text = value.strip()
    try:
        if not text:
            raise RemoteIPRangeError("", "a remote IP range is empty")
        mask_match = _MASK_FORM.match(text)
        if mask_match:
            return _parse_mask_form(mask_match, text)
        if "/" in text:
            try:
                network = ipaddress.ip_network(text, strict=False)
            except ValueError:
                raise RemoteIPRangeError(
                    text, "is an invalid CIDR block; expected address/prefix such as 10.0.5.0/24"
                ) from None
            return _network_range(network, text)
        if "-" in text:
            return _parse_dash_form(text)
        address = _parse_address(text, text)
        return IPRange(address, address, text)
    except RemoteIPRangeError as error:
        if location is None or error.location is not None:
            raise
        raise RemoteIPRangeError(error.value, error.reason, location) from None


def parse_ip_ranges(values: Iterable[object]) -> list[IPRange]:
    """Parse every range in ``values``, in order."""
    return [parse_ip_range(value) for value in values]


@dataclass(frozen=True)
class AddressSet:
    """A set of IP addresses stored as sorted, merged ``(version, first, last)`` intervals."""

    intervals: tuple[tuple[int, int, int], ...] = ()

    @classmethod
    def of(cls, ranges: Iterable[IPRange | str]) -> AddressSet:
        """Build the set of every address named by ``ranges`` (parsed when given as text)."""
        spans = []
        for item in ranges:
            parsed = parse_ip_range(item) if isinstance(item, str) else item
            spans.append((parsed.version, int(parsed.first), int(parsed.last)))
        return cls(_merge(spans))

    def __bool__(self) -> bool:
        return bool(self.intervals)

    def __and__(self, other: AddressSet) -> AddressSet:
        common = []
        for version, first, last in self.intervals:
            for other_version, other_first, other_last in other.intervals:
                low, high = max(first, other_first), min(last, other_last)
                if version == other_version and low <= high:
                    common.append((version, low, high))
        return AddressSet(_merge(common))

    def __sub__(self, other: AddressSet) -> AddressSet:
        remaining = list(self.intervals)
        for cut_version, cut_first, cut_last in other.intervals:
            next_remaining = []
            for version, first, last in remaining:
                if version != cut_version or cut_last < first or cut_first > last:
                    next_remaining.append((version, first, last))
                    continue
                if first < cut_first:
                    next_remaining.append((version, first, cut_first - 1))
                if cut_last < last:
                    next_remaining.append((version, cut_last + 1, last))
            remaining = next_remaining
        return AddressSet(_merge(remaining))

    def __contains__(self, address: object) -> bool:
        if isinstance(address, str):
            address = ipaddress.ip_address(address)
        if not isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address):
            return False
        value = int(address)
        return any(
            version == address.version and first <= value <= last
            for version, first, last in self.intervals
        )

    def ranges(self) -> Iterator[IPRange]:
        """Yield one :class:`IPRange` per merged interval, in address order."""
        for version, first, last in self.intervals:
            first_address = _address(version, first)
            last_address = _address(version, last)
            candidate = IPRange(first_address, last_address, "")
            yield IPRange(first_address, last_address, candidate.canonical())

    def texts(self) -> list[str]:
        """Canonical text of each merged interval, suitable for ``-RemoteIPRanges``."""
        return [item.text for item in self.ranges()]

    def describe(self) -> str:
        """Comma-separated canonical texts, for messages."""
        return ", ".join(self.texts()) or "no addresses"


def _address(version: int, value: int) -> IPAddress:
    if version == 4:
        return ipaddress.IPv4Address(value)
    return ipaddress.IPv6Address(value)


def _merge(spans: Iterable[tuple[int, int, int]]) -> tuple[tuple[int, int, int], ...]:
    merged: list[tuple[int, int, int]] = []
    for version, first, last in sorted(spans):
        if merged and merged[-1][0] == version and first <= merged[-1][2] + 1:
            previous = merged[-1]
            merged[-1] = (version, previous[1], max(previous[2], last))
        else:
            merged.append((version, first, last))
    return tuple(merged)
