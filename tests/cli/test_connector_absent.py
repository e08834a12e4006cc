"""Keeping a connector absent: listed by server, removed with a journal, undo re-creates it."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAB_INVENTORY = ROOT / "inventory" / "lab.yml"
TARGET = "EX01\\Outbound Proxy Frontend EX01"


def run(invoke, playbook, *extra):
    result = invoke(
        "run",
        str(playbook),
        "-i",
        str(LAB_INVENTORY),
        "--lab-transport",
        "inprocess",
        "--output",
        "json",
        *extra,
    )
    return result, json.loads(result.stdout)


def test_absent_connector_removed_then_ok_then_undone(invoke, write):
    playbook = write(
        "absent.yml",
        f"""
        - hosts: all
          tasks:
            - receive_connector: {{identity: '{TARGET}', state: absent}}
        """,
    )
    first, data = run(invoke, playbook)
    assert first.exit_code == 0, first.output
    assert data["tasks"][0]["status"] == "changed"
    assert data["tasks"][0]["commands"] == [
        f"Remove-ReceiveConnector -Identity '{TARGET}' -Confirm:$false"
    ]
    journal = Path(data["journal"])

    second, data = run(invoke, playbook)
    assert second.exit_code == 0, second.output
    assert data["tasks"][0]["status"] == "ok"
    assert data["tasks"][0]["message"] == f"{TARGET} is already absent"

    undone = invoke("undo", str(journal), "-i", str(LAB_INVENTORY), "--lab-transport", "inprocess")
    assert undone.exit_code == 0, undone.output
    assert "2 restored, 0 failed" in undone.stdout

    check = write(
        "present.yml",
        f"""
        - hosts: all
          tasks:
            - receive_connector:
                identity: '{TARGET}'
                permission_groups: [ExchangeServers]
                remote_ip_ranges:
                  - '::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'
                  - '0.0.0.0-255.255.255.255'
                enabled: true
        """,
    )
    third, data = run(invoke, check)
    assert third.exit_code == 0, third.output
    assert data["tasks"][0]["status"] == "ok", data["tasks"][0]


def test_absent_takes_no_properties(invoke, write):
    playbook = write(
        "bad.yml",
        f"""
        - hosts: all
          tasks:
            - receive_connector: {{identity: '{TARGET}', state: absent, enabled: true}}
        """,
    )
    result = invoke("run", str(playbook), "-i", str(LAB_INVENTORY), "--lab-transport", "inprocess")
    assert result.exit_code == 5
    assert "state: absent takes none of" in result.stderr
