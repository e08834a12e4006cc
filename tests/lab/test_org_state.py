"""Lab organizations load from seeds and persist between runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exchange_agent.errors import ConfigError
from exchange_agent.lab.clock import ManualClock
from exchange_agent.lab.contract import CmdletCall, LabObject, LabTerminatingError
from exchange_agent.lab.engine import LabEngine
from exchange_agent.lab.org import Organization, from_dict, to_dict
from exchange_agent.lab.state import default_state_file, open_lab, save, state_dir

SEED_2010 = """\
name: fabrikam.com
domain_controller: DC1.fabrikam.com
servers:
  - {name: EX10, fqdn: EX10.fabrikam.com, version: 2010, build: 14.3.513.0,
     roles: [Mailbox, ClientAccess, HubTransport]}
receive_connectors:
  - {name: Default EX10, server: EX10, transport_role: null, bindings: ["0.0.0.0:25"],
     permission_groups: [ExchangeUsers, ExchangeServers, ExchangeLegacyServers],
     auth_mechanism: [Tls, Integrated, BasicAuth, BasicAuthRequireTLS, ExchangeServer]}
  - {name: Client EX10, server: EX10, transport_role: null, bindings: ["0.0.0.0:587"],
     permission_groups: [ExchangeUsers], auth_mechanism: [Tls, Integrated, BasicAuth,
     BasicAuthRequireTLS]}
services:
  EX10:
    - {name: MSExchangeTransport, display_name: Microsoft Exchange Transport}
"""


def test_default_seed_contents() -> None:
    org = open_lab()
    assert org.name == "contoso.com"
    assert [s.name for s in org.servers] == ["EX01"]
    assert len(org.receive_connectors) == 5
    assert org.accepted_domains[0].default is True
    assert [d.domain_name for d in org.accepted_domains] == ["contoso.com", "fabrikam.com"]
    assert org.email_address_policies[0].enabled_email_address_templates == [
        "SMTP:@contoso.com",
        "smtp:@fabrikam.com",
    ]
    assert org.recipients[1].primary_smtp_address == "jsmith@contoso.com"
    names = {s.name for s in org.services["EX01"]}
    assert {
        "MSExchangeFrontEndTransport",
        "MSExchangeTransport",
        "MSExchangeDelivery",
        "MSExchangeSubmission",
    } <= names


def test_dict_round_trip() -> None:
    org = open_lab()
    assert from_dict(json.loads(json.dumps(to_dict(org)))) == org


def test_persistence_across_runs(tmp_path: Path) -> None:
    state = tmp_path / "state" / "lab.json"
    first = LabEngine(open_lab(state_file=state), clock=ManualClock())
    list(
        first.invoke(
            [
                CmdletCall(
                    "Set-ReceiveConnector",
                    {"Identity": "EX01\\Client Frontend EX01", "PermissionGroups": "None"},
                )
            ],
            endpoint="exchange",
            user="CONTOSO\\admin",
        )
    )
    save(first.org, state)

    second = LabEngine(open_lab(state_file=state), clock=ManualClock())
    (obj,) = second.invoke(
        [CmdletCall("Get-ReceiveConnector", {"Identity": "EX01\\Client Frontend EX01"})],
        endpoint="exchange",
        user="CONTOSO\\admin",
    )
    assert isinstance(obj, LabObject)
    assert obj.properties["PermissionGroups"] == "None"
    assert [p.name for p in state.parent.iterdir()] == ["lab.json"]


def test_without_state_file_starts_fresh(tmp_path: Path) -> None:
    org = open_lab()
    org.receive_connectors.clear()
    assert len(open_lab().receive_connectors) == 5


def test_exchange_2010_seed(tmp_path: Path) -> None:
    seed = tmp_path / "ex2010.yml"
    seed.write_text(SEED_2010, encoding="utf-8")
    engine = LabEngine(open_lab(seed=seed), clock=ManualClock())
    found = list(
        engine.invoke([CmdletCall("Get-ReceiveConnector", {})], endpoint="exchange", user="a")
    )
    assert [o.to_string for o in found] == ["EX10\\Default EX10", "EX10\\Client EX10"]
    assert all("TransportRole" not in o.properties for o in found)
    assert [s.name for s in engine.org.services["EX10"]] == ["MSExchangeTransport"]


def test_seed_unknown_key(tmp_path: Path) -> None:
    seed = tmp_path / "bad.yml"
    seed.write_text("name: x\nservers:\n  - {name: EX01, fqdn: a, colour: red}\n")
    with pytest.raises(ConfigError, match=r"organization\.servers\[0\]: unknown key 'colour'"):
        open_lab(seed=seed)


def test_seed_wrong_type(tmp_path: Path) -> None:
    seed = tmp_path / "bad.yml"
    seed.write_text("name: x\nreceive_connectors:\n  - {name: A, server: EX01, enabled: maybe}\n")
    with pytest.raises(ConfigError, match="enabled: expected bool"):
        open_lab(seed=seed)


def test_seed_invalid_yaml_location(tmp_path: Path) -> None:
    seed = tmp_path / "bad.yml"
    seed.write_text("name: x\nservers: [\n")
    with pytest.raises(ConfigError) as caught:
        open_lab(seed=seed)
    assert caught.value.location is not None
    assert caught.value.location.line is not None


def test_corrupt_state_file(tmp_path: Path) -> None:
    state = tmp_path / "lab.json"
    state.write_text("{not json")
    with pytest.raises(ConfigError, match="delete the file"):
        open_lab(state_file=state)


def test_state_dir_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EXCHANGE_AGENT_STATE_DIR", str(tmp_path / "explicit"))
    assert state_dir() == tmp_path / "explicit"
    monkeypatch.delenv("EXCHANGE_AGENT_STATE_DIR")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert default_state_file() == tmp_path / "xdg" / "exchange-agent" / "lab-state.json"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert state_dir() == tmp_path / "home" / ".local" / "state" / "exchange-agent"


def test_save_keeps_old_state_on_failure(tmp_path: Path) -> None:
    state = tmp_path / "lab.json"
    save(open_lab(), state)
    before = state.read_text()
    broken = Organization(name="x")
    broken.certificates = [object()]  # type: ignore[list-item]
    with pytest.raises(TypeError):
        save(broken, state)
    assert state.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["lab.json"]


def test_exchange_2010_has_no_transport_role_parameter(tmp_path: Path) -> None:
    seed = tmp_path / "ex2010.yml"
    seed.write_text(SEED_2010, encoding="utf-8")
    engine = LabEngine(open_lab(seed=seed), clock=ManualClock())
    call = CmdletCall(
        "Set-ReceiveConnector", {"Identity": "EX10\\Client EX10", "TransportRole": "HubTransport"}
    )
    with pytest.raises(LabTerminatingError) as caught:
        list(engine.invoke([call], endpoint="exchange", user="a"))
    assert caught.value.record.fully_qualified_error_id.startswith("NamedParameterNotFound,")
    assert engine.org.receive_connectors[1].transport_role is None
