"""Every shipped playbook runs in check mode against the embedded lab without a crash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAB_INVENTORY = ROOT / "inventory" / "lab.yml"
PLAYBOOKS = sorted((ROOT / "playbooks").glob("*.yml"))
# These read DNS only through resolvers named in a variable, so without it nothing is sent.
NEEDS_RESOLVER = {"audit-spf.yml": "spf_nameservers", "audit-autodiscover.yml": "dns_nameservers"}


@pytest.mark.parametrize("playbook", PLAYBOOKS, ids=lambda path: path.name)
def test_playbook_check_mode(invoke, playbook):
    result = invoke(
        "run", str(playbook), "-i", str(LAB_INVENTORY), "--check", "--lab-transport", "inprocess"
    )
    assert "Traceback" not in result.output
    if playbook.name in NEEDS_RESOLVER:
        assert result.exit_code == 5
        assert f"variable {NEEDS_RESOLVER[playbook.name]} is undefined" in result.stderr
    elif playbook.name == "certificate-install.yml":
        # No CA has issued a certificate yet: the run stops before it connects.
        assert result.exit_code == 5
        assert "exchange-agent lab sign REQUEST -o issued/mail.contoso.com.p7b" in result.stderr
    else:
        assert result.exit_code in (0, 2), result.output


def test_certificate_request_sign_and_install(invoke, tmp_path, monkeypatch):
    """The certificate job end to end against the lab, with lab sign as the CA."""
    monkeypatch.chdir(tmp_path)
    request_playbook = str(ROOT / "playbooks" / "certificate-request.yml")
    install_playbook = str(ROOT / "playbooks" / "certificate-install.yml")
    common = ["-i", str(LAB_INVENTORY), "--lab-transport", "inprocess", "--output", "json"]

    requested = invoke("run", request_playbook, *common)
    assert requested.exit_code == 0, requested.output
    signed = invoke(
        "lab", "sign", "requests/mail.contoso.com.req", "-o", "issued/mail.contoso.com.p7b"
    )
    assert signed.exit_code == 0, signed.output
    assert "autodiscover.contoso.com" in signed.stdout
    installed = invoke("run", install_playbook, *common)
    assert installed.exit_code == 0, installed.output
    assert json.loads(installed.stdout)["stats"]["ex01"]["changed"] == 1
    again = invoke("run", install_playbook, *common)
    assert json.loads(again.stdout)["stats"]["ex01"]["changed"] == 0


def test_lab_sign_rejects_what_is_not_a_request(invoke, tmp_path):
    bogus = tmp_path / "bogus.req"
    bogus.write_text("not a request", encoding="utf-8")
    result = invoke("lab", "sign", str(bogus), "-o", str(tmp_path / "out.p7b"))
    assert result.exit_code == 5
    assert f"{bogus}: the file is not a certificate request" in result.stderr
    assert not (tmp_path / "out.p7b").exists()
