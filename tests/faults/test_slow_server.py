"""A hung Receive and a shell that expires between tasks, met by a real run of the agent.

The lab server delays one Receive by three times the operation timeout the client requested, at
each Receive of the main job in turn. The run must end with a clear status, leave no shell open,
and a rerun must converge. In a second case the Exchange shell expires while the transport
service restarts, and the next task must still run on a new shell.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from test_main_job_faults import EXPECTED_GROUPS, PASSWORD, PLAYBOOK, groups, write_inventory

from exchange_agent.cli import cli
from exchange_agent.lab.clock import Clock
from exchange_agent.lab.engine import LabEngine
from exchange_agent.lab.server import LabServer
from exchange_agent.lab.state import open_lab

# The inventory of these tests requests a 1 second operation timeout. The read timeout cannot go
# below the operation timeout plus 10 s, so a delayed Receive gets a late response, not a timeout.
HOLD = 3.0


def quick_inventory(tmp_path: Path, server: LabServer) -> Path:
    """Write write_inventory's inventory with shorter timeouts, a stalled command's included."""
    inventory = write_inventory(tmp_path, server)
    text = inventory.read_text(encoding="utf-8")
    text = text.replace("operation_timeout: 2", "operation_timeout: 1")
    text = text.replace("read_timeout: 5", "read_timeout: 2\n      stall_timeout: 5")
    inventory.write_text(text, encoding="utf-8")
    return inventory


def run(playbook: Path, inventory: Path) -> Result:
    return CliRunner().invoke(
        cli,
        ["run", str(playbook), "-i", str(inventory), "--output", "json"],
        catch_exceptions=False,
    )


def count_receives(tmp_path: Path) -> int:
    tmp_path.mkdir(parents=True, exist_ok=True)
    engine = LabEngine(open_lab(), clock=Clock(speed=2000))
    with LabServer(engine, users={"svc": PASSWORD}) as server:
        result = run(PLAYBOOK, write_inventory(tmp_path, server))
        assert result.exit_code == 0, result.output
        return server.knobs.counters()["Receive"]


def test_hung_receive_at_each_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAULT_PASSWORD", PASSWORD)
    monkeypatch.setenv("EXCHANGE_AGENT_STATE_DIR", str(tmp_path / "state"))
    total = count_receives(tmp_path / "count")
    problems: list[str] = []
    for point in range(total):
        engine = LabEngine(open_lab(), clock=Clock(speed=2000))
        with LabServer(engine, users={"svc": PASSWORD}) as server:
            inventory = quick_inventory(tmp_path, server)
            server.knobs.hang_next(HOLD)
            server.knobs._injections[-1].skip = point
            first = run(PLAYBOOK, inventory)
            if first.exit_code not in (0, 2, 4):
                problems.append(f"hang@{point}: exit {first.exit_code}: {first.output[-300:]}")
            if "Traceback" in first.output:
                problems.append(f"hang@{point}: traceback in output")
            server.knobs.reset()
            second = run(PLAYBOOK, inventory)
            if second.exit_code != 0:
                problems.append(f"hang@{point}: rerun exit {second.exit_code}")
            if groups(engine) != EXPECTED_GROUPS:
                problems.append(f"hang@{point}: groups {sorted(groups(engine))}")
            # The delayed Receive gets its response after HOLD seconds, and its shell then closes.
            if server.open_shells() != 0:
                problems.append(f"hang@{point}: {server.open_shells()} shell(s) left open")
    print(f"hung Receive: tried {total} fault points")
    assert total >= 5
    assert problems == []


TWO_TASKS = """\
- hosts: all
  tasks:
    - name: Frontend connector allows authenticated SMTP
      receive_connector:
        well_known: default-frontend
        permission_groups: {add: [ExchangeUsers]}
    - name: Restart frontend transport
      service: {name: MSExchangeFrontEndTransport, state: restarted, timeout: 300}
    - name: Frontend connector still allows it after the restart
      receive_connector:
        well_known: default-frontend
        permission_groups: {add: [ExchangeUsers]}
"""


def test_shell_expires_between_tasks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAULT_PASSWORD", PASSWORD)
    monkeypatch.setenv("EXCHANGE_AGENT_STATE_DIR", str(tmp_path / "state"))
    playbook = tmp_path / "two-tasks.yml"
    playbook.write_text(TWO_TASKS, encoding="utf-8")
    # At 20 simulated seconds per second, the restart takes longer than the idle timeout.
    engine = LabEngine(open_lab(), clock=Clock(speed=20))
    with LabServer(engine, users={"svc": PASSWORD}, idle_timeout=0.5) as server:
        result = run(playbook, write_inventory(tmp_path, server))
        report = json.loads(result.stdout)
        assert result.exit_code == 0, result.output
        statuses = [task["status"] for task in report["tasks"]]
        assert statuses == ["changed", "changed", "ok"]
        # The Exchange shell of the first task expired, and the third task made a new one.
        assert server.knobs.counters()["Create"] >= 3
        assert server.open_shells() == 0
    assert groups(engine) == EXPECTED_GROUPS
