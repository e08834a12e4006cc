"""Read certificates and certificate requests with ``cryptography``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7

# Imported as a module because exchange_agent.autodiscover imports this package while it
# initialises, and a module reference resolves at call time.
from exchange_agent.autodiscover import certificate as autodiscover_certificate
from exchange_agent.errors import ExchangeAgentError

__all__ = [
    "CertificateFacts",
    "CertificateFileError",
    "RequestFacts",
    "certificate_facts",
    "load_certificates",
    "load_request",
    "request_facts",
]


class CertificateFileError(ExchangeAgentError, ValueError):
    """A certificate or request file cannot be read."""


@dataclass(frozen=True)
class CertificateFacts:
    """The facts of one certificate that the checks use.

    Attributes:
        thumbprint: SHA-1 of the DER bytes in upper-case hex, as Exchange prints it.
        subject: The subject in RFC 4514 form.
        dns_names: DNS names of the subject alternative name extension, or the subject's
            common name when the extension is missing.
        key_size: Public key size in bits.
        public_key: The SubjectPublicKeyInfo in DER, to compare keys.
        not_before: Start of validity (UTC).
        not_after: End of validity (UTC).
    """

    thumbprint: str
    subject: str
    dns_names: tuple[str, ...]
    key_size: int
    public_key: bytes
    not_before: datetime
    not_after: datetime


@dataclass(frozen=True)
class RequestFacts:
    """The facts of one PKCS #10 certificate request that the checks use."""

    subject: str
    dns_names: tuple[str, ...]
    key_size: int
    public_key: bytes


def _key_size(key: object) -> int:
    if isinstance(key, (rsa.RSAPublicKey, dsa.DSAPublicKey, ec.EllipticCurvePublicKey)):
        return key.key_size
    return 0


def _spki(key: object) -> bytes:
    return key.public_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _san_names(extensions: x509.Extensions) -> tuple[str, ...]:
    try:
        san = extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return ()
    return tuple(san.value.get_values_for_type(x509.DNSName))


def certificate_facts(certificate: x509.Certificate) -> CertificateFacts:
    """Collect the facts of ``certificate``, parsed as the Autodiscover audit parses them."""
    der = certificate.public_bytes(serialization.Encoding.DER)
    info = autodiscover_certificate.certificate_info(der)
    return CertificateFacts(
        thumbprint=info.thumbprint,
        subject=info.subject,
        dns_names=info.dns_names,
        key_size=info.key_size,
        public_key=_spki(certificate.public_key()),
        not_before=info.not_before,
        not_after=info.not_after,
    )


def request_facts(request: x509.CertificateSigningRequest) -> RequestFacts:
    """Collect the facts of ``request``."""
    key = request.public_key()
    return RequestFacts(
        subject=request.subject.rfc4514_string(),
        dns_names=_san_names(request.extensions),
        key_size=_key_size(key),
        public_key=_spki(key),
    )


def load_certificates(data: bytes, source: str = "certificate file") -> list[x509.Certificate]:
    """Read every certificate of a PEM bundle, a DER certificate or a PKCS #7 chain.

    Raises:
        CertificateFileError: ``data`` has another format or contains no certificate.
    """
    loaders = (
        x509.load_pem_x509_certificates,
        pkcs7.load_pem_pkcs7_certificates,
        pkcs7.load_der_pkcs7_certificates,
        lambda raw: [x509.load_der_x509_certificate(raw)],
    )
    for loader in loaders:
        try:
            certificates = list(loader(data))
        except ValueError:
            continue
        if certificates:
            return certificates
    raise CertificateFileError(
        f"{source}: expected a PEM or DER certificate or a PKCS #7 (.p7b) chain, found none "
        "that cryptography can read; export the issued certificate with its chain as .p7b or PEM"
    )


def load_request(data: bytes, source: str = "request file") -> x509.CertificateSigningRequest:
    """Read a PKCS #10 request in PEM (with or without header lines) or DER form.

    ``New-ExchangeCertificate -GenerateRequest`` outputs the request as Base64 text; both
    ``CERTIFICATE REQUEST`` and ``NEW CERTIFICATE REQUEST`` header lines are accepted.

    Raises:
        CertificateFileError: ``data`` is not a certificate request.
    """
    text = data.strip()
    candidates = [text]
    if not text.startswith(b"-----"):
        candidates.append(
            b"-----BEGIN CERTIFICATE REQUEST-----\n" + text + b"\n-----END CERTIFICATE REQUEST-----"
        )
    candidates = [c.replace(b"NEW CERTIFICATE REQUEST", b"CERTIFICATE REQUEST") for c in candidates]
    for candidate in candidates:
        try:
            return x509.load_pem_x509_csr(candidate)
        except ValueError:
            pass
    try:
        return x509.load_der_x509_csr(data)
    except ValueError:
        raise CertificateFileError(
            f"{source}: expected a PKCS #10 certificate request (PEM or DER), found data "
            "that cryptography cannot read"
        ) from None
