"""Domain removal with the connection broken at each request: journal complete, rerun converges.

The organization is generated (all recipient types, look-alike domains) and served by the lab's
WinRM server. Each fault point drops one request of the first run. Afterwards no shell is left
open and the journal contains an entry for every recipient whose addresses changed. A clean rerun
then ends with no recipient carrying the domain, and a third run changes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from exchange_agent.cli import cli
from exchange_agent.lab.clock import Clock
from exchange_agent.lab.engine import LabEngine
from exchange_agent.lab.generate import generate_organization
from exchange_agent.lab.server import LabServer

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = ROOT / "playbooks" / "remove-email-domain.yml"
PASSWORD = "fault-suite-pw"
DOMAIN = "fabrikam.com"


def addresses(engine: LabEngine) -> dict[str, list[str]]:
    return {str(r.guid): list(r.email_addresses) for r in engine.org.recipients}


def carrying(engine: LabEngine) -> int:
    return sum(
        any(
            a.lower().endswith("@" + DOMAIN) and a.lower().startswith("smtp:")
            for a in r.email_addresses
        )
        for r in engine.org.recipients
    )


def write_inventory(tmp_path: Path, server: LabServer) -> Path:
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(
        "hosts:\n  ex01:\n    server: EX01\n    exchange:\n"
        f"      url: {server.exchange_url}\n"
        "      auth: basic\n      allow_unencrypted_basic: true\n      encryption: never\n"
        "      username: svc\n      password: {env: FAULT_PASSWORD}\n"
        "      operation_timeout: 2\n      read_timeout: 5\n      connect_timeout: 2\n",
        encoding="utf-8",
    )
    return inventory


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def new_engine() -> LabEngine:
    org = generate_organization(seed=7, recipients=120, affected=0.3)
    return LabEngine(org, clock=Clock(speed=2000))


def test_drop_at_every_request(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FAULT_PASSWORD", PASSWORD)
    monkeypatch.setenv("EXCHANGE_AGENT_STATE_DIR", str(tmp_path / "state"))
    engine = new_engine()
    with LabServer(engine, users={"svc": PASSWORD}) as server:
        clean = run("run", str(PLAYBOOK), "-i", str(write_inventory(tmp_path, server)))
        assert clean.exit_code == 0, clean.output
        total = server.knobs.counters()["requests"]
    assert carrying(engine) == 0

    problems: list[str] = []
    interrupted_mid_write = 0
    for point in range(total):
        engine = new_engine()
        original = addresses(engine)
        with LabServer(engine, users={"svc": PASSWORD}) as server:
            inventory = write_inventory(tmp_path, server)
            server.knobs.drop_next(skip=point)
            first = run("run", str(PLAYBOOK), "-i", str(inventory), "--output", "json")
            report = json.loads(first.stdout)
            if first.exit_code not in (0, 2, 4) or "Traceback" in first.output:
                problems.append(f"drop@{point}: exit {first.exit_code}")
            if server.open_shells():
                problems.append(f"drop@{point}: {server.open_shells()} shell(s) left open")
            changed = {g for g, a in addresses(engine).items() if a != original[g]}
            journaled: set[str] = set()
            if report.get("journal"):
                for line in Path(report["journal"]).read_text().splitlines():
                    journaled.add(json.loads(line)["target"])
            if changed and carrying(engine):
                interrupted_mid_write += 1
            missing = {g for g in changed if not any(g in t for t in journaled)}
            if missing:
                problems.append(f"drop@{point}: {len(missing)} changed recipient(s) not journaled")

            server.knobs.reset()
            second = run("run", str(PLAYBOOK), "-i", str(inventory))
            if second.exit_code != 0 or carrying(engine):
                problems.append(
                    f"drop@{point}: rerun exit {second.exit_code}, "
                    f"{carrying(engine)} still carry the domain"
                )
            third = json.loads(
                run("run", str(PLAYBOOK), "-i", str(inventory), "--output", "json").stdout
            )
            if third["stats"]["ex01"]["changed"]:
                problems.append(f"drop@{point}: third run changed something")
    print(f"domain removal: tried {total} fault points, {interrupted_mid_write} mid-write")
    assert total >= 5
    assert interrupted_mid_write >= 1
    assert problems == []
