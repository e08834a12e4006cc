"""Bad input stops the run before any connection; failures stay with their host."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = ROOT / "playbooks" / "authenticated-smtp-on-port-25.yml"
LAB_INVENTORY = ROOT / "inventory" / "lab.yml"


def run(invoke, playbook, inventory=LAB_INVENTORY, *extra):
    return invoke(
        "run", str(playbook), "-i", str(inventory), "--lab-transport", "inprocess", *extra
    )


def test_undefined_variable_suggests_similar_name(invoke, write, state_dir):
    inventory = write(
        "inventory.yml",
        """
        all:
          vars:
            printer_subnet: [10.20.30.0/28]
        hosts:
          ex01: {lab: {}, windows: {}}
        """,
    )
    playbook = write(
        "relay.yml",
        """
        - hosts: all
          tasks:
            - name: Relay for printers
              receive_connector:
                name: Default Frontend EX01
                remote_ip_ranges: '{{ printer_subnets }}'
        """,
    )
    result = run(invoke, playbook, inventory)
    assert result.exit_code == 5
    assert "relay.yml:6:" in result.stderr
    assert "printer_subnets is undefined" in result.stderr
    assert "did you mean printer_subnet?" in result.stderr
    assert "nothing was applied" in result.stderr
    assert not (state_dir / "lab-state.json").exists()


def test_service_task_without_windows_endpoint(invoke, write, state_dir):
    inventory = write("inventory.yml", "hosts:\n  ex01: {lab: {}}\n")
    result = run(invoke, PLAYBOOK, inventory)
    assert result.exit_code == 5
    assert "service tasks run on the windows endpoint; ex01 has none configured" in result.stderr
    assert not (state_dir / "lab-state.json").exists()


def test_unknown_task_suggests_name(invoke, write):
    playbook = write(
        "typo.yml",
        """
        - hosts: all
          tasks:
            - receive_conector: {name: x, enabled: true}
        """,
    )
    result = run(invoke, playbook)
    assert result.exit_code == 5
    assert "typo.yml:3:" in result.stderr
    assert "unknown task 'receive_conector' (did you mean 'receive_connector'?)" in result.stderr


def test_bad_argument_value_located(invoke, write):
    playbook = write(
        "bad.yml",
        """
        - hosts: all
          tasks:
            - receive_connector:
                well_known: default-frontend
                permission_groups: {add: [ExchangeUser]}
        """,
    )
    result = run(invoke, playbook)
    assert result.exit_code == 5
    assert "bad.yml:5:" in result.stderr
    assert "unknown permission group 'ExchangeUser'" in result.stderr


def test_duplicate_key_rejected(invoke, write):
    playbook = write(
        "dup.yml",
        """
        - hosts: all
          hosts: ex01
          tasks: []
        """,
    )
    result = run(invoke, playbook)
    assert result.exit_code == 5
    assert "dup.yml:2:" in result.stderr
    assert "duplicate key" in result.stderr


def test_bad_auth_value_located(invoke, write):
    inventory = write(
        "inventory.yml",
        """
        hosts:
          ex01:
            exchange:
              auth: kerberoz
        """,
    )
    result = run(invoke, PLAYBOOK, inventory)
    assert result.exit_code == 5
    assert "inventory.yml:4:" in result.stderr
    assert "kerberoz" in result.stderr


def test_one_host_failing_leaves_other_finishing(invoke, write):
    inventory = write(
        "inventory.yml",
        """
        hosts:
          ex01: {lab: {}, windows: {}}
          ex02: {server: EX02, lab: {}, windows: {}}
        """,
    )
    result = run(invoke, PLAYBOOK, inventory, "--output", "json")
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    assert data["stats"]["ex01"]["changed"] == 2
    assert data["stats"]["ex02"]["failed"] == 1
    failed = [task for task in data["tasks"] if task["host"] == "ex02"]
    assert len(failed) == 1
    assert "EX02" in failed[0]["message"]


def test_missing_connector_fails_with_what_exists(invoke, write):
    playbook = write(
        "missing.yml",
        """
        - hosts: all
          tasks:
            - receive_connector: {name: Relay Printers, enabled: true}
        """,
    )
    result = run(invoke, playbook, LAB_INVENTORY, "--output", "json")
    assert result.exit_code == 2
    message = json.loads(result.stdout)["tasks"][0]["message"]
    assert "receive connector 'EX01\\\\Relay Printers' not found" in message
    assert "EX01\\Default Frontend EX01" in message


def test_unreachable_host_exits_4(invoke, write, monkeypatch):
    monkeypatch.setenv("EXCH_TEST_PASSWORD", "not-used")
    inventory = write(
        "inventory.yml",
        """
        hosts:
          ex01:
            fqdn: localhost
            exchange:
              url: https://localhost:9/PowerShell
              auth: basic
              username: admin@CONTOSO.COM
              password: {env: EXCH_TEST_PASSWORD}
              connect_timeout: 2
        """,
    )
    playbook = write(
        "one.yml",
        """
        - hosts: all
          tasks:
            - receive_connector: {well_known: default-frontend, enabled: true}
        """,
    )
    result = run(invoke, playbook, inventory, "--output", "json")
    assert result.exit_code == 4, result.output
    data = json.loads(result.stdout)
    assert data["stats"]["ex01"]["unreachable"] == 1
    assert "not-used" not in result.output


def test_missing_secret_is_invalid_input(invoke, write, monkeypatch):
    monkeypatch.delenv("EXCH_TEST_PASSWORD", raising=False)
    inventory = write(
        "inventory.yml",
        """
        hosts:
          ex01:
            exchange:
              auth: kerberos
              username: admin@contoso.com
              password: {env: EXCH_TEST_PASSWORD}
        """,
    )
    playbook = write(
        "one.yml",
        """
        - hosts: all
          tasks:
            - receive_connector: {well_known: default-frontend, enabled: true}
        """,
    )
    result = run(invoke, playbook, inventory)
    assert result.exit_code == 5
    assert "EXCH_TEST_PASSWORD is not set" in result.stderr


def test_limit_matching_nothing_names_the_option(invoke):
    result = run(invoke, PLAYBOOK, LAB_INVENTORY, "-l", "ex03")
    assert result.exit_code == 5
    assert "--limit 'ex03': host pattern 'ex03' matches no host or group" in result.stderr
