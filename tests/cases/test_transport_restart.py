"""Restarting transport: slow stops with warnings, a start that never finishes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from exchange_agent.cli import cli

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "src" / "exchange_agent" / "lab" / "seeds" / "default.yml"
PLAYBOOK = ROOT / "playbooks" / "authenticated-smtp-on-port-25.yml"


@pytest.fixture
def lab_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("EXCHANGE_AGENT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("EXCHANGE_AGENT_LAB_SPEED", "1000")

    def build(service_line: str) -> Path:
        seed = SEED.read_text(encoding="utf-8")
        original = (
            "    - {name: MSExchangeFrontEndTransport, display_name: Microsoft Exchange Frontend "
            "Transport,\n       stop_seconds: 10, start_seconds: 8}"
        )
        assert original in seed
        seed_file = tmp_path / "seed.yml"
        seed_file.write_text(seed.replace(original, service_line), encoding="utf-8")
        inventory = tmp_path / "inventory.yml"
        inventory.write_text(
            f"hosts:\n  ex01:\n    lab: {{seed: {seed_file}}}\n    windows: {{}}\n",
            encoding="utf-8",
        )
        return inventory

    return build


def run(inventory: Path):
    result = CliRunner().invoke(
        cli,
        [
            "run",
            str(PLAYBOOK),
            "-i",
            str(inventory),
            "--output",
            "json",
            "--lab-transport",
            "inprocess",
        ],
        catch_exceptions=False,
    )
    return result, json.loads(result.stdout)


def test_slow_stop_warnings_are_not_failures(lab_with):
    inventory = lab_with(
        "    - {name: MSExchangeFrontEndTransport, display_name: Microsoft Exchange Frontend "
        "Transport,\n       stop_seconds: 95, start_seconds: 12}"
    )
    result, data = run(inventory)
    assert result.exit_code == 0, result.output
    handler = data["tasks"][1]
    assert handler["status"] == "changed"
    stops = [w for w in handler["warnings"] if "to stop..." in w]
    starts = [w for w in handler["warnings"] if "to start..." in w]
    # PowerShell warns after each 2 s wait that ends with the service still pending.
    assert len(stops) == 47
    assert len(starts) == 5


def test_start_that_never_finishes_fails_without_retry(lab_with):
    inventory = lab_with(
        "    - {name: MSExchangeFrontEndTransport, display_name: Microsoft Exchange Frontend "
        "Transport,\n       stop_seconds: 4, start_seconds: 4, hang: true}"
    )
    result, data = run(inventory)
    assert result.exit_code == 2, result.output
    handler = data["tasks"][1]
    assert handler["status"] == "failed"
    assert "MSExchangeFrontEndTransport is StartPending" in handler["message"]
    assert "not retried" in handler["message"]
    assert data["tasks"][0]["status"] == "changed"


def test_handler_skipped_by_failure_runs_next_time(lab_with, tmp_path: Path):
    inventory = lab_with(
        "    - {name: MSExchangeFrontEndTransport, display_name: Microsoft Exchange Frontend "
        "Transport,\n       stop_seconds: 4, start_seconds: 4, hang: true}"
    )
    first, _ = run(inventory)
    assert first.exit_code == 2

    # The administrator repairs the service; the connector is already correct now.
    state_file = tmp_path / "state" / "lab-state.json"
    state = json.loads(state_file.read_text(encoding="utf-8"))
    for service in state["organization"]["services"]["EX01"]:
        if service["name"] == "MSExchangeFrontEndTransport":
            service["hang"] = False
            service["status"] = "Running"
    state_file.write_text(json.dumps(state), encoding="utf-8")

    second, data = run(inventory)
    assert second.exit_code == 0, second.output
    assert [task["status"] for task in data["tasks"]] == ["ok", "changed"]
    assert data["tasks"][1]["handler"] is True
    assert any("pending handler" in warning for warning in data["warnings"])

    third, data = run(inventory)
    assert third.exit_code == 0
    assert [task["status"] for task in data["tasks"]] == ["ok"]
