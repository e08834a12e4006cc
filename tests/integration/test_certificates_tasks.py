"""certificate_request and certificate_import against the simulated organization."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pydantic
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

import exchange_agent.lab.cmdlets.certificate_lifecycle  # noqa: F401  (registers the cmdlets)
from exchange_agent.certificates import CertificateCheckError, CertificateFileError
from exchange_agent.errors import TaskError
from exchange_agent.lab.clock import ManualClock
from exchange_agent.lab.cmdlets.registry import lookup
from exchange_agent.lab.engine import LabEngine
from exchange_agent.lab.org import AcceptedDomain, Server
from exchange_agent.lab.state import open_lab
from exchange_agent.remote.command import Command, Statement
from exchange_agent.remote.inprocess import InProcessSession
from exchange_agent.tasks.base import TaskContext
from exchange_agent.tasks.certificate_import import CertificateImportArgs, CertificateImportTask
from exchange_agent.tasks.certificate_request import CertificateRequestArgs, CertificateRequestTask

NOW = datetime.now(UTC)
CA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
CA_NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Task Throwaway CA")])
CA = (
    x509.CertificateBuilder()
    .subject_name(CA_NAME)
    .issuer_name(CA_NAME)
    .public_key(CA_KEY.public_key())
    .serial_number(1)
    .not_valid_before(NOW - timedelta(days=1))
    .not_valid_after(NOW + timedelta(days=30))
    .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    .sign(CA_KEY, hashes.SHA256())
)


def issue_pem(public_key: Any, names: list[str], *, days: int = 10) -> bytes:
    """Issue a certificate for ``public_key`` and return it with the CA as a PEM bundle."""
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(CA_NAME)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=2))
        .not_valid_after(NOW + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .sign(CA_KEY, hashes.SHA256())
    )
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (certificate, CA))


@dataclass
class RecordingJournal:
    """A journal that keeps entries in memory, in the order they were recorded."""

    entries: list[dict[str, Any]] = field(default_factory=list)

    def record(self, *, task: str, target: str, undo: list[Statement], before: Any) -> None:
        self.entries.append({"task": task, "target": target, "undo": undo, "before": before})


@dataclass
class Lab:
    session: InProcessSession
    journal: RecordingJournal
    sent: list[str]

    def context(self, *, check_mode: bool = False) -> TaskContext:
        def open_session(endpoint: str) -> Any:
            assert endpoint == "exchange"
            return Recorder(self.session, self.sent)

        return TaskContext("ex01.contoso.com", check_mode, False, {}, open_session, self.journal)


@dataclass
class Recorder:
    """Passes statements to the real session and keeps the names of cmdlets that change state."""

    inner: InProcessSession
    sent: list[str]
    host: str = "ex01.contoso.com"
    endpoint: str = "exchange"

    def invoke(self, *statements: Statement, timeout: float | None = None) -> Any:
        for statement in statements:
            name = str(statement).split(" ", 1)[0]
            if not name.startswith(("Get-", "Select-")):
                self.sent.append(name)
        return self.inner.invoke(*statements, timeout=timeout)


@pytest.fixture
def lab() -> Lab:
    org = open_lab()
    org.servers.append(Server(name="EX02", fqdn="EX02.contoso.com"))
    org.accepted_domains.append(AcceptedDomain("Fabrikam", "fabrikam.com"))
    org.accepted_domains.append(AcceptedDomain("Relay", "relay.example", "InternalRelay"))
    session = InProcessSession("ex01.contoso.com", LabEngine(org, clock=ManualClock()))
    return Lab(session, RecordingJournal(), [])


def request_args(tmp_path: Path, **extra: Any) -> CertificateRequestArgs:
    values = {
        "server": "EX01",
        "namespaces": ["mail.contoso.com"],
        "include_autodiscover": False,
        "domain_names": None,
        "request_file": str(tmp_path / "mail.req"),
        **extra,
    }
    return CertificateRequestArgs(**values)


def load_csr(path: Path) -> x509.CertificateSigningRequest:
    return x509.load_pem_x509_csr(path.read_bytes())


def csr_names(path: Path) -> list[str]:
    san = load_csr(path).extensions.get_extension_for_class(x509.SubjectAlternativeName)
    return list(san.value.get_values_for_type(x509.DNSName))


def test_request_written_with_explicit_names(lab: Lab, tmp_path: Path) -> None:
    args = request_args(tmp_path, domain_names=["Mail.Contoso.com", "owa.contoso.com"])
    result = CertificateRequestTask(args).run(lab.context())
    assert result.status == "changed"
    assert lab.sent == ["New-ExchangeCertificate"]
    assert csr_names(tmp_path / "mail.req") == ["mail.contoso.com", "owa.contoso.com"]
    assert load_csr(tmp_path / "mail.req").public_key().key_size == 2048  # type: ignore[union-attr]


def test_request_derives_autodiscover_names(lab: Lab, tmp_path: Path) -> None:
    if lookup("Get-AcceptedDomain", "exchange") is None:
        pytest.skip("the lab has no Get-AcceptedDomain cmdlet yet")
    args = request_args(tmp_path, include_autodiscover=True)
    CertificateRequestTask(args).run(lab.context())
    assert csr_names(tmp_path / "mail.req") == [
        "mail.contoso.com",
        "autodiscover.contoso.com",
        "autodiscover.fabrikam.com",
    ]


def test_request_reuses_pending_request(lab: Lab, tmp_path: Path) -> None:
    args = request_args(tmp_path)
    assert CertificateRequestTask(args).run(lab.context()).status == "changed"
    first = (tmp_path / "mail.req").read_text()

    again = CertificateRequestTask(args).run(lab.context())
    assert again.status == "ok"
    assert "has the same names" in again.message
    assert lab.sent == ["New-ExchangeCertificate"]

    other_file = request_args(tmp_path, request_file=str(tmp_path / "copy.req"))
    copied = CertificateRequestTask(other_file).run(lab.context())
    assert copied.status == "changed"
    assert "reused" in copied.message
    assert (tmp_path / "copy.req").read_text() == first
    assert lab.sent == ["New-ExchangeCertificate"]


def test_request_check_mode_sends_nothing(lab: Lab, tmp_path: Path) -> None:
    result = CertificateRequestTask(request_args(tmp_path)).run(lab.context(check_mode=True))
    assert result.status == "changed"
    assert result.commands[0].startswith("New-ExchangeCertificate")
    assert lab.sent == []
    assert not (tmp_path / "mail.req").exists()


@pytest.mark.parametrize("bits", [1024, 512, 3072])
def test_request_key_below_floor_rejected(tmp_path: Path, bits: int) -> None:
    with pytest.raises(pydantic.ValidationError, match="key_size must be 2048 or 4096"):
        request_args(tmp_path, key_size=bits)


def new_request(lab: Lab, tmp_path: Path, names: list[str]) -> tuple[Path, Any]:
    path = tmp_path / f"{names[0]}.req"
    args = request_args(tmp_path, domain_names=names, request_file=str(path))
    CertificateRequestTask(args).run(lab.context())
    return path, load_csr(path).public_key()


def import_args(tmp_path: Path, pem: bytes, request: Path, **extra: Any) -> CertificateImportArgs:
    certificate = tmp_path / "issued.pem"
    certificate.write_bytes(pem)
    values = {
        "servers": ["EX01"],
        "certificate_file": str(certificate),
        "request_file": str(request),
        "services": ["IIS", "SMTP"],
        **extra,
    }
    return CertificateImportArgs(**values)


def services_by_thumbprint(lab: Lab) -> dict[str, str]:
    result = lab.session.invoke(Command("Get-ExchangeCertificate", {"Server": "EX01"}))
    return {str(c["Thumbprint"]): str(c["Services"]) for c in result.output}


def test_import_enable_and_undo(lab: Lab, tmp_path: Path) -> None:
    names = ["mail.contoso.com", "autodiscover.contoso.com"]
    old_request, old_key = new_request(lab, tmp_path, names)
    old = CertificateImportTask(import_args(tmp_path, issue_pem(old_key, names), old_request))
    assert old.run(lab.context()).status == "changed"
    assert lab.journal.entries == []
    (old_thumbprint,) = services_by_thumbprint(lab)

    new_request_path, new_key = new_request(lab, tmp_path, ["webmail.contoso.com", *names])
    pem = issue_pem(new_key, ["webmail.contoso.com", *names])
    task = CertificateImportTask(import_args(tmp_path, pem, new_request_path, services=["IIS"]))
    lab.sent.clear()
    result = task.run(lab.context())
    assert result.status == "changed"
    assert lab.sent == ["Import-ExchangeCertificate", "Enable-ExchangeCertificate"]
    new_thumbprint = result.data["thumbprint"]
    assert services_by_thumbprint(lab) == {old_thumbprint: "SMTP", new_thumbprint: "IIS"}

    (entry,) = lab.journal.entries
    assert entry["before"] == {
        "thumbprint": old_thumbprint,
        "services": ["IIS", "SMTP"],
        "server": "EX01",
    }
    assert entry["target"] == f"EX01\\{old_thumbprint}"
    assert task.run(lab.context()).status == "ok"

    for statement in entry["undo"]:
        assert lab.session.invoke(statement).ok
    assert services_by_thumbprint(lab) == {old_thumbprint: "IIS, SMTP", new_thumbprint: "None"}


def certificates_on(lab: Lab, server: str) -> dict[str, dict[str, Any]]:
    result = lab.session.invoke(Command("Get-ExchangeCertificate", {"Server": server}))
    return {str(c["Thumbprint"]): dict(c.items()) for c in result.output}


@pytest.mark.parametrize("order", [["EX01", "EX02"], ["EX02", "EX01"]])
def test_import_copies_the_key_to_the_other_servers(
    lab: Lab, tmp_path: Path, order: list[str]
) -> None:
    names = ["mail.contoso.com"]
    request_path, key = new_request(lab, tmp_path, names)
    args = import_args(tmp_path, issue_pem(key, names), request_path, servers=order)
    lab.sent.clear()
    result = CertificateImportTask(args).run(lab.context())

    assert result.status == "changed"
    # The server holding the key goes first, whatever the order of servers.
    assert lab.sent == [
        "Import-ExchangeCertificate",
        "Enable-ExchangeCertificate",
        "Export-ExchangeCertificate",
        "Import-ExchangeCertificate",
        "Enable-ExchangeCertificate",
    ]
    thumbprint = result.data["thumbprint"]
    copy = certificates_on(lab, "EX02")[thumbprint]
    assert copy["HasPrivateKey"] is True
    assert copy["Services"] == "IIS, SMTP"
    # The copy's key stays where it is: only the original can be exported again.
    assert copy["PrivateKeyExportable"] is False
    assert certificates_on(lab, "EX01")[thumbprint]["PrivateKeyExportable"] is True
    assert any("-Password '********'" in command for command in result.commands)
    assert CertificateImportTask(args).run(lab.context()).status == "ok"


def test_import_check_mode_names_the_copy(lab: Lab, tmp_path: Path) -> None:
    names = ["mail.contoso.com"]
    request_path, key = new_request(lab, tmp_path, names)
    args = import_args(tmp_path, issue_pem(key, names), request_path, servers=["EX01", "EX02"])
    lab.sent.clear()
    result = CertificateImportTask(args).run(lab.context(check_mode=True))
    assert result.status == "changed"
    assert [c.split(" ", 1)[0] for c in result.commands] == [
        "Import-ExchangeCertificate",
        "Enable-ExchangeCertificate",
        "Export-ExchangeCertificate",
        "Import-ExchangeCertificate",
        "Enable-ExchangeCertificate",
    ]
    assert "<PKCS #12 from EX01>" in result.commands[3]
    assert lab.sent == []


def test_import_refuses_a_key_that_cannot_be_exported(lab: Lab, tmp_path: Path) -> None:
    names = ["mail.contoso.com"]
    # Exchange's own default: New-ExchangeCertificate makes the key not exportable.
    pem = lab.session.invoke(
        Command(
            "New-ExchangeCertificate",
            {"GenerateRequest": True, "DomainName": names, "Server": "EX01"},
        )
    ).output[0]
    request_path = tmp_path / "plain.req"
    request_path.write_text(str(pem), encoding="ascii")
    key = load_csr(request_path).public_key()
    args = import_args(tmp_path, issue_pem(key, names), request_path, servers=["EX01", "EX02"])
    lab.sent.clear()
    with pytest.raises(
        TaskError, match="on EX01 cannot be exported, so it cannot be copied to EX02"
    ):
        CertificateImportTask(args).run(lab.context())
    assert lab.sent == []


def test_import_needs_a_listed_server_with_the_key(lab: Lab, tmp_path: Path) -> None:
    names = ["mail.contoso.com"]
    request_path, key = new_request(lab, tmp_path, names)
    args = import_args(tmp_path, issue_pem(key, names), request_path, servers=["EX02"])
    lab.sent.clear()
    with pytest.raises(TaskError, match=r"EX02 has no pending request for the key .* no other"):
        CertificateImportTask(args).run(lab.context())
    assert lab.sent == []


def test_import_check_mode_sends_nothing(lab: Lab, tmp_path: Path) -> None:
    names = ["mail.contoso.com"]
    request_path, key = new_request(lab, tmp_path, names)
    lab.sent.clear()
    args = import_args(tmp_path, issue_pem(key, names), request_path)
    result = CertificateImportTask(args).run(lab.context(check_mode=True))
    assert result.status == "changed"
    assert [c.split(" ", 1)[0] for c in result.commands] == [
        "Import-ExchangeCertificate",
        "Enable-ExchangeCertificate",
    ]
    assert lab.sent == []


@pytest.mark.parametrize(
    ("case", "problem"),
    [
        ("other-key", "does not match the pending request's key"),
        ("missing-name", "autodiscover.contoso.com are not covered"),
        ("expired", "expired on"),
    ],
)
def test_import_rejects_bad_certificate_before_sending(
    lab: Lab, tmp_path: Path, case: str, problem: str
) -> None:
    names = ["mail.contoso.com", "autodiscover.contoso.com"]
    request_path, key = new_request(lab, tmp_path, names)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    pem = {
        "other-key": issue_pem(other, names),
        "missing-name": issue_pem(key, names[:1]),
        "expired": issue_pem(key, names, days=-1),
    }[case]
    lab.sent.clear()
    with pytest.raises(CertificateCheckError, match=problem):
        CertificateImportTask(import_args(tmp_path, pem, request_path)).run(lab.context())
    assert lab.sent == []


def test_import_replace_needs_journal(lab: Lab, tmp_path: Path) -> None:
    names = ["mail.contoso.com"]
    first_request, first_key = new_request(lab, tmp_path, names)
    CertificateImportTask(import_args(tmp_path, issue_pem(first_key, names), first_request)).run(
        lab.context()
    )
    second_request, second_key = new_request(lab, tmp_path, ["owa.contoso.com", *names])
    args = import_args(tmp_path, issue_pem(second_key, ["owa.contoso.com", *names]), second_request)
    context = lab.context()
    context.journal = None
    with pytest.raises(TaskError, match="no journal"):
        CertificateImportTask(args).run(context)


def test_import_matches_server_request(lab: Lab, tmp_path: Path) -> None:
    names = ["mail.contoso.com"]
    request_path, key = new_request(lab, tmp_path, names)
    args = import_args(tmp_path, issue_pem(key, names), request_path, request_file=None)
    assert CertificateImportTask(args).run(lab.context()).status == "changed"

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    stranger = import_args(tmp_path, issue_pem(other, names), request_path, request_file=None)
    lab.sent.clear()
    with pytest.raises(TaskError, match="EX01 has no pending request for the key"):
        CertificateImportTask(stranger).run(lab.context())
    assert lab.sent == []


def test_import_unreadable_file_rejected(lab: Lab, tmp_path: Path) -> None:
    request_path, _ = new_request(lab, tmp_path, ["mail.contoso.com"])
    args = import_args(tmp_path, b"-----BEGIN CERTIFICATE-----\nnope\n", request_path)
    with pytest.raises(CertificateFileError, match="expected a PEM or DER certificate"):
        CertificateImportTask(args).run(lab.context())
    missing = args.model_copy(update={"certificate_file": str(tmp_path / "absent.pem")})
    with pytest.raises(CertificateFileError, match="cannot read the file"):
        CertificateImportTask(missing).run(lab.context())


def test_copy_travels_over_real_psrp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, capsys
) -> None:
    """The one-time password reaches the server as a SecureString through pypsrp and psrpcore.

    It is made known here and searched for in every log record at DEBUG, in everything printed,
    in the journal and in the result: it must appear nowhere.
    """
    from pydantic import SecretStr

    one_time = "one-time-pfx-password-5e0b"
    monkeypatch.setattr(
        "exchange_agent.tasks.certificate_import.secrets.token_urlsafe", lambda size: one_time
    )
    caplog.set_level(logging.DEBUG)

    from exchange_agent.lab.server import LabServer
    from exchange_agent.remote.psrp import PsrpSession
    from exchange_agent.remote.settings import EndpointSettings

    org = open_lab()
    org.servers.append(Server(name="EX02", fqdn="EX02.contoso.com"))
    engine = LabEngine(org, clock=ManualClock())
    with LabServer(engine, users={"svc": "wire-pw-1"}) as server:
        settings = EndpointSettings(
            url=server.exchange_url,
            auth="basic",
            encryption="never",
            username="svc",
            password=SecretStr("wire-pw-1"),
        )
        session = PsrpSession("ex01", settings)
        journal = RecordingJournal()
        context = TaskContext("ex01", False, False, {}, lambda endpoint: session, journal)
        try:
            path = tmp_path / "mail.req"
            names = ["mail.contoso.com"]
            request = request_args(tmp_path, domain_names=names, request_file=str(path))
            CertificateRequestTask(request).run(context)
            args = import_args(
                tmp_path,
                issue_pem(load_csr(path).public_key(), names),
                path,
                servers=["EX01", "EX02"],
            )
            result = CertificateImportTask(args).run(context)
        finally:
            session.close()
        assert server.open_shells() == 0
    assert result.status == "changed"
    local = InProcessSession("ex01", engine)
    copies = local.invoke(Command("Get-ExchangeCertificate", {"Server": "EX02"})).output
    (copy,) = [c for c in copies if c["Thumbprint"] == result.data["thumbprint"]]
    assert copy["HasPrivateKey"] is True
    assert copy["Services"] == "IIS, SMTP"
    # The export ran with the known password, which then appears nowhere.
    assert any("Export-ExchangeCertificate" in command for command in result.commands)
    assert caplog.records
    printed = capsys.readouterr()
    for text in (caplog.text, printed.out, printed.err, repr(result), repr(journal.entries)):
        assert one_time not in text


def install(lab: Lab, tmp_path: Path, names: list[str], *, days: int = 365) -> Path:
    """Request, issue and install a certificate for ``names``; return the request file."""
    request, key = new_request(lab, tmp_path, names)
    task = CertificateImportTask(import_args(tmp_path, issue_pem(key, names, days=days), request))
    assert task.run(lab.context()).status == "changed"
    return request


def test_request_ok_while_valid_certificate_installed(lab: Lab, tmp_path: Path) -> None:
    # Running the request playbook again after the install must not start over.
    names = ["mail.contoso.com"]
    request = install(lab, tmp_path, names)
    before = request.read_text()
    lab.sent.clear()
    args = request_args(tmp_path, domain_names=names, request_file=str(request))

    result = CertificateRequestTask(args).run(lab.context())

    assert result.status == "ok"
    assert "already has certificate" in result.message
    assert "set renew: true" in result.message
    assert lab.sent == []
    assert request.read_text() == before


def test_request_renews_certificate_close_to_expiry(lab: Lab, tmp_path: Path) -> None:
    names = ["mail.contoso.com"]
    request = install(lab, tmp_path, names, days=10)
    args = request_args(tmp_path, domain_names=names, request_file=str(request))

    result = CertificateRequestTask(args).run(lab.context())

    assert result.status == "changed"
    assert lab.sent[-1] == "New-ExchangeCertificate"
    (warning,) = result.warnings
    assert warning.startswith(f"replaced {request}, which held another request")


def test_request_renew_forces_a_new_request(lab: Lab, tmp_path: Path) -> None:
    names = ["mail.contoso.com"]
    request = install(lab, tmp_path, names)
    args = request_args(tmp_path, domain_names=names, request_file=str(request), renew=True)

    result = CertificateRequestTask(args).run(lab.context())

    assert result.status == "changed"
    assert lab.sent[-1] == "New-ExchangeCertificate"
