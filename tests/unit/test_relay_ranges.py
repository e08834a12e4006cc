"""Parsing remote IP ranges and comparing them as address sets."""

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange_agent.errors import ConfigError
from exchange_agent.relay.ranges import AddressSet, RemoteIPRangeError, parse_ip_range


@pytest.mark.parametrize(
    ("text", "first", "last"),
    [
        ("10.0.5.20", "10.0.5.20", "10.0.5.20"),
        ("10.0.5.0/24", "10.0.5.0", "10.0.5.255"),
        ("192.168.5.1/24", "192.168.5.0", "192.168.5.255"),
        ("10.0.5.10-10.0.5.20", "10.0.5.10", "10.0.5.20"),
        (" 10.0.5.10 - 10.0.5.20 ", "10.0.5.10", "10.0.5.20"),
        ("10.0.6.0(255.255.255.0)", "10.0.6.0", "10.0.6.255"),
        ("fd00::1", "fd00::1", "fd00::1"),
        ("fd00::/120", "fd00::", "fd00::ff"),
        (
            "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "::",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        ),
    ],
)
def test_parse_accepted_forms(text: str, first: str, last: str) -> None:
    parsed = parse_ip_range(text)
    assert parsed.first == ipaddress.ip_address(first)
    assert parsed.last == ipaddress.ip_address(last)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("10.0.5", "not an IPv4 or IPv6 address"),
        ("10.0.5.300", "not an IPv4 or IPv6 address"),
        ("printers", "not an IPv4 or IPv6 address"),
        ("10.0.5.0/33", "invalid CIDR block"),
        ("10.0.5.20-10.0.5.10", "after the last address"),
        ("10.0.5.1-fd00::1", "different IP versions"),
        ("10.0.6.0(255.0.255.0)", "not a contiguous subnet mask"),
        ("", "empty"),
        ("   ", "empty"),
        (24, "expected a string"),
        (None, "expected a string"),
    ],
)
def test_parse_rejects_malformed(value: object, fragment: str) -> None:
    with pytest.raises(RemoteIPRangeError) as caught:
        parse_ip_range(value)
    assert fragment in str(caught.value)
    assert isinstance(caught.value, ConfigError)
    assert isinstance(caught.value, ValueError)


def test_canonical_text_per_shape() -> None:
    assert parse_ip_range("10.0.6.0(255.255.255.0)").canonical() == "10.0.6.0/24"
    assert parse_ip_range("10.0.5.0-10.0.5.255").canonical() == "10.0.5.0/24"
    assert parse_ip_range("10.0.5.20").canonical() == "10.0.5.20"
    assert parse_ip_range("10.0.5.20-10.0.5.21").canonical() == "10.0.5.20/31"
    assert parse_ip_range("10.0.5.10-10.0.5.20").canonical() == "10.0.5.10-10.0.5.20"


def test_set_equal_across_spellings() -> None:
    cidr = AddressSet.of(["10.0.5.0/24"])
    dashed = AddressSet.of(["10.0.5.0-10.0.5.255"])
    split = AddressSet.of(["10.0.5.128/25", "10.0.5.0-10.0.5.127"])
    assert cidr == dashed
    assert cidr == split


def test_set_order_and_duplicates_ignored() -> None:
    first = AddressSet.of(["10.0.7.15", "10.0.5.0/24", "10.0.7.15"])
    second = AddressSet.of(["10.0.5.0/24", "10.0.7.15"])
    assert first == second


def test_set_drift_detected() -> None:
    ex01 = AddressSet.of(["10.0.5.0/24"])
    ex02 = AddressSet.of(["10.0.5.0-10.0.5.255", "10.0.7.15"])
    assert ex01 != ex02
    assert (ex02 - ex01).texts() == ["10.0.7.15"]
    assert not (ex01 - ex02)


def test_set_difference_for_plan() -> None:
    current = AddressSet.of(["10.0.5.0/24"])
    desired = AddressSet.of(["10.0.5.20", "10.0.5.21", "10.0.6.0(255.255.255.0)"])
    assert (desired - current).texts() == ["10.0.6.0/24"]
    assert (current & desired).texts() == ["10.0.5.20/31"]
    assert len((current - desired).texts()) > 1


def test_set_families_kept_apart() -> None:
    both = AddressSet.of(["0.0.0.0/0", "::/0"])
    assert "10.1.2.3" in both
    assert "fd00::1" in both
    only_v4 = AddressSet.of(["0.0.0.0/0"])
    assert "fd00::1" not in only_v4
    assert not (only_v4 & AddressSet.of(["::/0"]))


def test_set_adjacent_ranges_merge() -> None:
    merged = AddressSet.of(["10.0.5.0-10.0.5.9", "10.0.5.10-10.0.5.255"])
    assert merged.texts() == ["10.0.5.0/24"]


def test_set_membership_rejects_non_address() -> None:
    assert 42 not in AddressSet.of(["10.0.5.0/24"])


addresses = st.integers(min_value=0, max_value=2**32 - 1)


@given(st.lists(st.tuples(addresses, addresses), min_size=1, max_size=6))
def test_set_texts_round_trip(spans: list[tuple[int, int]]) -> None:
    texts = [
        f"{ipaddress.IPv4Address(min(a, b))}-{ipaddress.IPv4Address(max(a, b))}" for a, b in spans
    ]
    original = AddressSet.of(texts)
    assert AddressSet.of(original.texts()) == original
    assert not (original - original)
    assert (original & original) == original
