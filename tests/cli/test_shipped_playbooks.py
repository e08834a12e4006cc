"""Every shipped playbook runs in check mode against the embedded lab without a crash."""

from __future__ import annotations

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
    else:
        assert result.exit_code in (0, 2), result.output
