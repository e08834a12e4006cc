"""Faults at every request of a certificate install on two servers: undo restores, reruns converge.

Both servers start with a certificate enabled for IIS and SMTP. EX01 has the pending request of
the new certificate, and EX02 gets a PKCS #12 copy exported from EX01. Each request of
``playbooks/certificate-install.yml`` is broken once. After each broken run no shell is left
open; if any server's previous certificate lost a service, the journal exists and ``undo`` gives
every service back. A clean rerun then installs the new certificate on both servers, and a third
run changes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from test_main_job_faults import FAULTS, PASSWORD, first_run_problems, write_inventory

from exchange_agent.cli import cli
from exchange_agent.lab.clock import Clock
from exchange_agent.lab.engine import LabEngine
from exchange_agent.lab.org import Server
from exchange_agent.lab.server import LabServer
from exchange_agent.lab.state import open_lab
from exchange_agent.remote.command import Command, Secret, Switch
from exchange_agent.remote.inprocess import InProcessSession
from support.certs import issue_pem, rsa_key

ROOT = Path(__file__).resolve().parents[2]
REQUEST = ROOT / "playbooks" / "certificate-request.yml"
INSTALL = ROOT / "playbooks" / "certificate-install.yml"
SERVERS = ["EX01", "EX02"]
NAMES = ["mail.contoso.com", "autodiscover.contoso.com"]
EXTRA = json.dumps({"certificate_servers": SERVERS})


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--output", "json"], catch_exceptions=False)


def certificates(engine: LabEngine, server: str) -> dict[str, str]:
    """Return the services of each certificate with a key on ``server``, by thumbprint."""
    session = InProcessSession("ex01", engine)
    result = session.invoke(Command("Get-ExchangeCertificate", {"Server": server}))
    assert result.ok, result.errors
    return {
        str(item["Thumbprint"]): str(item["Services"])
        for item in result.output
        if str(item["Status"]) != "PendingRequest"
    }


def seed_previous_certificate(engine: LabEngine) -> str:
    """Install one certificate on both servers, enabled for IIS and SMTP; return its thumbprint."""
    key = rsa_key(2048, 7)
    bundle = issue_pem(key.public_key(), ["old.contoso.com"])
    certificate = x509.load_pem_x509_certificates(bundle)[0]
    pfx = pkcs12.serialize_key_and_certificates(
        None, key, certificate, None, serialization.BestAvailableEncryption(b"seed")
    )
    session = InProcessSession("ex01", engine)
    for server in SERVERS:
        parameters = {"FileData": pfx, "Password": Secret("seed"), "Server": server}
        assert session.invoke(Command("Import-ExchangeCertificate", parameters)).ok
    (thumbprint,) = certificates(engine, "EX01")
    for server in SERVERS:
        enable = {
            "Thumbprint": thumbprint,
            "Services": ["IIS", "SMTP"],
            "Server": server,
            "Force": Switch(),
        }
        assert session.invoke(Command("Enable-ExchangeCertificate", enable)).ok
    return thumbprint


def prepare(workdir: Path, inventory: str) -> None:
    """Create the request on EX01 with the shipped playbook and issue its certificate."""
    result = run("run", str(REQUEST), "-i", inventory)
    assert result.exit_code == 0, result.output
    request = x509.load_pem_x509_csr((workdir / "requests" / f"{NAMES[0]}.req").read_bytes())
    san = request.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    names = san.get_values_for_type(x509.DNSName)
    assert names[: len(NAMES)] == NAMES
    chain = x509.load_pem_x509_certificates(issue_pem(request.public_key(), names))
    issued = workdir / "issued" / f"{NAMES[0]}.p7b"
    issued.parent.mkdir(exist_ok=True)
    issued.write_bytes(pkcs7.serialize_certificates(chain, serialization.Encoding.DER))


def new_lab() -> tuple[LabEngine, str]:
    org = open_lab()
    org.servers.append(Server(name="EX02", fqdn="EX02.contoso.com"))
    engine = LabEngine(org, clock=Clock(speed=2000))
    return engine, seed_previous_certificate(engine)


def count_requests(workdir: Path) -> int:
    engine, _ = new_lab()
    with LabServer(engine, users={"svc": PASSWORD}) as server:
        inventory = str(write_inventory(workdir, server))
        prepare(workdir, inventory)
        before = server.knobs.counters()["requests"]
        result = run("run", str(INSTALL), "-i", inventory, "-e", EXTRA)
        assert result.exit_code == 0, result.output
        return server.knobs.counters()["requests"] - before


@pytest.mark.parametrize("fault", ["drop", "http503"])
def test_every_request_can_fail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    monkeypatch.setenv("FAULT_PASSWORD", PASSWORD)
    monkeypatch.setenv("EXCHANGE_AGENT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)
    total = count_requests(tmp_path)
    problems: list[str] = []
    tried = 0
    undone = 0
    for point in range(total):
        engine, old = new_lab()
        with LabServer(engine, users={"svc": PASSWORD}) as server:
            inventory = str(write_inventory(tmp_path, server))
            prepare(tmp_path, inventory)
            FAULTS[fault](server.knobs, point)
            first = run("run", str(INSTALL), "-i", inventory, "-e", EXTRA)
            tried += 1
            where = f"{fault}@{point}"
            problems += first_run_problems(where, first, server)
            server.knobs.reset()

            moved = [s for s in SERVERS if certificates(engine, s)[old] != "IIS, SMTP"]
            journal = json.loads(first.stdout).get("journal") if first.stdout else None
            if moved and not journal:
                problems.append(f"{where}: services moved on {moved} but the run has no journal")
            elif moved:
                undo = run("undo", journal, "-i", inventory)
                undone += 1
                restored = all(certificates(engine, s)[old] == "IIS, SMTP" for s in SERVERS)
                if undo.exit_code != 0 or not restored:
                    problems.append(f"{where}: undo exit {undo.exit_code}, restored {restored}")

            second = run("run", str(INSTALL), "-i", inventory, "-e", EXTRA)
            if second.exit_code != 0:
                problems.append(f"{where}: rerun exit {second.exit_code}: {second.output[-300:]}")
            for name in SERVERS:
                services = sorted(certificates(engine, name).values())
                if services != ["IIS, SMTP", "SMTP"]:
                    problems.append(f"{where}: {name} ends with services {services}")
            third = json.loads(run("run", str(INSTALL), "-i", inventory, "-e", EXTRA).stdout)
            if third["stats"]["ex01"]["changed"] != 0:
                problems.append(f"{where}: third run still changed something")
    print(f"certificate install {fault}: tried {tried} fault points, undid {undone} runs")
    assert tried == total
    assert tried >= 10
    # Most fault points leave a change behind, so undo is exercised, not skipped.
    assert undone > tried // 2
    assert problems == []
