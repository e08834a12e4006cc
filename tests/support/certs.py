"""Real X.509 certificates built with ``cryptography`` for tests and the lab."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


@functools.cache
def rsa_key(bits: int, index: int = 0) -> rsa.RSAPrivateKey:
    """Return an RSA key of ``bits``, cached so each size is generated once per run."""
    del index  # Only part of the cache key, to get distinct keys of one size.
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_certificate(
    subject: str,
    names: list[str] | None = None,
    *,
    key_bits: int = 2048,
    self_signed: bool = False,
    issuer: str = "Contoso Issuing CA 01",
    not_after: datetime | None = None,
    not_before: datetime | None = None,
    ec_key: bool = False,
) -> bytes:
    """Build a certificate and return its DER bytes, as ``RawData`` carries them.

    With ``self_signed`` the certificate is signed by its own key and issuer is its subject;
    otherwise a cached CA key named ``issuer`` signs it.
    """
    key = ec.generate_private_key(ec.SECP256R1()) if ec_key else rsa_key(key_bits, 1)
    signer = key if self_signed else rsa_key(2048, 2)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(subject if self_signed else issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or NOW - timedelta(days=30))
        .not_valid_after(not_after or NOW + timedelta(days=365))
    )
    if names is not None:
        san = x509.SubjectAlternativeName([x509.DNSName(name) for name in names])
        builder = builder.add_extension(san, critical=False)
    certificate = builder.sign(signer, hashes.SHA256())
    return certificate.public_bytes(serialization.Encoding.DER)


CA_NAME = "Contoso Test Root CA"


@functools.cache
def ca_certificate() -> x509.Certificate:
    """Return the self-signed CA that :func:`issue_pem` signs with."""
    key = rsa_key(2048, 3)
    # The agent checks issued certificates against the real clock, so these dates are not NOW's.
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(CA_NAME))
        .issuer_name(_name(CA_NAME))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


def issue_pem(public_key: rsa.RSAPublicKey, names: list[str], *, days: int = 365) -> bytes:
    """Issue a certificate for ``public_key`` and return it with the CA as a PEM bundle.

    The certificate is valid from two days ago for ``days`` days from now, by the real clock.
    """
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(names[0]))
        .issuer_name(_name(CA_NAME))
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=2))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .sign(rsa_key(2048, 3), hashes.SHA256())
    )
    chain = (certificate, ca_certificate())
    return b"".join(item.public_bytes(serialization.Encoding.PEM) for item in chain)
