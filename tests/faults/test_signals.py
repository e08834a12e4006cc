"""Ctrl-C (SIGINT) and SIGTERM sent to a running ``exchange-agent run`` process.

The lab server runs in the test process, so the test can watch the organization and count the
shells still open after the agent's process is gone.

- Main job: the signal arrives while the transport service restarts, after the connector
  change. The run ends with exit 130 and the report of what it did, with every shell closed
  and the restart kept as a pending handler. The next run finishes the restart and reports the
  connector ``ok``.
- Domain removal: the signal arrives between write batches. Every recipient changed on the
  server is in the journal, ``undo`` puts back every address and the accepted domain, and a
  rerun removes the domain everywhere.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import test_domain_removal_faults as removal
from test_main_job_faults import EXPECTED_GROUPS, PASSWORD, PLAYBOOK, groups, write_inventory

from exchange_agent.lab.clock import Clock
from exchange_agent.lab.engine import LabEngine
from exchange_agent.lab.generate import generate_organization
from exchange_agent.lab.server import LabServer
from exchange_agent.lab.state import open_lab

SERVICE = "MSExchangeFrontEndTransport"


def frontend_transport(engine: LabEngine):
    return next(s for s in engine.org.services["EX01"] if s.name == SERVICE)


def agent(inventory: Path, state: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exchange_agent",
            "run",
            str(PLAYBOOK),
            "-i",
            str(inventory),
            "--output",
            "json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "EXCHANGE_AGENT_STATE_DIR": str(state), "FAULT_PASSWORD": PASSWORD},
    )


def wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the agent")
        time.sleep(0.02)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_signal_mid_restart_keeps_handler(tmp_path, signum):
    # A stop that takes 3 s of real time: the signal lands while Restart-Service waits.
    engine = LabEngine(open_lab(), clock=Clock(speed=1))
    service = frontend_transport(engine)
    service.stop_seconds, service.start_seconds = 3.0, 0.5
    with LabServer(engine, users={"svc": PASSWORD}) as server:
        inventory = write_inventory(tmp_path, server)
        state = tmp_path / "state"
        process = agent(inventory, state)
        try:
            wait_for(lambda: frontend_transport(engine).status == "StopPending")
            process.send_signal(signum)
            stdout, stderr = process.communicate(timeout=30)
            # The agent did not wait for the restart to finish. Reading the connector now would
            # wait for it, because the lab locks the organization during Restart-Service.
            assert service.status == "StopPending"
        finally:
            process.kill()
            process.wait()

        assert process.returncode == 130, stderr
        assert groups(engine) == EXPECTED_GROUPS
        assert "Traceback" not in stderr
        report = json.loads(stdout)
        assert report["interrupted"] is True
        records = {task["task"]: task for task in report["tasks"]}
        assert any(task["status"] == "changed" for task in records.values())
        wait_for(lambda: server.open_shells() == 0, timeout=10)

        # The restart did not finish: the next run must do it, and find the connector done.
        service.stop_seconds = 0.5
        rerun = agent(inventory, state)
        stdout, stderr = rerun.communicate(timeout=60)
        assert rerun.returncode == 0, stderr
        report = json.loads(stdout)
        statuses = [(task["handler"], task["status"]) for task in report["tasks"]]
        assert statuses == [(False, "ok"), (True, "changed")]
        assert any("pending handler" in warning for warning in report["warnings"])
        assert frontend_transport(engine).status == "Running"
        assert server.open_shells() == 0


def test_sigint_mid_domain_removal_undoable(tmp_path, monkeypatch):
    monkeypatch.setenv("FAULT_PASSWORD", PASSWORD)
    state = tmp_path / "state"
    monkeypatch.setenv("EXCHANGE_AGENT_STATE_DIR", str(state))
    org = generate_organization(seed=11, recipients=300, affected=0.4)
    engine = LabEngine(org, clock=Clock(speed=2000))
    original = removal.addresses(engine)
    domains = {d.domain_name for d in engine.org.accepted_domains}
    with LabServer(engine, users={"svc": PASSWORD}) as server:
        server.knobs.latency = 0.05
        inventory = removal.write_inventory(tmp_path, server)
        # Small batches on one runspace, so that writes are still queued when the signal lands.
        playbook = tmp_path / "remove.yml"
        playbook.write_text(
            removal.PLAYBOOK.read_text(encoding="utf-8").replace(
                "        update_policies: false\n",
                "        update_policies: false\n        batch_size: 10\n"
                "        parallel_runspaces: 1\n",
            ),
            encoding="utf-8",
        )
        assert "batch_size: 10" in playbook.read_text(encoding="utf-8")
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "exchange_agent",
                "run",
                str(playbook),
                "-i",
                str(inventory),
                "--output",
                "json",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "EXCHANGE_AGENT_STATE_DIR": str(state)},
        )
        try:
            wait_for(lambda: changed_recipients(engine, original) >= 10, timeout=60)
            process.send_signal(signal.SIGINT)
            stdout, stderr = process.communicate(timeout=30)
        finally:
            process.kill()
            process.wait()
        assert process.returncode == 130, stderr
        report = json.loads(stdout)
        assert report["interrupted"] is True
        wait_for(lambda: server.open_shells() == 0, timeout=10)
        server.knobs.latency = 0.0

        # Every recipient changed on the server is in the journal.
        changed = {g for g, a in removal.addresses(engine).items() if a != original[g]}
        assert len(changed) >= 10
        # The signal landed mid-removal: some recipients still carry the domain.
        assert removal.carrying(engine) > 0
        journal = Path(report["journal"])
        targets = [json.loads(line)["target"] for line in journal.read_text().splitlines()]
        assert all(any(guid in target for target in targets) for guid in changed)

        undo = removal.run("undo", str(journal), "-i", str(inventory))
        assert undo.exit_code == 0, undo.output
        assert removal.addresses(engine) == original
        assert {d.domain_name for d in engine.org.accepted_domains} == domains

        rerun = removal.run("run", str(removal.PLAYBOOK), "-i", str(inventory))
        assert rerun.exit_code == 0, rerun.output
        assert removal.carrying(engine) == 0


def changed_recipients(engine: LabEngine, original: dict[str, list[str]]) -> int:
    return sum(
        1 for r in list(engine.org.recipients) if list(r.email_addresses) != original[str(r.guid)]
    )
