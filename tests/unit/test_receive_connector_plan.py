"""Planning for the receive_connector task: pure, state in, commands and reason out."""

import pytest
from pydantic import ValidationError

from exchange_agent.errors import TaskError
from exchange_agent.remote.result import ExObject
from exchange_agent.tasks.exchange import ExchangeServerInfo
from exchange_agent.tasks.receive_connector import (
    ConnectorState,
    ReceiveConnectorArgs,
    ReceiveConnectorTask,
    normalise_range,
)

EX01 = ExchangeServerInfo("EX01", "ex01.contoso.com", (15, 2, 1118, 7))
EX10 = ExchangeServerInfo("EX10", "ex10.contoso.com", (14, 3, 513, 0))
FRONTEND = "EX01\\Default Frontend EX01"


def connector(**properties):
    base = {
        "Identity": FRONTEND,
        "Server": "EX01",
        "PermissionGroups": "AnonymousUsers, ExchangeServers, ExchangeLegacyServers",
        "AuthMechanism": "Tls, Integrated, BasicAuth, BasicAuthRequireTLS, ExchangeServer",
        "RemoteIPRanges": ["::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "0.0.0.0-255.255.255.255"],
        "Enabled": True,
    }
    base.update(properties)
    return ConnectorState(EX01, FRONTEND, ExObject(("ReceiveConnector",), FRONTEND, base))


def plan(args, state=None):
    task = ReceiveConnectorTask(ReceiveConnectorArgs.model_validate(args))
    return task.plan(state or connector())


def test_add_exchange_users_keeps_existing_groups():
    result = plan({"identity": FRONTEND, "permission_groups": {"add": ["ExchangeUsers"]}})
    assert len(result.commands) == 1
    assert result.commands[0].get("PermissionGroups") == [
        "AnonymousUsers",
        "ExchangeUsers",
        "ExchangeServers",
        "ExchangeLegacyServers",
    ]
    assert result.changes[0].property == "PermissionGroups"


def test_group_already_present_is_ok_with_reason():
    state = connector(PermissionGroups="AnonymousUsers, ExchangeUsers, ExchangeServers")
    result = plan({"identity": FRONTEND, "permission_groups": {"add": ["exchangeusers"]}}, state)
    assert result.empty
    assert "already has the requested settings" in result.reason


def test_custom_is_neither_kept_nor_written():
    state = connector(PermissionGroups="AnonymousUsers, ExchangeServers, Custom")
    result = plan({"identity": FRONTEND, "permission_groups": {"add": ["ExchangeUsers"]}}, state)
    written = result.commands[0].get("PermissionGroups")
    assert "Custom" not in written
    assert set(written) == {"AnonymousUsers", "ExchangeServers", "ExchangeUsers"}


def test_custom_rejected_as_argument():
    with pytest.raises(ValidationError, match="Custom cannot be set"):
        ReceiveConnectorArgs.model_validate({"identity": FRONTEND, "permission_groups": ["Custom"]})


def test_unknown_group_rejected_with_choices():
    with pytest.raises(ValidationError, match="unknown permission group 'ExchangeUser'"):
        ReceiveConnectorArgs.model_validate(
            {"identity": FRONTEND, "permission_groups": {"add": ["ExchangeUser"]}}
        )


def test_groups_list_as_list_value_also_parsed():
    state = connector(PermissionGroups=["ExchangeUsers"])
    result = plan({"identity": FRONTEND, "permission_groups": ["ExchangeUsers"]}, state)
    assert result.empty


def test_none_cannot_combine():
    with pytest.raises(TaskError, match="None cannot be combined"):
        plan({"identity": FRONTEND, "permission_groups": {"add": ["None"]}})


def test_basic_auth_require_tls_needs_basic_and_tls():
    with pytest.raises(TaskError, match="BasicAuthRequireTLS also needs BasicAuth and Tls"):
        plan({"identity": FRONTEND, "auth_mechanism": {"remove": ["BasicAuth"]}})


def test_external_authoritative_needs_exchange_servers():
    with pytest.raises(TaskError, match="needs permission group ExchangeServers"):
        plan(
            {
                "identity": FRONTEND,
                "permission_groups": ["AnonymousUsers"],
                "auth_mechanism": {"add": ["ExternalAuthoritative"]},
            }
        )


def test_ranges_compared_as_address_sets():
    state = connector(RemoteIPRanges=["10.0.5.0-10.0.5.255", "10.0.7.15"])
    result = plan(
        {"identity": FRONTEND, "remote_ip_ranges": ["10.0.5.0/24", "10.0.7.15/32"]}, state
    )
    assert result.empty


def test_range_change_listed():
    state = connector(RemoteIPRanges=["10.0.5.0/24"])
    result = plan({"identity": FRONTEND, "remote_ip_ranges": {"add": ["10.0.6.1"]}}, state)
    assert result.commands[0].get("RemoteIPRanges") == ["10.0.5.0/24", "10.0.6.1"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.0.0.1", "10.0.0.1"),
        ("10.0.0.0/30", "10.0.0.0-10.0.0.3"),
        ("10.0.0.5/24", "10.0.0.0-10.0.0.255"),
        (" 10.0.0.1 - 10.0.0.9 ", "10.0.0.1-10.0.0.9"),
        ("2001:db8::/126", "2001:db8::-2001:db8::3"),
    ],
)
def test_normalise_range(text, expected):
    assert normalise_range(text) == expected


@pytest.mark.parametrize("text", ["10.0.0.256", "10.0.0.9-10.0.0.1", "::1-10.0.0.1", "ten", ""])
def test_normalise_range_rejects(text):
    with pytest.raises(ValueError, match="invalid remote IP range"):
        normalise_range(text)


def test_enabled_change():
    result = plan({"identity": FRONTEND, "enabled": False})
    assert result.commands[0].render() == (
        "Set-ReceiveConnector -Identity 'EX01\\Default Frontend EX01' -Enabled $false "
        "-Confirm:$false"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"permission_groups": ["ExchangeUsers"]}, "exactly one of identity, name, well_known"),
        ({"identity": "Default Frontend EX01", "enabled": True}, "must be SERVER\\\\Name"),
        ({"identity": FRONTEND}, "nothing to ensure"),
        ({"name": "x", "well_known": "default-frontend", "enabled": True}, "exactly one"),
    ],
)
def test_invalid_targets(args, message):
    with pytest.raises(ValidationError, match=message):
        ReceiveConnectorArgs.model_validate(args)


@pytest.mark.parametrize(
    ("server", "well_known", "identity"),
    [
        (EX01, "default-frontend", "EX01\\Default Frontend EX01"),
        (EX10, "default-frontend", "EX10\\Default EX10"),
        (EX01, "client-frontend", "EX01\\Client Frontend EX01"),
        (EX10, "client-frontend", "EX10\\Client EX10"),
    ],
)
def test_well_known_names_per_version(server, well_known, identity):
    args = ReceiveConnectorArgs.model_validate({"well_known": well_known, "enabled": True})
    assert ReceiveConnectorTask(args)._identity(server) == identity
