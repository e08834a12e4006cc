"""Pointing the Exchange endpoint at the WinRM listener fails clearly, through real pypsrp."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from exchange_agent.cli import cli
from exchange_agent.lab.engine import LabEngine
from exchange_agent.lab.server import LabServer
from exchange_agent.lab.state import open_lab

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = ROOT / "playbooks" / "authenticated-smtp-on-port-25.yml"
PASSWORD = "lab-secret-9f2"


@pytest.fixture
def server():
    with LabServer(LabEngine(open_lab()), users={"svc-exch": PASSWORD}) as lab:
        yield lab


def run(tmp_path: Path, monkeypatch, url: str, password: str = PASSWORD):
    monkeypatch.setenv("EXCHANGE_AGENT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("EXCH_PASSWORD", password)
    inventory = tmp_path / "prod.yml"
    inventory.write_text(
        "hosts:\n"
        "  ex01:\n"
        "    server: EX01\n"
        "    exchange:\n"
        f"      url: {url}\n"
        "      auth: basic\n"
        "      allow_unencrypted_basic: true\n"
        "      encryption: never\n"
        "      username: svc-exch\n"
        "      password: {env: EXCH_PASSWORD}\n",
        encoding="utf-8",
    )
    playbook = tmp_path / "one.yml"
    playbook.write_text(
        "- hosts: all\n  tasks:\n"
        "    - receive_connector: {well_known: default-frontend, enabled: true}\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        cli,
        ["run", str(playbook), "-i", str(inventory), "--output", "json"],
        catch_exceptions=False,
    )
    return result, json.loads(result.stdout) if result.stdout.startswith("{") else None


def test_exchange_configuration_on_wsman_is_unreachable(server, tmp_path, monkeypatch):
    url = server.windows_url
    result, data = run(tmp_path, monkeypatch, url)
    assert result.exit_code == 4, result.output
    task = data["tasks"][0]
    assert task["status"] == "unreachable"
    assert "2150858811" in task["message"]
    assert "/PowerShell" in task["message"]
    assert any("looks like the Windows endpoint" in w for w in data["warnings"])
    assert PASSWORD not in result.output


def test_real_exchange_endpoint_works(server, tmp_path, monkeypatch):
    result, data = run(tmp_path, monkeypatch, server.exchange_url)
    assert result.exit_code == 0, result.output
    assert data["tasks"][0]["status"] == "ok"


def test_wrong_password_is_unreachable(server, tmp_path, monkeypatch):
    url = server.exchange_url
    result, data = run(tmp_path, monkeypatch, url, password="wrong")
    assert result.exit_code == 4, result.output
    assert "401" in data["tasks"][0]["message"]
