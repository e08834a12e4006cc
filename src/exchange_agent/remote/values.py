"""Conversion of Exchange's text values into Python values that task code can compare.

A client that does not ask for ``serializationLevel=Full`` receives flags enums, sizes, time
spans and versions as display text (a Get-Mailbox capture from Exchange 2016 CU23 shows
``"30 GB (32,212,254,720 bytes)"``, ``"14.00:00:00"`` and ``"Version 15.1 (Build 2507.6)"``).
The level-Full form has the same ToString text, so one set of text parsers serves both.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import timedelta
from typing import Any

from exchange_agent.errors import ExchangeAgentError
from exchange_agent.remote.result import ExObject

__all__ = [
    "FLAG_PROPERTIES",
    "SIZE_PROPERTIES",
    "TIMESPAN_PROPERTIES",
    "VERSION_PROPERTIES",
    "ValueFormatError",
    "flatten",
    "normalise",
    "parse_flags",
    "parse_size",
    "parse_timespan",
    "parse_version",
]

# ByteQuantifiedSize.ToString: "36 MB (37,748,736 bytes)", "0 B (0 bytes)".
_SIZE = re.compile(r"^\s*[\d.,]+\s*[KMGTP]?B\s*\(\s*([\d,]+)\s*bytes\s*\)\s*$")
# TimeSpan/EnhancedTimeSpan.ToString: "[-][d.]hh:mm:ss[.fffffff]".
_TIMESPAN = re.compile(
    r"^\s*(?P<sign>-)?(?:(?P<days>\d+)\.)?(?P<hours>\d{1,2}):(?P<minutes>\d{2}):"
    r"(?P<seconds>\d{2})(?:\.(?P<fraction>\d{1,7}))?\s*$"
)
# ServerVersion.ToString: "Version 15.2 (Build 1118.7)"; also plain "15.2.1118.7".
_VERSION_TEXT = re.compile(r"^\s*Version\s+(\d+)\.(\d+)\s+\(Build\s+(\d+)\.(\d+)\)\s*$")
_VERSION_DOTTED = re.compile(r"^\s*\d+(?:\.\d+){1,3}\s*$")

# Flags enums: Exchange writes a comma list of member names (PermissionGroups,
# AuthMechanism: Set-ReceiveConnector; Services: Get-ExchangeCertificate) and multi-valued
# enum properties such as InternalAuthenticationMethods as lists; both become sets.
FLAG_PROPERTIES = frozenset(
    {
        "PermissionGroups",
        "AuthMechanism",
        "Services",
        "IISServices",
        "AccessRights",
        "ExtendedRights",
        "InternalAuthenticationMethods",
        "ExternalAuthenticationMethods",
        "AuthenticationMethods",
        "ServerRole",
    }
)
SIZE_PROPERTIES = frozenset(
    {
        "MaxMessageSize",
        "MaxHeaderSize",
        "MaxSendSize",
        "MaxReceiveSize",
        "IssueWarningQuota",
        "ProhibitSendQuota",
        "ProhibitSendReceiveQuota",
        "RecoverableItemsQuota",
        "RecoverableItemsWarningQuota",
        "ArchiveQuota",
        "ArchiveWarningQuota",
        "CalendarLoggingQuota",
        "RulesQuota",
    }
)
TIMESPAN_PROPERTIES = frozenset(
    {
        "ConnectionTimeout",
        "ConnectionInactivityTimeout",
        "RetainDeletedItemsFor",
        "TarpitInterval",
        "LitigationHoldDuration",
    }
)
VERSION_PROPERTIES = frozenset({"AdminDisplayVersion"})


class ValueFormatError(ExchangeAgentError, ValueError):
    """An Exchange value did not have the text form its parser expects."""


def parse_flags(value: Any) -> frozenset[str]:
    """Parse a flags enum (``"AnonymousUsers, ExchangeServers"``) or a list of names into a set.

    ``None`` and the empty string give the empty set. Member ``None`` (as in
    ``PermissionGroups None``) is kept, because it is a value Exchange accepts and reports.
    """
    if value is None:
        return frozenset()
    if isinstance(value, str):
        parts: Iterable[Any] = value.split(",")
    elif isinstance(value, list | tuple | set | frozenset):
        parts = value
    else:
        raise ValueFormatError(
            f"invalid flags value {value!r}: expected a comma-separated string or a list"
        )
    return frozenset(str(part).strip() for part in parts if str(part).strip())


def parse_size(value: Any) -> int | None:
    """Parse a ByteQuantifiedSize text such as ``"36 MB (37,748,736 bytes)"`` into bytes.

    ``"Unlimited"`` and ``None`` give ``None``; an ``int`` is returned unchanged.

    Raises:
        ValueFormatError: The text is neither a size nor ``Unlimited``.
    """
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip()
    if text.lower() == "unlimited":
        return None
    match = _SIZE.match(text)
    if match is None:
        raise ValueFormatError(
            f"invalid size {text!r}: expected text like '36 MB (37,748,736 bytes)' or 'Unlimited'"
        )
    return int(match.group(1).replace(",", ""))


def parse_timespan(value: Any) -> timedelta | None:
    """Parse a TimeSpan text such as ``"14.00:00:00"`` or ``"00:10:00"``.

    ``"Unlimited"`` and ``None`` give ``None``; a ``timedelta`` is returned unchanged.

    Raises:
        ValueFormatError: The text is not ``[-][d.]hh:mm:ss[.fffffff]`` or ``Unlimited``.
    """
    if value is None or isinstance(value, timedelta):
        return value
    text = str(value).strip()
    if text.lower() == "unlimited":
        return None
    match = _TIMESPAN.match(text)
    if match is None:
        raise ValueFormatError(
            f"invalid time span {text!r}: expected [-][d.]hh:mm:ss[.fffffff] or 'Unlimited'"
        )
    fraction = match.group("fraction") or "0"
    span = timedelta(
        days=int(match.group("days") or 0),
        hours=int(match.group("hours")),
        minutes=int(match.group("minutes")),
        seconds=int(match.group("seconds")),
        microseconds=int(fraction.ljust(7, "0")) / 10,
    )
    return -span if match.group("sign") else span


def parse_version(value: Any) -> tuple[int, ...]:
    """Parse ``"Version 15.2 (Build 1118.7)"`` or ``"15.2.1118.7"`` into ``(15, 2, 1118, 7)``.

    Raises:
        ValueFormatError: The text is in neither form.
    """
    if isinstance(value, tuple):
        return value
    text = str(value)
    match = _VERSION_TEXT.match(text)
    if match is not None:
        return tuple(int(part) for part in match.groups())
    if _VERSION_DOTTED.match(text):
        return tuple(int(part) for part in text.strip().split("."))
    raise ValueFormatError(
        f"invalid version {text!r}: expected 'Version 15.2 (Build 1118.7)' or '15.2.1118.7'"
    )


def _text(value: Any) -> Any:
    # A level-Full value that kept properties (Unlimited`1 has IsUnlimited and Value) still
    # carries the display text as its ToString.
    return str(value) if isinstance(value, ExObject) else value


_CONVERTERS: list[tuple[frozenset[str], Callable[[Any], Any]]] = [
    (FLAG_PROPERTIES, parse_flags),
    (SIZE_PROPERTIES, parse_size),
    (TIMESPAN_PROPERTIES, parse_timespan),
    (VERSION_PROPERTIES, parse_version),
]


def flatten(value: Any) -> Any:
    """Replace nested objects that have a ToString with that text, inside lists too.

    A client at the default serialization level receives Exchange value types (ADObjectId,
    SmtpProxyAddress, IPBinding, Fqdn) as ``<S>`` text. At level Full they arrive as objects
    with properties, and flattening makes both forms compare equal.
    """
    if isinstance(value, ExObject):
        return value.to_string if value.to_string is not None else value
    if isinstance(value, list):
        return [flatten(item) for item in value]
    return value


def normalise(obj: ExObject, *, flatten_values: bool = True) -> ExObject:
    """Return a copy of ``obj`` with known properties converted to Python values.

    Properties named in :data:`FLAG_PROPERTIES` become sets, :data:`SIZE_PROPERTIES` ints
    (``None`` for Unlimited), :data:`TIMESPAN_PROPERTIES` timedeltas and
    :data:`VERSION_PROPERTIES` tuples. ``None`` stays ``None``, except for flags, which become
    the empty set. With ``flatten_values``, nested objects become their ToString text first
    (see :func:`flatten`), so the result is the same for both serialization levels.

    Raises:
        ValueFormatError: A known property has text its parser rejects; the message names it.
    """
    properties = dict(obj.properties)
    if flatten_values:
        properties = {name: flatten(value) for name, value in properties.items()}
    for names, convert in _CONVERTERS:
        for name in names & properties.keys():
            value = properties[name]
            if value is None and convert is not parse_flags:
                continue
            try:
                properties[name] = convert(_text(value))
            except ValueFormatError as error:
                raise ValueFormatError(f"property {name} of {obj}: {error}") from error
    return replace(obj, properties=properties)
