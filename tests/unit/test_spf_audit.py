"""SPF evaluation of device addresses against zone data served from 127.0.0.1."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pydantic
import pytest
import spf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from exchange_agent.remote.session import Session
from exchange_agent.spf import SpfResolver, check_direct_send, evaluate_spf, use_resolver
from exchange_agent.tasks.base import TaskContext
from exchange_agent.tasks.spf import SpfArgs, SpfTask
from support.dns_server import LoopbackDnsServer


def txt(record: str) -> tuple[str, str]:
    # A TXT character-string has at most 255 octets, so long records are split into several
    # strings, which SPF joins without spaces (RFC 7208 section 3.3).
    chunks = [record[start : start + 255] for start in range(0, len(record), 255)]
    return ("TXT", " ".join(f'"{chunk}"' for chunk in chunks))


ZONE: dict[str, list[tuple[str, str]]] = {
    "contoso.com": [txt("v=spf1 ip4:192.0.2.0/28 include:_spf.contoso.com -all")],
    "_spf.contoso.com": [txt("v=spf1 ip4:198.51.100.7 include:_spf2.contoso.com ~all")],
    "_spf2.contoso.com": [txt("v=spf1 ip6:2001:db8:25::/48 -all")],
    "soft.example": [txt("v=spf1 mx ~all")],
    "mx.soft.example": [("A", "203.0.113.5")],
    "neutral.example": [txt("v=spf1 ip4:203.0.113.9")],
    "redirect.example": [txt("v=spf1 ip4:203.0.113.20 redirect=contoso.com")],
    "nospf.example": [txt("google-site-verification=abc")],
    "twice.example": [txt("v=spf1 -all"), txt("v=spf1 ~all")],
    "broken.example": [txt("v=spf1 ip4:300.1.1.1 -all")],
    "loop.example": [
        txt("v=spf1 " + " ".join(f"include:l{n}.loop.example" for n in range(11)) + " -all")
    ],
    "deny.example": [txt("v=spf1 -ip4:192.0.2.50 ip4:192.0.2.0/24 -all")],
    "late.example": [
        txt(
            "v=spf1 ip4:192.0.2.60 " + " ".join(f"a:h{n}.late.example" for n in range(12)) + " -all"
        )
    ],
    "dnsfail.example": [txt("v=spf1 include:broken-dns.example -all")],
}
for n in range(11):
    ZONE[f"l{n}.loop.example"] = [txt("v=spf1 ip4:203.0.113.250 -all")]
for n in range(12):
    ZONE[f"h{n}.late.example"] = [("A", "203.0.113.251")]
ZONE["soft.example"].append(("MX", "10 mx.soft.example."))


@pytest.fixture(scope="module")
def dns_server() -> Iterator[LoopbackDnsServer]:
    with LoopbackDnsServer(ZONE, servfail=frozenset({"broken-dns.example"})) as server:
        yield server


@pytest.fixture
def resolver(dns_server: LoopbackDnsServer) -> SpfResolver:
    return SpfResolver(("127.0.0.1",), port=dns_server.port, timeout=2.0)


def test_address_in_top_level_ip4(resolver: SpfResolver) -> None:
    report = evaluate_spf("contoso.com", ["192.0.2.5"], resolver)
    verdict = report.verdicts[0]
    assert verdict.result == "pass"
    assert verdict.mechanism == "ip4:192.0.2.0/28"
    assert verdict.fix == ""
    assert report.passed
    assert report.proposed_record is None


def test_include_chain_passes_ipv6(resolver: SpfResolver) -> None:
    report = evaluate_spf("contoso.com", ["2001:DB8:25::10"], resolver)
    verdict = report.verdicts[0]
    assert verdict.address == "2001:db8:25::10"
    assert verdict.result == "pass"
    assert verdict.mechanism == "include:_spf.contoso.com"


def test_hard_fail_proposes_ip4_before_all(resolver: SpfResolver) -> None:
    report = evaluate_spf("contoso.com", ["192.0.2.99", "192.0.2.1"], resolver)
    failed, passed = report.verdicts
    assert failed.result == "fail"
    assert failed.mechanism == "-all"
    assert failed.entry == "ip4:192.0.2.99"
    assert "before the all mechanism" in failed.fix
    assert passed.result == "pass"
    assert not report.passed
    assert report.failures == (failed,)
    assert report.proposed_record == (
        "v=spf1 ip4:192.0.2.0/28 include:_spf.contoso.com ip4:192.0.2.99 -all"
    )


def test_ipv6_fail_proposes_ip6_entry(resolver: SpfResolver) -> None:
    report = evaluate_spf("contoso.com", ["2001:db8:99::1"], resolver)
    assert report.verdicts[0].result == "fail"
    assert report.verdicts[0].entry == "ip6:2001:db8:99::1"
    assert report.proposed_record is not None
    assert "ip6:2001:db8:99::1 -all" in report.proposed_record


def test_softfail_from_tilde_all(resolver: SpfResolver) -> None:
    verdict = evaluate_spf("soft.example", ["198.51.100.1"], resolver).verdicts[0]
    assert verdict.result == "softfail"
    assert verdict.mechanism == "~all"


def test_mx_mechanism_passes(resolver: SpfResolver) -> None:
    verdict = evaluate_spf("soft.example", ["203.0.113.5"], resolver).verdicts[0]
    assert verdict.result == "pass"
    assert verdict.mechanism == "mx"


def test_no_all_is_neutral(resolver: SpfResolver) -> None:
    report = evaluate_spf("neutral.example", ["198.51.100.1"], resolver)
    assert report.verdicts[0].result == "neutral"
    assert report.verdicts[0].mechanism is None
    assert report.verdicts[0].fix == (
        "add ip4:198.51.100.1 to the record, before any redirect= modifier"
    )
    assert report.proposed_record == "v=spf1 ip4:203.0.113.9 ip4:198.51.100.1"


def test_redirect_follows_target_policy(resolver: SpfResolver) -> None:
    report = evaluate_spf("redirect.example", ["192.0.2.3", "198.51.100.1"], resolver)
    through_redirect, failed = report.verdicts
    assert through_redirect.result == "pass"
    assert failed.result == "fail"
    assert report.proposed_record == (
        "v=spf1 ip4:203.0.113.20 ip4:198.51.100.1 redirect=contoso.com"
    )


def test_domain_without_record_is_none(resolver: SpfResolver) -> None:
    report = evaluate_spf("nospf.example", ["192.0.2.1"], resolver)
    assert report.record is None
    assert report.verdicts[0].result == "none"
    assert "publish a TXT record" in report.verdicts[0].fix
    assert report.proposed_record == "v=spf1 ip4:192.0.2.1 -all"


def test_unknown_domain_is_none(resolver: SpfResolver) -> None:
    assert evaluate_spf("missing.example", ["192.0.2.1"], resolver).verdicts[0].result == "none"


def test_two_records_is_permerror(resolver: SpfResolver) -> None:
    report = evaluate_spf("twice.example", ["192.0.2.1"], resolver)
    assert report.verdicts[0].result == "permerror"
    assert report.proposed_record is None


def test_invalid_ip4_is_permerror(resolver: SpfResolver) -> None:
    verdict = evaluate_spf("broken.example", ["192.0.2.1"], resolver).verdicts[0]
    assert verdict.result == "permerror"
    assert verdict.fix.startswith("correct the SPF record")


def test_more_than_ten_lookups_is_permerror(resolver: SpfResolver) -> None:
    verdict = evaluate_spf("loop.example", ["192.0.2.1"], resolver).verdicts[0]
    assert verdict.result == "permerror"
    assert "more than 10 DNS-querying terms" in verdict.fix
    assert "add ip4:192.0.2.1" in verdict.fix


def test_match_before_lookup_limit_passes(resolver: SpfResolver) -> None:
    # RFC 7208 section 4.6.4 counts lookups during evaluation, so an earlier match wins.
    assert evaluate_spf("late.example", ["192.0.2.60"], resolver).verdicts[0].result == "pass"
    assert evaluate_spf("late.example", ["192.0.2.61"], resolver).verdicts[0].result == "permerror"


def test_fix_before_negative_mechanism(resolver: SpfResolver) -> None:
    report = evaluate_spf("deny.example", ["192.0.2.50"], resolver)
    verdict = report.verdicts[0]
    assert verdict.result == "fail"
    assert verdict.mechanism == "-ip4:192.0.2.50"
    assert "before -ip4:192.0.2.50" in verdict.fix
    assert report.proposed_record == "v=spf1 ip4:192.0.2.50 -ip4:192.0.2.50 ip4:192.0.2.0/24 -all"


def test_servfail_in_include_is_temperror(resolver: SpfResolver) -> None:
    report = evaluate_spf("dnsfail.example", ["192.0.2.1"], resolver)
    assert report.verdicts[0].result == "temperror"
    assert report.proposed_record is None


def test_queries_reach_only_loopback_server(
    dns_server: LoopbackDnsServer, resolver: SpfResolver
) -> None:
    before = len(dns_server.queries)
    evaluate_spf("contoso.com", ["192.0.2.200"], resolver)
    asked = dns_server.queries[before:]
    assert ("contoso.com", "TXT") in asked
    assert ("_spf2.contoso.com", "TXT") in asked


def test_lookup_without_resolver_is_temperror(resolver: SpfResolver) -> None:
    with use_resolver(resolver):
        pass
    query = spf.query(i="192.0.2.1", s="postmaster@contoso.com", h="contoso.com")
    assert query.check()[0] == "temperror"


@pytest.mark.parametrize(
    ("address", "message"),
    [("192.0.2.256", "not an IPv4 or IPv6 address"), ("printer01", "not an IPv4")],
)
def test_bad_device_address_rejected(resolver: SpfResolver, address: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        evaluate_spf("contoso.com", [address], resolver)


def test_empty_domain_rejected(resolver: SpfResolver) -> None:
    with pytest.raises(ValueError, match="sender domain"):
        evaluate_spf(" . ", ["192.0.2.1"], resolver)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"nameservers": ()}, "at least one nameserver"),
        ({"nameservers": ("dns.contoso.com",)}, "not an IP address"),
        ({"nameservers": ("127.0.0.1",), "port": 0}, "between 1 and 65535"),
        ({"nameservers": ("127.0.0.1",), "timeout": 0}, "positive"),
    ],
)
def test_resolver_settings_validated(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SpfResolver(**kwargs)  # type: ignore[arg-type]


def spf_context() -> TaskContext:
    def no_session(endpoint: str) -> Session:
        raise AssertionError(f"the spf task opened the {endpoint} endpoint")

    return TaskContext(host="EX01", check_mode=False, diff=False, vars={}, open_session=no_session)


def test_spf_task_fails_on_drift(dns_server: LoopbackDnsServer) -> None:
    args = SpfArgs(
        domain="contoso.com",
        addresses=["192.0.2.1", "192.0.2.99"],
        nameservers=["127.0.0.1"],
        port=dns_server.port,
    )
    result = SpfTask(args).run(spf_context())
    assert result.status == "failed"
    assert "1 of 2 addresses" in result.message
    assert "ip4:192.0.2.99 -all" in result.message
    assert result.warnings == [
        "192.0.2.99: fail by -all; fix: add ip4:192.0.2.99 before the all mechanism"
    ]
    assert result.data["addresses"][1]["result"] == "fail"
    assert result.data["passed"] is False


def test_spf_task_warns_when_not_failing(dns_server: LoopbackDnsServer) -> None:
    args = SpfArgs(
        domain="soft.example",
        addresses=["198.51.100.1"],
        nameservers=["127.0.0.1"],
        port=dns_server.port,
        fail_on_drift=False,
    )
    result = SpfTask(args).run(spf_context())
    assert result.status == "ok"
    assert len(result.warnings) == 1
    assert result.warnings[0].startswith("198.51.100.1: softfail by ~all")


def test_spf_task_ok_when_all_pass(dns_server: LoopbackDnsServer) -> None:
    args = SpfArgs(
        domain="contoso.com",
        addresses=["192.0.2.1", "2001:db8:25::1"],
        nameservers=["127.0.0.1"],
        port=dns_server.port,
    )
    result = SpfTask(args).run(spf_context())
    assert result.status == "ok"
    assert result.warnings == []
    assert SpfTask.endpoints == ()


@pytest.mark.parametrize("field", ["addresses", "nameservers"])
def test_spf_task_args_reject_bad_address(field: str) -> None:
    values = {"domain": "contoso.com", "addresses": ["192.0.2.1"], "nameservers": ["127.0.0.1"]}
    values[field] = ["not-an-ip"]
    with pytest.raises(pydantic.ValidationError, match="not an IP address"):
        SpfArgs(**values)  # type: ignore[arg-type]


def test_check_direct_send_for_advisor(dns_server: LoopbackDnsServer) -> None:
    report, lines = check_direct_send(
        "soft.example", ["203.0.113.5", "198.51.100.1"], ["127.0.0.1"], port=dns_server.port
    )
    assert [v.result for v in report.verdicts] == ["pass", "softfail"]
    assert lines == [
        "198.51.100.1: softfail by ~all; fix: add ip4:198.51.100.1 before the all mechanism"
    ]
    assert report.proposed_record == "v=spf1 mx ip4:198.51.100.1 ~all"
