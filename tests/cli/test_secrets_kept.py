"""A known password appears nowhere: not on stdout, stderr, in logs, reports or journals.

Every command that takes credentials (``run``, ``run --check`` and ``undo``) runs at every
verbosity, in both output formats, against the embedded lab over real ``pypsrp`` and against an
unreachable host whose password comes from the environment. The password is searched for as
written and in the Base64 form of a Basic ``Authorization`` header.
"""

from __future__ import annotations

import base64
import itertools
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from exchange_agent.cli import cli

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = ROOT / "playbooks" / "authenticated-smtp-on-port-25.yml"
PASSWORD = "Pa$$w0rd-'quoted'-7c1e"
LAB_USER = "lab-admin"
FORMS = [
    PASSWORD,
    base64.b64encode(f"{LAB_USER}:{PASSWORD}".encode()).decode(),
    base64.b64encode(f"admin@CONTOSO.COM:{PASSWORD}".encode()).decode(),
]
INVENTORY = """\
hosts:
  ex01: {lab: {}, windows: {}}
  ex02:
    fqdn: localhost
    exchange:
      url: https://localhost:9/PowerShell
      auth: basic
      username: admin@CONTOSO.COM
      password: {env: EXCH_PASSWORD}
      connect_timeout: 1
    windows:
      url: https://localhost:9/wsman
      auth: basic
      username: admin@CONTOSO.COM
      password: {env: EXCH_PASSWORD}
      connect_timeout: 1
"""


def assert_nowhere(result: Result, state: Path) -> None:
    """Assert that no form of the password is in the output or in any file under ``state``."""
    written = [path for path in state.rglob("*") if path.is_file()]
    assert written, "the run wrote no state at all"
    texts = [result.stdout, result.stderr]
    texts += [path.read_text(encoding="utf-8", errors="replace") for path in written]
    for text in texts:
        for form in FORMS:
            assert form not in text


@pytest.mark.parametrize(
    ("verbosity", "output"),
    list(itertools.product(["", "-v", "-vv", "-vvv", "-vvvv"], ["text", "json"])),
)
def test_password_never_printed(tmp_path: Path, monkeypatch, verbosity, output):
    state = tmp_path / "state"
    monkeypatch.setenv("EXCHANGE_AGENT_STATE_DIR", str(state))
    monkeypatch.setenv("EXCHANGE_AGENT_LAB_SPEED", "500")
    monkeypatch.setenv("EXCHANGE_AGENT_LAB_USER", LAB_USER)
    monkeypatch.setenv("EXCHANGE_AGENT_LAB_PASSWORD", PASSWORD)
    monkeypatch.setenv("EXCH_PASSWORD", PASSWORD)
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(INVENTORY, encoding="utf-8")
    common = ["-i", str(inventory), "--output", output, "--lab-transport", "wsman"]
    common += [verbosity] if verbosity else []

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(cli, [*args, *common], catch_exceptions=False)

    check = invoke("run", str(PLAYBOOK), "--check", "--log-format", "json")
    assert check.exit_code == 4, check.output
    assert_nowhere(check, state)

    run = invoke("run", str(PLAYBOOK), "--log-format", "json")
    assert run.exit_code == 4, run.output
    assert_nowhere(run, state)
    if verbosity == "-vvvv":
        # The transport libraries' own logs are on, whole SOAP messages included.
        assert "pypsrp" in run.stderr
        assert "Envelope" in run.stderr

    journals = list((state / "journals").glob("*.jsonl"))
    assert len(journals) == 1
    undo = invoke("undo", str(journals[0]))
    assert undo.exit_code == 0, undo.output
    if output == "json":
        assert json.loads(undo.stdout)["restored"] == 1
    assert_nowhere(undo, state)
