"""A known password appears nowhere: not on stdout, stderr, in reports or journals."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from click.testing import CliRunner

from exchange_agent.cli import cli

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = ROOT / "playbooks" / "authenticated-smtp-on-port-25.yml"
PASSWORD = "Pa$$w0rd-'quoted'-7c1e"


@pytest.mark.parametrize(
    ("verbosity", "output"),
    list(itertools.product(["", "-v", "-vv", "-vvv"], ["text", "json"])),
)
def test_password_never_printed(tmp_path: Path, monkeypatch, verbosity, output):
    state = tmp_path / "state"
    monkeypatch.setenv("EXCHANGE_AGENT_STATE_DIR", str(state))
    monkeypatch.setenv("EXCHANGE_AGENT_LAB_SPEED", "500")
    monkeypatch.setenv("EXCHANGE_AGENT_LAB_PASSWORD", PASSWORD)
    monkeypatch.setenv("EXCH_PASSWORD", PASSWORD)
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(
        "hosts:\n"
        "  ex01: {lab: {}, windows: {}}\n"
        "  ex02:\n"
        "    fqdn: localhost\n"
        "    exchange:\n"
        "      url: https://localhost:9/PowerShell\n"
        "      auth: basic\n"
        "      username: admin@CONTOSO.COM\n"
        "      password: {env: EXCH_PASSWORD}\n"
        "      connect_timeout: 1\n"
        "    windows:\n"
        "      url: https://localhost:9/wsman\n"
        "      auth: basic\n"
        "      username: admin@CONTOSO.COM\n"
        "      password: {env: EXCH_PASSWORD}\n"
        "      connect_timeout: 1\n",
        encoding="utf-8",
    )
    args = [
        "run",
        str(PLAYBOOK),
        "-i",
        str(inventory),
        "--output",
        output,
        "--lab-transport",
        "inprocess",
        "--log-format",
        "json",
    ]
    if verbosity:
        args.append(verbosity)
    result = CliRunner().invoke(cli, args, catch_exceptions=False)

    assert result.exit_code == 4, result.output
    assert PASSWORD not in result.stdout
    assert PASSWORD not in result.stderr
    written = [path for path in state.rglob("*") if path.is_file()]
    assert written, "the run wrote no state at all"
    for path in written:
        assert PASSWORD not in path.read_text(encoding="utf-8", errors="replace"), path
