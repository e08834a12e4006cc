"""Guards on the remote IP ranges of an anonymous relay connector."""

import pytest

from exchange_agent.errors import ConfigErrors, SourceLocation
from exchange_agent.relay.guards import RangePolicy, check_relay_ranges


def _messages(values: object, policy: RangePolicy | None = None) -> list[str]:
    with pytest.raises(ConfigErrors) as caught:
        check_relay_ranges(values, policy)  # type: ignore[arg-type]
    return [str(error) for error in caught.value.errors]


def test_device_addresses_accepted() -> None:
    parsed = check_relay_ranges(["10.0.5.20", "10.0.5.21", "10.0.6.0(255.255.255.0)"])
    assert [item.canonical() for item in parsed] == ["10.0.5.20", "10.0.5.21", "10.0.6.0/24"]


def test_single_string_accepted() -> None:
    assert check_relay_ranges("192.168.1.10")[0].canonical() == "192.168.1.10"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value",
    ["0.0.0.0/0", "0.0.0.0-255.255.255.255", "::/0", "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
)
def test_all_addresses_always_rejected(value: str) -> None:
    policy = RangePolicy(allow_public_ranges=True, allow_broad_ranges=True)
    [message] = _messages([value], policy)
    assert "every IPv" in message
    assert "whatever the overrides" in message


def test_public_range_rejected() -> None:
    [message] = _messages(["203.0.113.0/24"])
    assert "203.0.113.0/24" in message
    assert "public internet addresses" in message
    assert "allow_public_ranges: true" in message


def test_public_range_override() -> None:
    policy = RangePolicy(allow_public_ranges=True)
    assert check_relay_ranges(["203.0.113.0/24"], policy)[0].size == 256


def test_range_straddling_private_edge_is_public() -> None:
    [message] = _messages(["192.167.255.250-192.168.0.5"])
    assert "(192.167.255.250-192.167.255.255)" in message


def test_broad_private_range_rejected() -> None:
    [message] = _messages(["10.0.0.0/8"])
    assert "10.0.0.0/8" in message
    assert "wider than the /24 limit" in message
    assert "allow_broad_ranges: true" in message


def test_broad_limit_boundary() -> None:
    assert check_relay_ranges(["10.0.0.0/24"])
    assert _messages(["10.0.0.0/23"])
    assert check_relay_ranges(["fd00::/64"])
    assert _messages(["fd00::/63"])


def test_broad_overrides() -> None:
    assert check_relay_ranges(["10.0.0.0/16"], RangePolicy(max_prefix_v4=16))
    assert check_relay_ranges(["10.0.0.0/8"], RangePolicy(allow_broad_ranges=True))
    assert _messages(["10.0.0.0/15"], RangePolicy(max_prefix_v4=16))


def test_policy_rejects_bad_prefix() -> None:
    with pytest.raises(ValueError, match="max_prefix_v4"):
        RangePolicy(max_prefix_v4=0)
    with pytest.raises(ValueError, match="max_prefix_v6"):
        RangePolicy(max_prefix_v6=129)


def test_missing_list_rejected() -> None:
    [message] = _messages(None)
    assert message == "remote_ip_ranges is required"


def test_empty_list_rejected() -> None:
    [message] = _messages([])
    assert "remote_ip_ranges is empty" in message
    assert "every address" in message


def test_all_errors_reported_together() -> None:
    location = SourceLocation("playbook.yml", 6, 7)
    with pytest.raises(ConfigErrors) as caught:
        check_relay_ranges(["10.0.5", "0.0.0.0/0", "10.0.5.20"], location=location)
    errors = caught.value.errors
    assert len(errors) == 2
    assert all(error.location == location for error in errors)
    assert str(errors[0]).startswith("playbook.yml:6")


@pytest.mark.parametrize(
    ("value", "block", "address"),
    [("10.0.5.7/28", "10.0.5.0/28", "10.0.5.7"), ("fd00::5/120", "fd00::/120", "fd00::5")],
)
def test_cidr_with_host_bits_rejected(value: str, block: str, address: str) -> None:
    # 10.0.5.7/28 reads like one printer but relays for the whole block.
    [message] = _messages([value])
    assert "has host bits set, so it means the " in message
    assert f"write {block} for the block or {address} for one device" in message


def test_cidr_without_host_bits_accepted() -> None:
    assert check_relay_ranges(["10.0.5.16/28"])[0].size == 16
