"""``advise relay --check-spf``: direct-send readiness from the domain's SPF record."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from exchange_agent.cli import cli
from support.dns_server import LoopbackDnsServer

ZONE = {"contoso.com": [("TXT", '"v=spf1 ip4:192.0.2.0/28 -all"')]}


@pytest.fixture
def dns():
    with LoopbackDnsServer(ZONE) as server:
        yield server


def advise(dns, *addresses: str, output: str = "json"):
    args = [
        "advise",
        "relay",
        "--port-fixed",
        "--cannot-authenticate",
        "--internal-only",
        "--check-spf",
        "contoso.com",
        "--nameserver",
        "127.0.0.1",
        "--dns-port",
        str(dns.port),
        "--output",
        output,
    ]
    for address in addresses:
        args += ["--device-address", address]
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def test_passing_device_exits_zero(dns):
    result = advise(dns, "192.0.2.5")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["method"] == "direct-send"
    assert data["spf"]["passed"] is True


def test_failing_device_gets_fix(dns):
    result = advise(dns, "192.0.2.5", "198.51.100.9", output="text")
    assert result.exit_code == 1
    assert "198.51.100.9" in result.stdout
    assert "ip4:198.51.100.9" in result.stdout
    assert "proposed record: v=spf1 ip4:192.0.2.0/28 ip4:198.51.100.9 -all" in result.stdout


def test_check_spf_needs_addresses(dns):
    result = CliRunner().invoke(
        cli,
        [
            "advise",
            "relay",
            "--port-fixed",
            "--cannot-authenticate",
            "--internal-only",
            "--check-spf",
            "contoso.com",
        ],
    )
    assert result.exit_code == 5
    assert "--check-spf needs --device-address and --nameserver" in result.output
