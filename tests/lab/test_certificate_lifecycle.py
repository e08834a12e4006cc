"""Certificate request, import and enable cmdlets of the lab, through the in-process session."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from cryptography.x509.oid import NameOID

import exchange_agent.lab.cmdlets.certificate_lifecycle  # noqa: F401  (registers the cmdlets)
from exchange_agent.lab.clock import ManualClock
from exchange_agent.lab.engine import LabEngine
from exchange_agent.lab.org import Server
from exchange_agent.lab.state import open_lab
from exchange_agent.remote.command import Command, Secret, Switch
from exchange_agent.remote.inprocess import InProcessSession
from exchange_agent.remote.result import ExObject

NAMES = ["mail.contoso.com", "autodiscover.contoso.com"]
NOW = datetime.now(UTC)
CA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
CA_NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Lab Throwaway CA")])
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


def sign(request_pem: str) -> bytes:
    """Issue a certificate for a PEM request and return the PKCS #7 chain (DER)."""
    request = x509.load_pem_x509_csr(request_pem.encode())
    san = request.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(request.subject)
        .issuer_name(CA_NAME)
        .public_key(request.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(hours=1))
        .not_valid_after(NOW + timedelta(days=10))
        .add_extension(san.value, critical=False)
        .sign(CA_KEY, hashes.SHA256())
    )
    return pkcs7.serialize_certificates([certificate, CA], serialization.Encoding.DER)


@pytest.fixture
def session() -> InProcessSession:
    org = open_lab()
    org.servers.append(Server(name="EX02", fqdn="EX02.contoso.com"))
    return InProcessSession("ex01.contoso.com", LabEngine(org, clock=ManualClock()))


def request(session: InProcessSession, server: str = "EX01", **extra: object) -> str:
    parameters = {
        "GenerateRequest": Switch(),
        "SubjectName": "C=US, O=Contoso, CN=mail.contoso.com",
        "DomainName": NAMES,
        "Server": server,
        **extra,
    }
    result = session.invoke(Command("New-ExchangeCertificate", parameters))  # type: ignore[arg-type]
    assert result.ok, result.errors
    return str(result.output[0])


def certificates(session: InProcessSession, server: str = "EX01") -> list[ExObject]:
    result = session.invoke(Command("Get-ExchangeCertificate", {"Server": server}))
    assert result.ok, result.errors
    return list(result.output)


def test_generate_request_keeps_pending_entry(session: InProcessSession) -> None:
    text = request(session, KeySize=4096)
    csr = x509.load_pem_x509_csr(text.encode())
    assert csr.public_key().key_size == 4096  # type: ignore[union-attr]
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.value.get_values_for_type(x509.DNSName) == NAMES
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "mail.contoso.com"

    (pending,) = certificates(session)
    assert pending["Status"] == "PendingRequest"
    assert pending["CertificateDomains"] == NAMES
    assert pending["CertificateRequest"] == text
    assert pending["RawData"] is None
    assert certificates(session, "EX02") == []


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"KeySize": 512}, "key size 512 isn't valid"),
        ({"SubjectName": "mail.contoso.com"}, "not a valid X.500"),
        ({"Server": "EX09"}, "couldn't be found"),
    ],
)
def test_generate_request_rejects_bad_input(
    session: InProcessSession, extra: dict[str, object], message: str
) -> None:
    parameters = {"GenerateRequest": Switch(), "DomainName": NAMES, **extra}
    result = session.invoke(Command("New-ExchangeCertificate", parameters))  # type: ignore[arg-type]
    assert not result.ok
    assert message in result.errors[0].message
    assert certificates(session) == []


def test_import_completes_pending_request(session: InProcessSession) -> None:
    text = request(session)
    result = session.invoke(
        Command("Import-ExchangeCertificate", {"FileData": sign(text), "Server": "EX01"})
    )
    assert result.ok, result.errors
    (imported,) = result.output
    assert imported["Status"] == "Valid"
    assert imported["HasPrivateKey"] is True
    assert isinstance(imported["RawData"], bytes)
    listed = certificates(session)
    assert len(listed) == 1  # the CA certificate of the chain is not listed
    assert listed[0]["Thumbprint"] == imported["Thumbprint"]

    again = session.invoke(
        Command("Import-ExchangeCertificate", {"FileData": sign(text), "Server": "EX01"})
    )
    assert again.ok  # a new certificate for the same key: a second entry, no private key
    assert not session.invoke(
        Command("Import-ExchangeCertificate", {"FileData": b"junk", "Server": "EX01"})
    ).ok


def test_import_same_certificate_twice_rejected(session: InProcessSession) -> None:
    data = sign(request(session))
    assert session.invoke(Command("Import-ExchangeCertificate", {"FileData": data})).ok
    result = session.invoke(Command("Import-ExchangeCertificate", {"FileData": data}))
    assert not result.ok
    assert "already exists" in result.errors[0].message


def test_enable_moves_iis_and_needs_force_for_smtp(session: InProcessSession) -> None:
    first = session.invoke(
        Command("Import-ExchangeCertificate", {"FileData": sign(request(session))})
    ).output[0]["Thumbprint"]
    second = session.invoke(
        Command("Import-ExchangeCertificate", {"FileData": sign(request(session))})
    ).output[0]["Thumbprint"]

    enable = {"Thumbprint": first, "Services": ["IIS", "SMTP"], "Server": "EX01"}
    assert session.invoke(Command("Enable-ExchangeCertificate", enable)).ok  # type: ignore[arg-type]

    unforced = session.invoke(
        Command("Enable-ExchangeCertificate", {"Thumbprint": second, "Services": "SMTP,IIS"})
    )
    assert not unforced.ok
    assert "-Force" in unforced.errors[0].message

    forced = session.invoke(
        Command(
            "Enable-ExchangeCertificate",
            {"Thumbprint": second, "Services": "SMTP,IIS", "Force": Switch()},
        )
    )
    assert forced.ok, forced.errors
    services = {str(c["Thumbprint"]): str(c["Services"]) for c in certificates(session)}
    assert services == {first: "SMTP", second: "IIS, SMTP"}


def test_enable_rejects_pending_unknown_and_bad_service(session: InProcessSession) -> None:
    request(session)
    pending = certificates(session)[0]["Thumbprint"]
    cases = [
        ({"Thumbprint": pending, "Services": "IIS"}, "no private key"),
        ({"Thumbprint": "00" * 20, "Services": "IIS"}, "couldn't be found"),
        ({"Thumbprint": pending, "Services": "HTTP"}, "'HTTP' is not a valid service"),
    ]
    for parameters, message in cases:
        result = session.invoke(Command("Enable-ExchangeCertificate", parameters))  # type: ignore[arg-type]
        assert not result.ok
        assert message in result.errors[0].message


def installed(session: InProcessSession, server: str = "EX01", **extra: object) -> str:
    """Create a request, import its issued certificate and return the thumbprint."""
    pem = request(session, server, **extra)
    result = session.invoke(
        Command("Import-ExchangeCertificate", {"FileData": sign(pem), "Server": server})
    )
    assert result.ok, result.errors
    return str(result.output[0]["Thumbprint"])


def export(session: InProcessSession, thumbprint: str, password: object) -> object:
    return session.invoke(
        Command(
            "Export-ExchangeCertificate",
            {
                "Thumbprint": thumbprint,
                "Server": "EX01",
                "BinaryEncoded": Switch(),
                "Password": password,
            },  # type: ignore[dict-item]
        )
    )


def test_export_and_import_pfx_carry_the_key(session: InProcessSession) -> None:
    thumbprint = installed(session, PrivateKeyExportable=True)
    result = export(session, thumbprint, Secret("one-time-pw"))
    assert result.ok, result.errors
    data = result.output[0]["FileData"]
    key, certificate, _ = pkcs12.load_key_and_certificates(data, b"one-time-pw")
    assert key is not None
    assert certificate is not None

    imported = session.invoke(
        Command(
            "Import-ExchangeCertificate",
            {"FileData": data, "Password": Secret("one-time-pw"), "Server": "EX02"},
        )
    )
    assert imported.ok, imported.errors
    (copy,) = certificates(session, "EX02")
    assert copy["Thumbprint"] == thumbprint
    assert copy["HasPrivateKey"] is True
    assert copy["PrivateKeyExportable"] is False


def test_export_refuses_a_key_created_not_exportable(session: InProcessSession) -> None:
    thumbprint = installed(session)
    result = export(session, thumbprint, Secret("one-time-pw"))
    assert not result.ok
    assert "couldn't be exported as PKCS-12" in str(result.errors[0])


def test_password_must_be_a_secure_string(session: InProcessSession) -> None:
    thumbprint = installed(session, PrivateKeyExportable=True)
    result = export(session, thumbprint, "plain-text-pw")
    assert not result.ok
    message = str(result.errors[0])
    assert 'to type "System.Security.SecureString"' in message
    assert "plain-text-pw" not in message


def test_import_pfx_with_a_wrong_password_fails(session: InProcessSession) -> None:
    thumbprint = installed(session, PrivateKeyExportable=True)
    data = export(session, thumbprint, Secret("right")).output[0]["FileData"]  # type: ignore[attr-defined]
    result = session.invoke(
        Command(
            "Import-ExchangeCertificate",
            {"FileData": data, "Password": Secret("wrong"), "Server": "EX02"},
        )
    )
    assert not result.ok
    assert "password is wrong" in str(result.errors[0])
    assert certificates(session, "EX02") == []
