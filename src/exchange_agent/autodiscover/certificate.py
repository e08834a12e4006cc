"""Facts about an Exchange certificate, read from its DER bytes with ``cryptography``.

Over remote PowerShell, ``Get-ExchangeCertificate`` objects arrive deserialised: the
``X509Certificate2`` members that are computed on the server (``DnsNameList``, key objects)
are not reliably present, but ``RawData`` (a byte array) is. Every name, key and date here is
therefore parsed from ``RawData``; only ``Services`` and ``Status`` come from the cmdlet.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID

from exchange_agent.errors import ExchangeAgentError

__all__ = ["CertificateInfo", "CertificateParseError", "certificate_info"]


class CertificateParseError(ExchangeAgentError, ValueError):
    """Certificate bytes that ``cryptography`` cannot read as a DER X.509 certificate."""


@dataclass(frozen=True)
class CertificateInfo:
    """One certificate, with the facts the Autodiscover audit checks.

    Attributes:
        thumbprint: SHA-1 of the DER bytes in upper-case hex, as Exchange prints it.
        subject: The subject in RFC 4514 form.
        issuer: The issuer in RFC 4514 form.
        dns_names: DNS names of the subject alternative name extension, then the subject's
            common name when the extension is missing.
        key_type: ``RSA``, ``EC``, ``DSA``, ``Ed25519``, ``Ed448`` or ``unknown``.
        key_size: Public key size in bits.
        not_before: Start of validity, UTC.
        not_after: End of validity, UTC.
        self_signed: True when the issuer is the subject and the certificate's own key
            verifies its signature.
        services: Services from the cmdlet's ``Services`` property, such as ``IIS``.
        status: The cmdlet's ``Status`` (``Valid``, ``PendingRequest``...), or None.
    """

    thumbprint: str
    subject: str
    issuer: str
    dns_names: tuple[str, ...]
    key_type: str
    key_size: int
    not_before: datetime
    not_after: datetime
    self_signed: bool
    services: frozenset[str] = frozenset()
    status: str | None = None

    @property
    def has_iis(self) -> bool:
        """True when the certificate is bound to IIS, so it serves Autodiscover and OWA."""
        return "IIS" in self.services


def _key_facts(key: object) -> tuple[str, int]:
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC", key.key_size
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456
    return "unknown", 0


def _dns_names(certificate: x509.Certificate) -> tuple[str, ...]:
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        # Without a SAN extension, clients fall back to the subject's common name.
        common = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return tuple(str(attribute.value) for attribute in common)
    return tuple(san.value.get_values_for_type(x509.DNSName))


def _is_self_signed(certificate: x509.Certificate) -> bool:
    if certificate.issuer != certificate.subject:
        return False
    try:
        certificate.verify_directly_issued_by(certificate)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def _services(value: str | Iterable[str] | None) -> frozenset[str]:
    # Exchange prints AllowedServices as a flags enum ("IMAP, POP, IIS, SMTP") but a
    # deserialised object may carry a list; both forms are accepted.
    if value is None:
        return frozenset()
    parts = value.split(",") if isinstance(value, str) else value
    return frozenset(part.strip().upper() for part in parts if part.strip())


def certificate_info(
    raw_data: bytes,
    *,
    services: str | Iterable[str] | None = None,
    status: str | None = None,
) -> CertificateInfo:
    """Parse a certificate from the DER bytes of ``Get-ExchangeCertificate``'s ``RawData``.

    Raises:
        CertificateParseError: ``raw_data`` is not a DER X.509 certificate.
    """
    try:
        certificate = x509.load_der_x509_certificate(raw_data)
    except ValueError as error:
        raise CertificateParseError(
            f"expected the DER bytes of an X.509 certificate in RawData, found "
            f"{len(raw_data)} bytes that do not parse ({error})"
        ) from None

    key_type, key_size = _key_facts(certificate.public_key())
    return CertificateInfo(
        thumbprint=hashlib.sha1(raw_data).hexdigest().upper(),  # noqa: S324  (Exchange's id)
        subject=certificate.subject.rfc4514_string(),
        issuer=certificate.issuer.rfc4514_string(),
        dns_names=_dns_names(certificate),
        key_type=key_type,
        key_size=key_size,
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        self_signed=_is_self_signed(certificate),
        services=_services(services),
        status=status,
    )
