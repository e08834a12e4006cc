"""Text-to-Python helpers for Exchange values, and normalise() on real objects."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from exchange_agent.remote.clixml import parse_clixml
from exchange_agent.remote.result import ExObject
from exchange_agent.remote.values import (
    ValueFormatError,
    flatten,
    normalise,
    parse_flags,
    parse_size,
    parse_timespan,
    parse_version,
)

FIXTURES = Path("/work/shared/fixtures/exchange-clixml")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("AnonymousUsers, ExchangeServers", {"AnonymousUsers", "ExchangeServers"}),
        ("ExchangeUsers", {"ExchangeUsers"}),
        ("None", {"None"}),
        ("", set()),
        (None, set()),
        (" Tls ,Integrated,, ", {"Tls", "Integrated"}),
        (["Basic", "Fba"], {"Basic", "Fba"}),
        (("IIS",), {"IIS"}),
    ],
)
def test_parse_flags(value: object, expected: set[str]) -> None:
    assert parse_flags(value) == frozenset(expected)


def test_parse_flags_rejects_number() -> None:
    with pytest.raises(ValueFormatError, match="expected a comma-separated string"):
        parse_flags(13)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("36 MB (37,748,736 bytes)", 37_748_736),
        ("256 KB (262,144 bytes)", 262_144),
        ("30 GB (32,212,254,720 bytes)", 32_212_254_720),
        ("1.999 GB (2,146,435,072 bytes)", 2_146_435_072),
        ("0 B (0 bytes)", 0),
        ("Unlimited", None),
        ("unlimited", None),
        (None, None),
        (1024, 1024),
    ],
)
def test_parse_size(value: object, expected: int | None) -> None:
    assert parse_size(value) == expected


@pytest.mark.parametrize("value", ["36 MB", "lots", "36 MB (many bytes)", True])
def test_parse_size_rejects(value: object) -> None:
    with pytest.raises(ValueFormatError, match="invalid size"):
        parse_size(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("14.00:00:00", timedelta(days=14)),
        ("00:10:00", timedelta(minutes=10)),
        ("1.02:03:04.5", timedelta(days=1, hours=2, minutes=3, seconds=4.5)),
        ("00:00:00.0000001", timedelta(microseconds=0.1)),
        ("-00:05:00", timedelta(minutes=-5)),
        ("Unlimited", None),
        (None, None),
    ],
)
def test_parse_timespan(value: object, expected: timedelta | None) -> None:
    assert parse_timespan(value) == expected


@pytest.mark.parametrize("value", ["14 days", "1:2", "00:60"])
def test_parse_timespan_rejects(value: str) -> None:
    with pytest.raises(ValueFormatError, match="invalid time span"):
        parse_timespan(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Version 15.2 (Build 1118.7)", (15, 2, 1118, 7)),
        ("Version 14.3 (Build 123.4)", (14, 3, 123, 4)),
        ("15.1.2507.6", (15, 1, 2507, 6)),
        ("15.0", (15, 0)),
    ],
)
def test_parse_version(value: str, expected: tuple[int, ...]) -> None:
    assert parse_version(value) == expected


def test_versions_order_as_tuples() -> None:
    assert parse_version("Version 15.2 (Build 986.5)") < parse_version("15.2.1118.7")


def test_parse_version_rejects() -> None:
    with pytest.raises(ValueFormatError, match="invalid version"):
        parse_version("Exchange 2019")


def test_normalise_plain_mailbox() -> None:
    (mailbox,) = parse_clixml(
        (FIXTURES / "3gstudent/Ex2016_GetMailbox_PipelineOutput_wire.xml").read_bytes()
    )
    assert isinstance(mailbox, ExObject)
    result = normalise(mailbox)
    assert result["RecoverableItemsQuota"] == 32_212_254_720
    assert result["ProhibitSendQuota"] is None
    assert result["RetainDeletedItemsFor"] == timedelta(days=14)
    assert result["AdminDisplayVersion"] == (15, 1, 2507, 6)
    assert result["EmailAddresses"] == ["SMTP:Administrator@test.com"]
    # The input object is not changed.
    assert mailbox["RecoverableItemsQuota"] == "30 GB (32,212,254,720 bytes)"


def test_normalise_full_level_connector() -> None:
    connector = parse_clixml((FIXTURES / "css-exchange/E19/GetReceiveConnector.xml").read_bytes())[
        2
    ]
    assert isinstance(connector, ExObject)
    result = normalise(connector)
    assert result["PermissionGroups"] == {
        "AnonymousUsers",
        "ExchangeServers",
        "ExchangeLegacyServers",
    }
    assert "BasicAuthRequireTLS" in result["AuthMechanism"]
    assert result["MaxMessageSize"] == 37_748_736
    assert result["MaxHeaderSize"] == 262_144
    assert result["Bindings"] == ["[::]:25", "0.0.0.0:25"]
    assert result["Identity"] == "WIN-CTD3L0RGEN4\\Default Frontend WIN-CTD3L0RGEN4"
    assert result["ConnectionTimeout"] == timedelta(minutes=10)


def test_normalise_full_level_server_version() -> None:
    (server,) = parse_clixml((FIXTURES / "css-exchange/E19/GetExchangeServer.xml").read_bytes())
    assert isinstance(server, ExObject)
    assert normalise(server)["AdminDisplayVersion"] == (15, 2, 986, 5)
    assert normalise(server)["ServerRole"] == {"Mailbox"}


def test_normalise_without_flatten_keeps_objects() -> None:
    (server,) = parse_clixml((FIXTURES / "css-exchange/E19/GetExchangeServer.xml").read_bytes())
    assert isinstance(server, ExObject)
    result = normalise(server, flatten_values=False)
    assert isinstance(result["Identity"], ExObject)
    assert result["AdminDisplayVersion"] == (15, 2, 986, 5)


def test_normalise_empty_flags_become_empty_set() -> None:
    obj = ExObject(("X",), "x", {"PermissionGroups": None, "MaxMessageSize": None})
    result = normalise(obj)
    assert result["PermissionGroups"] == frozenset()
    assert result["MaxMessageSize"] is None


def test_normalise_names_bad_property() -> None:
    obj = ExObject(("X",), "conn1", {"MaxMessageSize": "huge"})
    with pytest.raises(ValueFormatError, match="property MaxMessageSize of conn1"):
        normalise(obj)


def test_flatten_keeps_objects_without_tostring() -> None:
    inner = ExObject(("X",), None, {"a": 1})
    named = ExObject(("Y",), "name", {"a": 1})
    assert flatten([inner, named, "s"]) == [inner, "name", "s"]
