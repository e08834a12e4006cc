"""The shipped inventories and playbooks load and validate."""

from pathlib import Path

import pytest

from exchange_agent.config import load_inventory, load_playbook, select_hosts
from exchange_agent.runner.prepare import prepare
from exchange_agent.tasks import registry

ROOT = Path(__file__).resolve().parents[2]


def test_example_inventory_loads():
    inventory = load_inventory(ROOT / "inventory" / "example.yml")
    assert list(inventory.hosts) == ["ex01", "ex02"]
    ex01 = inventory.hosts["ex01"]
    assert ex01.server == "EX01"
    assert ex01.exchange is not None
    assert ex01.exchange.url == "http://ex01.contoso.com/PowerShell"
    assert ex01.exchange.configuration_name == "Microsoft.Exchange"
    assert ex01.exchange.username == "svc-exch@CONTOSO.COM"
    assert ex01.windows is not None
    assert ex01.windows.configuration_name == "Microsoft.PowerShell"
    assert select_hosts(inventory, "exchange:!site_a") == ["ex02"]
    assert inventory.warnings == []


def test_lab_inventory_loads():
    inventory = load_inventory(ROOT / "inventory" / "lab.yml")
    assert inventory.hosts["ex01"].lab is not None


@pytest.mark.parametrize(
    "playbook", sorted((ROOT / "playbooks").glob("*.yml")), ids=lambda path: path.name
)
def test_playbook_structure_valid(playbook):
    loaded = load_playbook(playbook, known_actions=sorted(registry()))
    assert loaded.plays


def test_main_playbook_validates_for_example_hosts():
    inventory = load_inventory(ROOT / "inventory" / "example.yml")
    playbook = load_playbook(ROOT / "playbooks" / "authenticated-smtp-on-port-25.yml")
    plans = prepare(inventory, playbook, limit=None, extra_vars={})
    assert set(plans) == {"ex01", "ex02"}
    assert [p.spec.action for p in plans["ex01"].tasks] == ["receive_connector"]
    assert list(plans["ex01"].handlers) == ["restart frontend transport"]
