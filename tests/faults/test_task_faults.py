"""Faults at every request of the relay, Autodiscover and audit playbooks: undo restores all.

The main job and domain removal have their own suites. Here each request of a shipped playbook
is broken once (a dropped connection, HTTP 500 or 503, a WS-Management fault). After each
broken run the server has no shell left open, and if any write reached the lab, the run's
journal exists and ``undo`` brings the whole organization back to what it was before. A
read-only playbook must leave the organization untouched. A clean rerun then succeeds, and a
third run changes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from test_main_job_faults import FAULTS, PASSWORD, first_run_problems, write_inventory

from exchange_agent.cli import cli
from exchange_agent.lab.clock import Clock
from exchange_agent.lab.cmdlets.clientaccess import client_access_state
from exchange_agent.lab.engine import LabEngine
from exchange_agent.lab.org import to_dict
from exchange_agent.lab.server import LabServer
from exchange_agent.lab.state import open_lab

ROOT = Path(__file__).resolve().parents[2]

# Autodiscover sends 59 requests, so it gets the fault that leaves a write most uncertain. The
# relay audit only reads: it must leave the lab as it was, fault or not.
CASES = [
    ("anonymous-relay.yml", "drop"),
    ("anonymous-relay.yml", "http500"),
    ("anonymous-relay.yml", "http503"),
    ("anonymous-relay.yml", "wsman_fault"),
    ("autodiscover.yml", "drop"),
    ("audit-relay.yml", "drop"),
    ("audit-relay.yml", "http500"),
]
READ_ONLY = {"audit-relay.yml"}


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--output", "json"], catch_exceptions=False)


def snapshot(engine: LabEngine) -> Any:
    """Return the whole organization as plain JSON values, to compare before and after."""
    # The lab fills in setup's client access defaults on first use; fill them in now, so that
    # a read does not count as a change.
    client_access_state(engine.org)
    return json.loads(json.dumps(to_dict(engine.org), default=str))


def count_requests(tmp_path: Path, playbook: Path) -> int:
    tmp_path.mkdir(parents=True, exist_ok=True)
    engine = LabEngine(open_lab(), clock=Clock(speed=2000))
    with LabServer(engine, users={"svc": PASSWORD}) as server:
        result = run("run", str(playbook), "-i", str(write_inventory(tmp_path, server)))
        assert result.exit_code == 0, result.output
        return server.knobs.counters()["requests"]


@pytest.mark.parametrize(("name", "fault"), CASES)
def test_every_request_can_fail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, fault: str
) -> None:
    monkeypatch.setenv("FAULT_PASSWORD", PASSWORD)
    monkeypatch.setenv("EXCHANGE_AGENT_STATE_DIR", str(tmp_path / "state"))
    playbook = ROOT / "playbooks" / name
    total = count_requests(tmp_path / "count", playbook)
    problems: list[str] = []
    tried = 0
    undone = 0
    for point in range(total):
        engine = LabEngine(open_lab(), clock=Clock(speed=2000))
        before = snapshot(engine)
        with LabServer(engine, users={"svc": PASSWORD}) as server:
            inventory = str(write_inventory(tmp_path, server))
            FAULTS[fault](server.knobs, point)
            first = run("run", str(playbook), "-i", inventory)
            tried += 1
            where = f"{name} {fault}@{point}"
            problems += first_run_problems(where, first, server)
            server.knobs.reset()

            journal = json.loads(first.stdout).get("journal") if first.stdout else None
            if snapshot(engine) != before:
                if name in READ_ONLY:
                    problems.append(f"{where}: a read-only playbook changed the lab")
                elif not journal:
                    problems.append(f"{where}: the lab changed but the run has no journal")
                else:
                    undo = run("undo", journal, "-i", inventory)
                    undone += 1
                    if undo.exit_code != 0:
                        problems.append(f"{where}: undo exit {undo.exit_code}")
                    elif snapshot(engine) != before:
                        problems.append(f"{where}: undo did not restore the organization")

            second = run("run", str(playbook), "-i", inventory)
            if second.exit_code != 0:
                problems.append(f"{where}: rerun exit {second.exit_code}")
            third = json.loads(run("run", str(playbook), "-i", inventory).stdout)
            if third["stats"]["ex01"]["changed"] != 0:
                problems.append(f"{where}: third run still changed something")
    print(f"{name} {fault}: tried {tried} fault points, undid {undone} runs")
    assert tried == total
    assert tried >= 10
    if name not in READ_ONLY:
        # Most fault points leave a change behind, so undo is exercised, not skipped.
        assert undone > tried // 2
    assert problems == []
