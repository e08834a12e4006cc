"""URL planning per Exchange version."""

from __future__ import annotations

import pytest

from exchange_agent.autodiscover import ExchangeVersion, VersionParseError, plan_urls, scp_uri

E2010 = ExchangeVersion.parse("Version 14.3 (Build 123.4)")
E2013_RTM = ExchangeVersion.parse("Version 15.0 (Build 516.32)")
E2013_SP1 = ExchangeVersion.parse("Version 15.0 (Build 847.32)")
E2016 = ExchangeVersion.parse("Version 15.1 (Build 2507.6)")
E2019 = ExchangeVersion.parse("Version 15.2 (Build 1118.7)")


def test_version_parse_fields() -> None:
    assert ExchangeVersion(15, 2, 1118, 7) == E2019
    assert E2010 < E2013_RTM < E2013_SP1 < E2016 < E2019


@pytest.mark.parametrize("text", ["", "15.2.1118.7", "Version 15 (Build 1)", "Exchange 2019"])
def test_version_parse_rejects_other_text(text: str) -> None:
    with pytest.raises(VersionParseError, match="AdminDisplayVersion"):
        ExchangeVersion.parse(text)


@pytest.mark.parametrize(
    ("version", "noun", "product"),
    [
        (E2010, "ClientAccessServer", "Exchange 2010"),
        (E2013_SP1, "ClientAccessServer", "Exchange 2013"),
        (E2016, "ClientAccessService", "Exchange 2016"),
        (E2019, "ClientAccessService", "Exchange 2019 or later (15.2)"),
    ],
)
def test_scp_cmdlet_per_version(version: ExchangeVersion, noun: str, product: str) -> None:
    assert version.scp_cmdlet_noun == noun
    assert version.product == product


def test_plan_urls_2019() -> None:
    plan = plan_urls(E2019, "Mail.Contoso.com.")

    kinds = [directory.kind for directory in plan.virtual_directories]
    assert kinds == ["Owa", "Ecp", "WebServices", "ActiveSync", "Oab", "Mapi"]
    ews = plan.virtual_directories[2]
    assert ews.internal_url == "https://mail.contoso.com/EWS/Exchange.asmx"
    assert ews.external_url == "https://mail.contoso.com/EWS/Exchange.asmx"
    assert ews.identity("EX01") == "EX01\\EWS (Default Web Site)"
    assert plan.outlook_anywhere.internal_hostname == "mail.contoso.com"
    assert plan.outlook_anywhere.external_hostname == "mail.contoso.com"
    assert plan.host_names() == frozenset({"mail.contoso.com"})


def test_plan_urls_2010_has_autodiscover_urls_no_mapi() -> None:
    plan = plan_urls(E2010, "mail.contoso.com")

    kinds = [directory.kind for directory in plan.virtual_directories]
    assert "Mapi" not in kinds
    assert kinds[-1] == "Autodiscover"
    assert plan.virtual_directories[-1].internal_url == (
        "https://mail.contoso.com/Autodiscover/Autodiscover.xml"
    )
    assert plan.outlook_anywhere.internal_hostname is None


def test_plan_urls_2013_mapi_from_sp1() -> None:
    rtm = [d.kind for d in plan_urls(E2013_RTM, "mail.contoso.com").virtual_directories]
    sp1 = [d.kind for d in plan_urls(E2013_SP1, "mail.contoso.com").virtual_directories]

    assert "Mapi" not in rtm
    assert "Mapi" in sp1
    assert "Autodiscover" not in sp1


def test_plan_urls_split_namespace_and_internal_only() -> None:
    split = plan_urls(E2016, "mail.contoso.com", internal_namespace="ex.corp.contoso.com")
    internal_only = plan_urls(E2016, "mail.contoso.com", external=False)

    owa = split.virtual_directories[0]
    assert owa.internal_url == "https://ex.corp.contoso.com/owa"
    assert owa.external_url == "https://mail.contoso.com/owa"
    assert split.host_names() == frozenset({"mail.contoso.com", "ex.corp.contoso.com"})
    assert all(d.external_url is None for d in internal_only.virtual_directories)
    assert internal_only.outlook_anywhere.external_hostname is None


@pytest.mark.parametrize("namespace", ["*.contoso.com", "", "bad..name"])
def test_plan_urls_rejects_bad_namespace(namespace: str) -> None:
    with pytest.raises(ValueError, match=r"wildcard|not a valid|empty"):
        plan_urls(E2019, namespace)


def test_scp_uri_normalises_host() -> None:
    assert scp_uri("AutoDiscover.Contoso.com.") == (
        "https://autodiscover.contoso.com/Autodiscover/Autodiscover.xml"
    )
