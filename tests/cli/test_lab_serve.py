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
