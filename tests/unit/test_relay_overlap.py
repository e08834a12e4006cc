"""Overlaps and transport-role conflicts between receive connectors on one server."""

import pytest

from exchange_agent.relay.overlap import (
    ConnectorView,
    find_overlaps,
    find_role_conflicts,
    parse_binding,
)
from exchange_agent.relay.ranges import AddressSet


def _view(
    identity: str, bindings: list[str], ranges: list[str], role: str | None = None
) -> ConnectorView:
    return ConnectorView(
        identity=identity,
        bindings=tuple(parse_binding(text) for text in bindings),
        ranges=AddressSet.of(ranges),
        transport_role=role,
    )


DEFAULT_FRONTEND = _view(
    "EX01\\Default Frontend EX01",
    ["0.0.0.0:25", "[::]:25"],
    ["0.0.0.0-255.255.255.255", "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
    "FrontendTransport",
)


def test_parse_binding_forms() -> None:
    assert str(parse_binding("0.0.0.0:25")) == "0.0.0.0:25"
    assert str(parse_binding("[::]:25")) == "[::]:25"
    assert parse_binding("192.168.1.1:2526").port == 2526


@pytest.mark.parametrize("text", ["0.0.0.0", "0.0.0.0:smtp", "0.0.0.0:0", "0.0.0.0:70000", "x:25"])
def test_parse_binding_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=r"binding|address"):
        parse_binding(text)


def test_binding_collision_rules() -> None:
    any_v4 = parse_binding("0.0.0.0:25")
    assert any_v4.collides(parse_binding("10.0.0.5:25"))
    assert parse_binding("10.0.0.5:25").collides(any_v4)
    assert not any_v4.collides(parse_binding("0.0.0.0:2526"))
    assert not any_v4.collides(parse_binding("[::]:25"))
    assert not parse_binding("10.0.0.5:25").collides(parse_binding("10.0.0.6:25"))


def test_relay_inside_default_frontend_overlaps() -> None:
    relay = _view("EX01\\Relay Apps", ["0.0.0.0:25"], ["10.0.5.20", "10.0.5.21", "10.0.6.0/24"])
    [overlap] = find_overlaps(relay, [DEFAULT_FRONTEND, relay])
    message = overlap.message()
    assert overlap.other is DEFAULT_FRONTEND
    assert "EX01\\Relay Apps overlaps EX01\\Default Frontend EX01 on 0.0.0.0:25" in message
    assert "10.0.5.20/31, 10.0.6.0/24 will use Relay Apps (most specific match)" in message


def test_partial_overlap_names_no_winner() -> None:
    first = _view("EX01\\Relay A", ["0.0.0.0:25"], ["10.0.5.0-10.0.5.200"])
    second = _view("EX01\\Relay B", ["10.0.0.5:25"], ["10.0.5.100-10.0.5.255"])
    [overlap] = find_overlaps(first, [second])
    assert "10.0.5.100-10.0.5.200" in overlap.message()
    assert "most specifically" in overlap.message()


def test_no_overlap_other_server_port_or_ranges() -> None:
    relay = _view("EX01\\Relay Apps", ["0.0.0.0:25"], ["10.0.5.0/24"])
    other_server = _view("EX02\\Relay Apps", ["0.0.0.0:25"], ["10.0.5.0/24"])
    other_port = _view("EX01\\Relay Port", ["0.0.0.0:2526"], ["10.0.5.0/24"])
    disjoint = _view("EX01\\Relay Scan", ["0.0.0.0:25"], ["10.0.6.0/24"])
    assert find_overlaps(relay, [other_server, other_port, disjoint]) == []


def test_server_match_ignores_case() -> None:
    relay = _view("ex01\\Relay Apps", ["0.0.0.0:25"], ["10.0.5.0/24"])
    assert len(find_overlaps(relay, [DEFAULT_FRONTEND])) == 1


def test_hub_connector_on_frontend_port_conflicts() -> None:
    legacy = _view("EX01\\Relay Legacy", ["0.0.0.0:25"], ["10.20.30.40"], "HubTransport")
    [conflict] = find_role_conflicts([DEFAULT_FRONTEND, legacy])
    message = conflict.message()
    assert message.startswith(
        "EX01\\Relay Legacy (HubTransport) and EX01\\Default Frontend EX01 (FrontendTransport) "
        "both bind 0.0.0.0:25."
    )
    assert "Recreate Relay Legacy in FrontendTransport" in message


def test_frontend_connector_on_hub_port_conflicts() -> None:
    hub = _view("EX01\\Default EX01", ["0.0.0.0:2525"], ["0.0.0.0/0"], "HubTransport")
    stray = _view("EX01\\A Stray", ["0.0.0.0:2525"], ["10.0.0.1"], "FrontendTransport")
    [conflict] = find_role_conflicts([hub, stray])
    assert conflict.connector is stray


def test_no_role_conflict_same_role_or_2010() -> None:
    relay = _view("EX01\\Relay", ["0.0.0.0:25"], ["10.0.5.0/24"], "FrontendTransport")
    old_a = _view("EX01\\Default EX01", ["0.0.0.0:25"], ["0.0.0.0/0"])
    old_b = _view("EX01\\Relay", ["0.0.0.0:25"], ["10.0.5.0/24"])
    assert find_role_conflicts([DEFAULT_FRONTEND, relay]) == []
    assert find_role_conflicts([old_a, old_b]) == []
