"""Checks of issued certificates against their request, built with a throwaway CA."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from exchange_agent.certificates import (
    CertificateFileError,
    certificate_facts,
    check_issued_certificate,
    load_certificates,
    load_request,
    request_facts,
    select_issued_certificate,
)

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
NAMES = ["mail.contoso.com", "autodiscover.contoso.com"]


def make_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


CA_KEY = make_key()
CA = (
    x509.CertificateBuilder()
    .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Throwaway CA")]))
    .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Throwaway CA")]))
    .public_key(CA_KEY.public_key())
    .serial_number(1)
    .not_valid_before(NOW - timedelta(days=365))
    .not_valid_after(NOW + timedelta(days=3650))
    .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    .sign(CA_KEY, hashes.SHA256())
)
REQUEST_KEY = make_key()


def make_request(key: rsa.RSAPrivateKey, names: list[str]) -> x509.CertificateSigningRequest:
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
        )
        .sign(key, hashes.SHA256())
    )


def issue(
    key: rsa.RSAPrivateKey,
    names: list[str],
    *,
    start: datetime = NOW - timedelta(days=1),
    days: int = 365,
) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(CA.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(CA_KEY, hashes.SHA256())
    )


REQUEST = request_facts(make_request(REQUEST_KEY, NAMES))


def test_matching_certificate_passes() -> None:
    facts = certificate_facts(issue(REQUEST_KEY, NAMES))
    assert check_issued_certificate(facts, REQUEST, NAMES, NOW) == []


def test_certificate_of_other_key_rejected() -> None:
    facts = certificate_facts(issue(make_key(), NAMES))
    problems = check_issued_certificate(facts, REQUEST, NAMES, NOW)
    assert len(problems) == 1
    assert "does not match the pending request's key" in problems[0]


def test_missing_name_reported() -> None:
    facts = certificate_facts(issue(REQUEST_KEY, ["mail.contoso.com"]))
    problems = check_issued_certificate(facts, REQUEST, NAMES, NOW)
    assert problems == [
        "names autodiscover.contoso.com are not covered by the certificate's names "
        "(mail.contoso.com)"
    ]


def test_wildcard_covers_one_level_only() -> None:
    facts = certificate_facts(issue(REQUEST_KEY, ["*.contoso.com"]))
    assert check_issued_certificate(facts, None, NAMES, NOW) == []
    problems = check_issued_certificate(facts, None, ["contoso.com"], NOW)
    assert len(problems) == 1
    assert "contoso.com are not covered" in problems[0]


def test_near_miss_named_as_hint() -> None:
    facts = certificate_facts(issue(REQUEST_KEY, ["mail.contoso.com", "autdiscover.contoso.com"]))
    problems = check_issued_certificate(facts, None, NAMES, NOW)
    assert len(problems) == 1
    assert "autodiscover.contoso.com are not covered" in problems[0]
    assert problems[0].endswith("note that autdiscover.contoso.com is not autodiscover.contoso.com")


def test_expired_certificate_rejected() -> None:
    facts = certificate_facts(issue(REQUEST_KEY, NAMES, start=NOW - timedelta(days=400)))
    problems = check_issued_certificate(facts, REQUEST, NAMES, NOW)
    assert len(problems) == 1
    assert problems == ["the certificate expired on 2026-10-30 12:00 UTC"]


def test_not_yet_valid_rejected() -> None:
    facts = certificate_facts(issue(REQUEST_KEY, NAMES, start=NOW + timedelta(days=2)))
    problems = check_issued_certificate(facts, REQUEST, NAMES, NOW)
    assert problems == ["the certificate is not valid before 2026-12-06 12:00 UTC"]


def test_small_key_rejected() -> None:
    small = make_key(1024)
    facts = certificate_facts(issue(small, NAMES))
    problems = check_issued_certificate(facts, None, NAMES, NOW)
    assert problems == ["the key has 1024 bits; at least 2048 are required"]


def test_all_problems_listed_together() -> None:
    facts = certificate_facts(
        issue(make_key(1024), ["other.example"], start=NOW - timedelta(days=900))
    )
    assert len(check_issued_certificate(facts, REQUEST, NAMES, NOW)) == 4


def test_facts_thumbprint_is_sha1_upper_hex() -> None:
    certificate = issue(REQUEST_KEY, NAMES)
    facts = certificate_facts(certificate)
    der = certificate.public_bytes(serialization.Encoding.DER)
    assert facts.thumbprint == hashes_sha1(der)
    assert facts.key_size == 2048
    assert facts.dns_names == tuple(NAMES)


def hashes_sha1(data: bytes) -> str:
    digest = hashes.Hash(hashes.SHA1())
    digest.update(data)
    return digest.finalize().hex().upper()


@pytest.mark.parametrize("form", ["pem-bundle", "p7b-der", "p7b-pem", "der"])
def test_load_certificates_formats(form: str) -> None:
    leaf = issue(REQUEST_KEY, NAMES)
    chain = [leaf] if form == "der" else [CA, leaf]
    data = {
        "pem-bundle": b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain),
        "p7b-der": pkcs7.serialize_certificates(chain, serialization.Encoding.DER),
        "p7b-pem": pkcs7.serialize_certificates(chain, serialization.Encoding.PEM),
        "der": leaf.public_bytes(serialization.Encoding.DER),
    }[form]
    loaded = load_certificates(data)
    assert len(loaded) == len(chain)
    assert select_issued_certificate(loaded, REQUEST) == leaf
    assert select_issued_certificate(loaded, None) == leaf


def test_load_certificates_rejects_garbage() -> None:
    with pytest.raises(CertificateFileError, match=r"cert\.p7b: expected a PEM or DER"):
        load_certificates(b"not a certificate", "cert.p7b")


@pytest.mark.parametrize("header", ["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST", None])
def test_load_request_forms(header: str | None) -> None:
    request = make_request(REQUEST_KEY, NAMES)
    pem = request.public_bytes(serialization.Encoding.PEM).decode()
    body = "".join(pem.splitlines()[1:-1])
    text = body if header is None else f"-----BEGIN {header}-----\n{body}\n-----END {header}-----\n"
    assert request_facts(load_request(text.encode())) == REQUEST


def test_load_request_der_and_garbage() -> None:
    der = make_request(REQUEST_KEY, NAMES).public_bytes(serialization.Encoding.DER)
    assert request_facts(load_request(der)).dns_names == tuple(NAMES)
    with pytest.raises(CertificateFileError, match="PKCS #10"):
        load_request(b"\x00\x01garbage")
