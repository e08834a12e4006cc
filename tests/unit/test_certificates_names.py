"""SAN derivation for certificate requests."""

from __future__ import annotations

import pytest

from exchange_agent.certificates import (
    AcceptedDomainInfo,
    derive_domain_names,
    normalise_host,
)


def test_derive_adds_autodiscover_per_authoritative_domain() -> None:
    domains = [
        AcceptedDomainInfo("contoso.com"),
        AcceptedDomainInfo("Fabrikam.COM."),
        AcceptedDomainInfo("partner.example", "ExternalRelay"),
        AcceptedDomainInfo("hosted.example", "InternalRelay"),
    ]
    names = derive_domain_names(["Mail.Contoso.com", "mail.contoso.com."], domains)
    assert names == [
        "mail.contoso.com",
        "autodiscover.contoso.com",
        "autodiscover.fabrikam.com",
    ]


def test_derive_skips_wildcard_accepted_domain() -> None:
    names = derive_domain_names(["mail.contoso.com"], [AcceptedDomainInfo("*.contoso.com")])
    assert names == ["mail.contoso.com"]


def test_derive_keeps_namespace_that_is_autodiscover() -> None:
    names = derive_domain_names(
        ["autodiscover.contoso.com", "mail.contoso.com"], [AcceptedDomainInfo("contoso.com")]
    )
    assert names == ["autodiscover.contoso.com", "mail.contoso.com"]


def test_derive_idn_domain_to_ascii() -> None:
    names = derive_domain_names([], [AcceptedDomainInfo("bücher.example")])
    assert names == ["autodiscover.xn--bcher-kva.example"]


@pytest.mark.parametrize("bad", ["", " ", "mail..contoso.com", "-mail.contoso.com", "a.-b.com"])
def test_normalise_rejects_invalid_names(bad: str) -> None:
    with pytest.raises(ValueError, match="host name"):
        normalise_host(bad)
