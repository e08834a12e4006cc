"""A throwaway certification authority for the lab, to issue certificates for requests.

``certificate_request`` writes a request that a real organization sends to its CA. In the lab,
``exchange-agent lab sign`` plays that CA. It issues a certificate with the request's subject,
names and key, signed by a CA whose key and certificate are kept next to the lab state. The
certificate and the CA's go to a PKCS #7 file (``.p7b``) or a PEM bundle.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from exchange_agent.errors import ConfigError

__all__ = ["LabAuthority", "chain_bytes", "issue"]

_CA_NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "exchange-agent Lab Root CA")])


class LabAuthority:
    """The lab CA: its key and certificate, created on first use in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.key_path = directory / "lab-ca.key"
        self.certificate_path = directory / "lab-ca.pem"
        if self.key_path.exists() and self.certificate_path.exists():
            key = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
            if not isinstance(key, rsa.RSAPrivateKey):
                raise ConfigError(f"{self.key_path} is not an RSA key; delete it to start over")
            self.key = key
            self.certificate = x509.load_pem_x509_certificate(self.certificate_path.read_bytes())
        else:
            directory.mkdir(parents=True, exist_ok=True)
            self.key, self.certificate = self._create()

    def _create(self) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
        """Create the CA's key and certificate and write them, the key readable by its owner."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        now = datetime.now(UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(_CA_NAME)
            .issuer_name(_CA_NAME)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(key, hashes.SHA256())
        )
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        descriptor = os.open(self.key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(key_pem)
        self.certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        return key, certificate


def issue(authority: LabAuthority, request_data: bytes, days: int) -> list[x509.Certificate]:
    """Issue a certificate for a PEM or DER request; return it followed by the CA certificate.

    Raises:
        ConfigError: The data is not a certificate request, or its signature is invalid.
    """
    try:
        if b"-----BEGIN" in request_data:
            request = x509.load_pem_x509_csr(request_data)
        else:
            request = x509.load_der_x509_csr(request_data)
    except ValueError:
        raise ConfigError("the file is not a certificate request (PEM or DER PKCS #10)") from None
    if not request.is_signature_valid:
        raise ConfigError("the certificate request's signature is invalid")
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(request.subject)
        .issuer_name(authority.certificate.subject)
        .public_key(request.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    try:
        names = request.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        pass
    else:
        builder = builder.add_extension(names.value, critical=False)
    certificate = builder.sign(authority.key, hashes.SHA256())
    return [certificate, authority.certificate]


def chain_bytes(chain: list[x509.Certificate], path: Path) -> bytes:
    """Return ``chain`` as PKCS #7 DER for a ``.p7b`` or ``.p7c`` path, else as PEM."""
    if path.suffix.lower() in (".p7b", ".p7c"):
        return pkcs7.serialize_certificates(chain, serialization.Encoding.DER)
    return b"".join(item.public_bytes(serialization.Encoding.PEM) for item in chain)
