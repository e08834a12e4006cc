"""Faults injected at every request of the main job: nothing lost, nothing leaked, reruns converge.

For each fault point the lab server breaks one request: a dropped connection, HTTP 500 or 503,
a WS-Management fault, or the throttling fault. The run must end with a clear status and no
traceback, and the server must have no shell left open. A clean rerun must then converge to
the desired state, after which a third run changes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from exchange_agent.cli import cli
from exchange_agent.lab.clock import Clock
from exchange_agent.lab.engine import LabEngine
from exchange_agent.lab.server import LabServer
from exchange_agent.lab.state import open_lab
from exchange_agent.remote.command import Command
from exchange_agent.remote.inprocess import InProcessSession

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = ROOT / "playbooks" / "authenticated-smtp-on-port-25.yml"
PASSWORD = "fault-suite-pw"
EXPECTED_GROUPS = {"AnonymousUsers", "ExchangeServers", "ExchangeLegacyServers", "ExchangeUsers"}


def write_inventory(tmp_path: Path, server: LabServer) -> Path:
    inventory = tmp_path / "inventory.yml"
    endpoint = (
        "      auth: basic\n      allow_unencrypted_basic: true\n      encryption: never\n"
        "      username: svc\n      password: {env: FAULT_PASSWORD}\n"
        "      operation_timeout: 2\n      read_timeout: 5\n      connect_timeout: 2\n"
    )
    inventory.write_text(
        "hosts:\n  ex01:\n    server: EX01\n"
        f"    exchange:\n      url: {server.exchange_url}\n{endpoint}"
        f"    windows:\n      url: {server.windows_url}\n{endpoint}",
        encoding="utf-8",
    )
    return inventory


def run(inventory: Path):
    return CliRunner().invoke(
        cli,
        ["run", str(PLAYBOOK), "-i", str(inventory), "--output", "json"],
        catch_exceptions=False,
    )


def groups(engine: LabEngine) -> set[str]:
    session = InProcessSession("ex01", engine)
    result = session.invoke(
        Command("Get-ReceiveConnector", {"Identity": "EX01\\Default Frontend EX01"})
    )
    return {name.strip() for name in str(result.output[0]["PermissionGroups"]).split(",")}


def count_requests(tmp_path: Path, action: str = "requests") -> int:
    tmp_path.mkdir(parents=True, exist_ok=True)
    engine = LabEngine(open_lab(), clock=Clock(speed=2000))
    with LabServer(engine, users={"svc": PASSWORD}) as server:
        result = run(write_inventory(tmp_path, server))
        assert result.exit_code == 0, result.output
        return server.knobs.counters()[action]


def first_run_problems(where: str, first: Result, server: LabServer) -> list[str]:
    """Return what is wrong with a run that met a fault: its status, output and open shells."""
    problems = []
    if first.exit_code not in (0, 2, 4):
        problems.append(f"{where}: exit {first.exit_code}: {first.output[-300:]}")
    if "Traceback" in first.output:
        problems.append(f"{where}: traceback in output")
    if server.open_shells() != 0:
        problems.append(f"{where}: {server.open_shells()} shell(s) left open")
    return problems


FAULTS = {
    "drop": lambda knobs, skip: knobs.drop_next(skip=skip),
    "http500": lambda knobs, skip: _after(knobs, skip, lambda: knobs.status_next(500)),
    "http503": lambda knobs, skip: _after(knobs, skip, lambda: knobs.status_next(503)),
    "wsman_fault": lambda knobs, skip: _after(
        knobs,
        skip,
        lambda: knobs.fault_next(
            2150858752, "The WS-Management service cannot process the request."
        ),
    ),
    # Only shell creations are throttled; skip counts Create requests alone.
    "throttled": lambda knobs, skip: _after(knobs, skip, knobs.throttle_next),
}


def _after(knobs, skip: int, inject) -> None:
    # Only drop_next takes a skip argument; the others get it set on the queued injection.
    inject()
    knobs._injections[-1].skip = skip


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_every_request_can_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str):
    monkeypatch.setenv("FAULT_PASSWORD", PASSWORD)
    monkeypatch.setenv("EXCHANGE_AGENT_STATE_DIR", str(tmp_path / "state"))
    total = count_requests(tmp_path / "count", "Create" if fault == "throttled" else "requests")
    problems: list[str] = []
    tried = 0
    for point in range(total):
        engine = LabEngine(open_lab(), clock=Clock(speed=2000))
        with LabServer(engine, users={"svc": PASSWORD}) as server:
            inventory = write_inventory(tmp_path, server)
            FAULTS[fault](server.knobs, point)
            first = run(inventory)
            tried += 1
            problems += first_run_problems(f"{fault}@{point}", first, server)
            server.knobs.reset()
            second = run(inventory)
            if second.exit_code != 0:
                problems.append(f"{fault}@{point}: rerun exit {second.exit_code}")
            if groups(engine) != EXPECTED_GROUPS:
                problems.append(f"{fault}@{point}: groups {sorted(groups(engine))}")
            third = json.loads(run(inventory).stdout)
            if third["stats"]["ex01"]["changed"] != 0:
                problems.append(f"{fault}@{point}: third run still changed something")
    print(f"{fault}: tried {tried} fault points")
    assert tried == total
    assert tried >= (2 if fault == "throttled" else 10)
    assert problems == []
