"""The main job end to end: authenticated SMTP on port 25 against the embedded lab."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = ROOT / "playbooks" / "authenticated-smtp-on-port-25.yml"
LAB_INVENTORY = ROOT / "inventory" / "lab.yml"

TRANSPORTS = ["inprocess", "wsman"]


def report(result):
    return json.loads(result.stdout)


def run_json(invoke, *extra: str, transport: str = "inprocess"):
    return invoke(
        "run",
        str(PLAYBOOK),
        "-i",
        str(LAB_INVENTORY),
        "--output",
        "json",
        "--lab-transport",
        transport,
        *extra,
    )


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_first_run_changes_second_converges(invoke, transport):
    first = run_json(invoke, transport=transport)
    assert first.exit_code == 0, first.output
    data = report(first)
    assert data["stats"]["ex01"]["changed"] == 2
    assert data["stats"]["ex01"]["failed"] == 0
    task, handler = data["tasks"]
    assert task["action"] == "receive_connector"
    assert task["changes"][0]["property"] == "PermissionGroups"
    assert "ExchangeUsers" in task["changes"][0]["after"]
    assert set(task["changes"][0]["before"]) <= set(task["changes"][0]["after"])
    assert handler["handler"] is True
    assert handler["action"] == "service"
    assert handler["status"] == "changed"

    second = run_json(invoke, transport=transport)
    assert second.exit_code == 0, second.output
    data = report(second)
    assert data["stats"]["ex01"] == {
        "ok": 1,
        "changed": 0,
        "failed": 0,
        "skipped": 0,
        "unreachable": 0,
    }
    assert [task["handler"] for task in data["tasks"]] == [False]


def test_existing_groups_are_kept(invoke):
    result = run_json(invoke)
    change = report(result)["tasks"][0]["changes"][0]
    assert set(change["after"]) == {
        "AnonymousUsers",
        "ExchangeServers",
        "ExchangeLegacyServers",
        "ExchangeUsers",
    }


def test_check_mode_predicts_first_run_and_writes_nothing(invoke):
    check = run_json(invoke, "--check")
    assert check.exit_code == 0, check.output
    predicted = report(check)
    assert predicted["check_mode"] is True
    assert predicted["stats"]["ex01"]["changed"] == 2

    again = run_json(invoke, "--check")
    assert report(again)["stats"]["ex01"]["changed"] == 2

    real = run_json(invoke)
    applied = report(real)
    assert [t["commands"] for t in applied["tasks"]] == [t["commands"] for t in predicted["tasks"]]
    assert applied["tasks"][0]["changes"] == predicted["tasks"][0]["changes"]


def test_detailed_exitcode_reports_drift(invoke):
    drift = run_json(invoke, "--check", "--detailed-exitcode")
    assert drift.exit_code == 2
    assert run_json(invoke).exit_code == 0
    clean = run_json(invoke, "--check", "--detailed-exitcode")
    assert clean.exit_code == 0


def test_diff_text_shows_before_and_after(invoke):
    result = invoke(
        "run", str(PLAYBOOK), "-i", str(LAB_INVENTORY), "--diff", "--lab-transport", "inprocess"
    )
    assert result.exit_code == 0, result.output
    assert "PermissionGroups" in result.stdout
    assert "- AnonymousUsers, ExchangeServers, ExchangeLegacyServers" in result.stdout
    assert "+ AnonymousUsers, ExchangeUsers, ExchangeServers, ExchangeLegacyServers" in (
        result.stdout
    )


def test_diff_text_shows_missing_values_as_none(invoke, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # No certificate request exists yet: the value was absent, which is not an empty list.
    playbook = ROOT / "playbooks" / "certificate-request.yml"
    result = invoke(
        "run", str(playbook), "-i", str(LAB_INVENTORY), "-C", "-D", "--lab-transport", "inprocess"
    )
    assert result.exit_code == 0, result.output
    assert "- (none)" in result.stdout
    assert "- None" not in result.stdout


def test_restart_warnings_reach_the_report(invoke):
    data = report(run_json(invoke))
    warnings = data["tasks"][1]["warnings"]
    assert any("Waiting for service" in warning for warning in warnings)
    assert data["tasks"][1]["status"] == "changed"


def test_journal_records_previous_groups_and_undo_restores(invoke, state_dir: Path):
    data = report(run_json(invoke))
    journal = Path(data["journal"])
    entry = json.loads(journal.read_text().splitlines()[0])
    assert entry["target"] == "EX01\\Default Frontend EX01"
    assert "ExchangeUsers" not in entry["before"]["PermissionGroups"]

    undone = invoke("undo", str(journal), "-i", str(LAB_INVENTORY), "--lab-transport", "inprocess")
    assert undone.exit_code == 0, undone.output
    assert "1 restored, 0 failed" in undone.stdout
    assert "restart the transport service" in undone.stderr
    assert "MSExchangeFrontEndTransport" in undone.stderr

    rerun = report(run_json(invoke, "--check"))
    assert rerun["stats"]["ex01"]["changed"] == 2
    twice = invoke(
        "undo",
        str(journal),
        "-i",
        str(LAB_INVENTORY),
        "--lab-transport",
        "inprocess",
        "--output",
        "json",
    )
    assert twice.exit_code == 0, twice.output
    # The settings are already back, and Exchange's warning saying so is in the report.
    warnings = json.loads(twice.stdout)["warnings"]
    assert any("no settings" in warning for warning in warnings), warnings


def test_state_dir_holds_lab_state(invoke, state_dir: Path):
    run_json(invoke)
    assert (state_dir / "lab-state.json").is_file()


def test_options_from_environment(invoke, monkeypatch):
    monkeypatch.setenv("EXCHANGE_AGENT_INVENTORY", str(LAB_INVENTORY))
    monkeypatch.setenv("EXCHANGE_AGENT_CHECK", "1")
    monkeypatch.setenv("EXCHANGE_AGENT_OUTPUT", "json")
    monkeypatch.setenv("EXCHANGE_AGENT_LAB_TRANSPORT", "inprocess")
    result = invoke("run", str(PLAYBOOK))
    assert result.exit_code == 0, result.output
    assert report(result)["check_mode"] is True


def test_undo_check_counts_statements(invoke):
    data = report(run_json(invoke))
    result = invoke(
        "undo", data["journal"], "-i", str(LAB_INVENTORY), "--check", "--lab-transport", "inprocess"
    )
    assert result.exit_code == 0, result.output
    assert "would run on ex01 receive_connector" in result.stdout
    assert "undo: 1 statement(s) would be sent (check mode: nothing sent)" in result.stdout
    assert "undo would restore receive connector settings on ex01" in result.stderr


def test_text_report_gives_copyable_undo_command(invoke):
    result = invoke("run", str(PLAYBOOK), "-i", str(LAB_INVENTORY), "--lab-transport", "inprocess")
    assert f"-i {LAB_INVENTORY}" in result.stdout
    assert "undo with: exchange-agent undo " in result.stdout
