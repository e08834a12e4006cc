"""Certificate facts parsed from DER bytes."""

from __future__ import annotations

import hashlib
import sys
from datetime import timedelta
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from exchange_agent.autodiscover import CertificateParseError, certificate_info
from support.certs import NOW, make_certificate


def test_certificate_info_reads_names_and_issuer() -> None:
    raw = make_certificate("mail.contoso.com", ["mail.contoso.com", "autodiscover.contoso.com"])

    info = certificate_info(raw, services="IMAP, POP, IIS, SMTP", status="Valid")

    assert info.subject == "CN=mail.contoso.com"
    assert info.issuer == "CN=Contoso Issuing CA 01"
    assert info.dns_names == ("mail.contoso.com", "autodiscover.contoso.com")
    assert info.key_type == "RSA"
    assert info.key_size == 2048
    assert not info.self_signed
    assert info.services == frozenset({"IMAP", "POP", "IIS", "SMTP"})
    assert info.has_iis
    assert info.status == "Valid"


def test_certificate_info_thumbprint_is_sha1_upper_hex() -> None:
    raw = make_certificate("mail.contoso.com", ["mail.contoso.com"])

    info = certificate_info(raw)

    assert info.thumbprint == hashlib.sha1(raw).hexdigest().upper()
    assert len(info.thumbprint) == 40
    assert info.thumbprint == info.thumbprint.upper()


def test_certificate_info_validity_is_utc() -> None:
    raw = make_certificate(
        "mail.contoso.com", ["mail.contoso.com"], not_after=NOW + timedelta(days=9)
    )

    info = certificate_info(raw)

    assert info.not_after == NOW + timedelta(days=9)
    assert info.not_before == NOW - timedelta(days=30)


def test_certificate_info_self_signed() -> None:
    raw = make_certificate("EX03", ["EX03", "ex03.contoso.local"], self_signed=True)

    info = certificate_info(raw, services=["IIS", "SMTP"])

    assert info.self_signed
    assert info.issuer == info.subject
    assert info.has_iis


def test_certificate_info_foreign_signer_not_self_signed() -> None:
    # Subject equals issuer text, but a different key signed it.
    raw = make_certificate("Contoso Issuing CA 01", ["mail.contoso.com"])

    info = certificate_info(raw)

    assert info.issuer == info.subject
    assert not info.self_signed


def test_certificate_info_without_san_uses_common_name() -> None:
    raw = make_certificate("legacy.contoso.com", None)

    assert certificate_info(raw).dns_names == ("legacy.contoso.com",)


def test_certificate_info_small_and_ec_keys() -> None:
    small = certificate_info(make_certificate("a.contoso.com", ["a.contoso.com"], key_bits=1024))
    elliptic = certificate_info(make_certificate("b.contoso.com", ["b.contoso.com"], ec_key=True))

    assert small.key_size == 1024
    assert elliptic.key_type == "EC"
    assert elliptic.key_size == 256


def test_certificate_info_no_services() -> None:
    info = certificate_info(make_certificate("a.contoso.com", ["a.contoso.com"]), services=None)

    assert info.services == frozenset()
    assert not info.has_iis


@pytest.mark.parametrize("raw", [b"", b"not a certificate", b"\x30\x03\x02\x01\x01"])
def test_certificate_info_rejects_bad_bytes(raw: bytes) -> None:
    with pytest.raises(CertificateParseError, match=r"DER bytes of an X\.509 certificate"):
        certificate_info(raw)
