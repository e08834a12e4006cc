"""The main job over Kerberos, from an inventory of ordinary (not embedded-lab) hosts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from exchange_agent.cli import cli
from exchange_agent.lab.server import LabServer
from support.kdc import ADMIN, ADMIN_PASSWORD, KEYTAB_USER, KerberosSetup

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = ROOT / "playbooks" / "authenticated-smtp-on-port-25.yml"


def write_inventory(path: Path, lab: LabServer, credentials: str, host: str = "ex01") -> Path:
    path.write_text(
        "hosts:\n"
        "  ex01:\n"
        "    fqdn: ex01.lab.test\n"
        "    server: EX01\n"
        "    exchange:\n"
        f"      url: http://{host}.lab.test:{lab.port}/PowerShell\n"
        "      auth: kerberos\n"
        f"{credentials}"
        "    windows:\n"
        f"      url: http://{host}.lab.test:{lab.port}/wsman\n"
        "      auth: kerberos\n"
        f"{credentials}",
        encoding="utf-8",
    )
    return path


def run(inventory: Path, *options: str) -> tuple[int, dict, str]:
    result = CliRunner().invoke(
        cli,
        ["run", str(PLAYBOOK), "-i", str(inventory), "--output", "json", *options],
        catch_exceptions=False,
    )
    report = json.loads(result.stdout) if result.stdout.startswith("{") else {}
    return result.exit_code, report, result.output


def statuses(report: dict) -> list[str]:
    return [task["status"] for task in report["tasks"]]


def test_main_job_with_a_password_converges(kerberos_lab, tmp_path, monkeypatch, empty_cache):
    monkeypatch.setenv("EXCHANGE_AGENT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("EXCH_PASSWORD", ADMIN_PASSWORD)
    # The realm is written in lower case, as users do; the tool upper-cases it.
    credentials = f"      username: {ADMIN}@lab.test\n      password: {{env: EXCH_PASSWORD}}\n"
    inventory = write_inventory(tmp_path / "prod.yml", kerberos_lab, credentials)

    code, report, output = run(inventory, "-v")
    assert code == 0, output
    assert statuses(report) == ["changed", "changed"]
    code, report, output = run(inventory)
    assert code == 0, output
    assert statuses(report) == ["ok"], output
    assert ADMIN_PASSWORD not in output
    counters = kerberos_lab.knobs.counters()
    assert counters.get("plaintext_requests", 0) == 0
    assert kerberos_lab.open_shells() == 0


def test_main_job_with_a_keytab_next_to_the_inventory(
    kerberos: KerberosSetup, kerberos_lab, tmp_path, monkeypatch, empty_cache
):
    monkeypatch.setenv("EXCHANGE_AGENT_STATE_DIR", str(tmp_path / "state"))
    shutil.copy(kerberos.client_keytab, tmp_path / "svc-exch.keytab")
    credentials = f"      username: {KEYTAB_USER}@LAB.TEST\n      keytab: svc-exch.keytab\n"
    inventory = write_inventory(tmp_path / "prod.yml", kerberos_lab, credentials)

    code, report, output = run(inventory)
    assert code == 0, output
    assert statuses(report)[0] == "changed"


def test_shared_name_without_a_principal_is_unreachable(
    kerberos_lab, tmp_path, monkeypatch, empty_cache
):
    monkeypatch.setenv("EXCHANGE_AGENT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("EXCH_PASSWORD", ADMIN_PASSWORD)
    credentials = f"      username: {ADMIN}@LAB.TEST\n      password: {{env: EXCH_PASSWORD}}\n"
    inventory = write_inventory(tmp_path / "prod.yml", kerberos_lab, credentials, host="mail")

    code, report, output = run(inventory)
    assert code == 4, output
    message = report["tasks"][0]["message"]
    assert "HTTP/mail.lab.test" in message
    assert f"http://mail.lab.test:{kerberos_lab.port}/PowerShell" in message
    assert ADMIN_PASSWORD not in output
