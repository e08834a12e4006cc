"""Every shipped job through real pypsrp over each way the lab can be reached."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

LABS = {
    "basic-http": "{}",
    "basic-https": "{tls: true}",
    "ntlm-http": "{auth: ntlm}",
}

JOBS = [
    ("authenticated-smtp-on-port-25.yml", 2),
    ("anonymous-relay.yml", 1),
    ("remove-email-domain.yml", 1),
    ("autodiscover.yml", 2),
    ("certificate-request.yml", 1),
]


@pytest.fixture(params=sorted(LABS))
def inventory(request, write):
    return write(
        "inventory.yml",
        f"hosts:\n  ex01:\n    server: EX01\n    lab: {LABS[request.param]}\n    windows: {{}}\n",
    )


@pytest.mark.parametrize(("playbook", "changed"), JOBS)
def test_job_converges_over_wsman(invoke, inventory, tmp_path, playbook, changed, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = [
        "run",
        str(ROOT / "playbooks" / playbook),
        "-i",
        str(inventory),
        "--output",
        "json",
        "--lab-transport",
        "wsman",
    ]
    first = invoke(*args)
    assert first.exit_code == 0, first.output
    data = json.loads(first.stdout)
    assert data["stats"]["ex01"]["changed"] == changed
    assert data["stats"]["ex01"]["failed"] == 0

    second = invoke(*args)
    assert second.exit_code == 0, second.output
    assert json.loads(second.stdout)["stats"]["ex01"]["changed"] == 0
