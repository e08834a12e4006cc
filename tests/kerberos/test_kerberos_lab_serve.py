"""``exchange-agent lab serve --auth kerberos`` in its own process, reached through pypsrp."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

from pydantic import SecretStr

from exchange_agent.remote.command import Command
from exchange_agent.remote.psrp import PsrpSession
from exchange_agent.remote.settings import EndpointSettings
from support.kdc import ADMIN, ADMIN_PASSWORD, KerberosSetup, resolve_to_loopback


def test_served_lab_accepts_kerberos(kerberos: KerberosSetup, tmp_path):
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exchange_agent",
            "lab",
            "serve",
            "--auth",
            "kerberos",
            "--keytab",
            str(kerberos.service_keytab),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "EXCHANGE_AGENT_STATE_DIR": str(tmp_path)},
    )
    try:
        first = process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/PowerShell", first)
        assert match, first + process.stderr.read()
        settings = EndpointSettings(
            url=f"http://ex02.lab.test:{match.group(1)}/PowerShell",
            username=f"{ADMIN}@LAB.TEST",
            password=SecretStr(ADMIN_PASSWORD),
        )
        with resolve_to_loopback():
            session = PsrpSession("ex02", settings)
            try:
                result = session.invoke(Command("Get-AcceptedDomain"))
            finally:
                session.close()
        assert result.output
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
    assert process.returncode == 0
