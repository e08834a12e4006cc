"""Host name matching against certificate names."""

from __future__ import annotations

import pytest

from exchange_agent.autodiscover import match_host


@pytest.mark.parametrize(
    ("name", "certificate_names"),
    [
        ("mail.contoso.com", ["mail.contoso.com"]),
        ("MAIL.Contoso.COM", ["mail.contoso.com"]),
        ("mail.contoso.com.", ["mail.contoso.com"]),
        ("mail.contoso.com", ["Mail.Contoso.Com."]),
        ("mail.contoso.com", ["*.contoso.com"]),
        ("mail.contoso.com", ["*.CONTOSO.com."]),
        ("mail.bücher.de", ["mail.xn--bcher-kva.de"]),
        ("mail.xn--bcher-kva.de", ["*.bücher.de"]),
    ],
)
def test_match_host_covered(name: str, certificate_names: list[str]) -> None:
    match = match_host(name, certificate_names)

    assert match.covered
    assert match.covered_by is not None


@pytest.mark.parametrize(
    ("name", "certificate_names"),
    [
        ("a.b.contoso.com", ["*.contoso.com"]),
        ("contoso.com", ["*.contoso.com"]),
        ("mail.contoso.com", ["mail.contoso.com.evil.example"]),
        ("mail.contoso.com", ["contoso.com"]),
        ("mail.contoso.com", ["ail.contoso.com"]),
        ("mail.contoso.com", ["m*.contoso.com"]),
        ("mail.contoso.com", ["*.*.com"]),
        ("mail.contoso.com", []),
        ("mail.contoso.com", ["192.0.2.1", ""]),
    ],
)
def test_match_host_not_covered(name: str, certificate_names: list[str]) -> None:
    assert not match_host(name, certificate_names).covered


def test_match_host_near_miss_is_hint_only() -> None:
    match = match_host("autodiscover.contoso.com", ["mail.contoso.com", "autdiscover.contoso.com"])

    assert not match.covered
    assert match.near_miss == "autdiscover.contoso.com"


def test_match_host_no_hint_for_unrelated_names() -> None:
    match = match_host("autodiscover.contoso.com", ["owa.fabrikam.net"])

    assert match.near_miss is None


def test_match_host_reports_normalised_name() -> None:
    match = match_host("Autodiscover.Contoso.com.", ["autodiscover.contoso.com"])

    assert match.name == "autodiscover.contoso.com"
    assert match.covered_by == "autodiscover.contoso.com"


@pytest.mark.parametrize("bad", ["", ".", "bad..name", "-mail.contoso.com"])
def test_match_host_rejects_invalid_name(bad: str) -> None:
    with pytest.raises(ValueError, match=r"host name|not a valid"):
        match_host(bad, ["mail.contoso.com"])
