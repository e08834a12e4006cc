"""``exchange-agent lab serve``: prints its endpoints, stops on SIGTERM and saves its state."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def test_serve_prints_endpoints_and_saves_on_sigterm(tmp_path: Path):
    environment = {**os.environ, "EXCHANGE_AGENT_STATE_DIR": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "exchange_agent", "lab", "serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )
    try:
        first = process.stdout.readline()
        assert first.startswith("Exchange endpoint: http://127.0.0.1:")
        assert first.rstrip().endswith("/PowerShell (configuration Microsoft.Exchange)")
        time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
    assert (tmp_path / "lab-state.json").is_file()


def test_kerberos_needs_a_keytab(tmp_path: Path):
    result = subprocess.run(
        [sys.executable, "-m", "exchange_agent", "lab", "serve", "--auth", "kerberos"],
        capture_output=True,
        text=True,
        env={**os.environ, "EXCHANGE_AGENT_STATE_DIR": str(tmp_path)},
        timeout=60,
        check=False,
    )
    assert result.returncode == 5
    assert "--auth kerberos needs --keytab" in result.stderr


def test_state_in_use_by_serve_is_refused(tmp_path: Path, invoke, monkeypatch):
    # Serve saves the state when it stops, which would overwrite a run's or a second serve's
    # changes. So while serve has the state loaded, both are rejected.
    monkeypatch.setenv("EXCHANGE_AGENT_STATE_DIR", str(tmp_path))
    root = Path(__file__).resolve().parents[2]
    playbook = str(root / "playbooks" / "anonymous-relay.yml")
    inventory = str(root / "inventory" / "lab.yml")
    process = subprocess.Popen(
        [sys.executable, "-m", "exchange_agent", "lab", "serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "EXCHANGE_AGENT_STATE_DIR": str(tmp_path)},
    )
    try:
        assert process.stdout.readline().startswith("Exchange endpoint:")
        run = invoke("run", playbook, "-i", inventory, "--lab-transport", "inprocess")
        second = subprocess.run(
            [sys.executable, "-m", "exchange_agent", "lab", "serve"],
            capture_output=True,
            text=True,
            env={**os.environ, "EXCHANGE_AGENT_STATE_DIR": str(tmp_path)},
            timeout=60,
            check=False,
        )
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)

    assert run.exit_code == 5
    assert f"in use by pid {process.pid} (exchange-agent lab serve)" in run.stderr
    assert "nothing was applied" in run.stderr
    assert second.returncode == 5
    assert f"in use by pid {process.pid}" in second.stderr
    # Once serve has stopped, the state is free again.
    after = invoke("run", playbook, "-i", inventory, "--lab-transport", "inprocess")
    assert after.exit_code == 0, after.output
