"""Evaluate a domain's SPF policy for the addresses of devices that send mail directly.

Devices that use direct send connect to Exchange's public MX endpoint without authenticating,
so a spam filter that enforces SPF judges each message by the device's IP address and the
sender domain. The evaluation itself is pyspf's (strict mode, RFC 7208): this module picks the
result apart per address and proposes the record change that makes every address pass.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, cast

import spf  # type: ignore[import-untyped]  # pyspf ships no type hints

from exchange_agent.spf.resolver import SpfResolver, use_resolver

__all__ = [
    "MAX_DNS_LOOKUPS",
    "SpfReport",
    "SpfResult",
    "SpfVerdict",
    "check_direct_send",
    "describe_failures",
    "evaluate_spf",
]

SpfResult = Literal["pass", "fail", "softfail", "neutral", "none", "permerror", "temperror"]

# RFC 7208 section 4.6.4 allows at most 10 terms that query DNS (include, a, mx, ptr, exists,
# redirect) per evaluation. pyspf returns permerror past that limit in strict mode.
MAX_DNS_LOOKUPS = spf.MAX_LOOKUP


@dataclass(frozen=True)
class SpfVerdict:
    """The SPF result for one device address.

    Attributes:
        address: The device's IP address, normalised (``2001:db8::25``).
        result: The SPF result as RFC 7208 section 2.6 names it.
        mechanism: The term that decided the result, such as ``include:spf.contoso.com`` or
            ``-all``; None when no term matched or the evaluation failed.
        explanation: pyspf's explanation of the result.
        entry: The ``ip4:`` or ``ip6:`` term that authorises the address.
        fix: What to change so that the address passes; empty when it already passes.
    """

    address: str
    result: SpfResult
    mechanism: str | None
    explanation: str
    entry: str
    fix: str

    @property
    def passed(self) -> bool:
        """True when the domain's policy authorises the address."""
        return self.result == "pass"


@dataclass(frozen=True)
class SpfReport:
    """The SPF verdicts for one sender domain.

    Attributes:
        domain: The sender (MAIL FROM) domain the devices use.
        record: The domain's published ``v=spf1`` record, or None when it has none or the
            lookup failed.
        verdicts: One verdict per device address, in the order given.
        proposed_record: The record with every missing ``ip4:``/``ip6:`` entry added, or None
            when every address passes or no single record change can fix the failures.
    """

    domain: str
    record: str | None
    verdicts: tuple[SpfVerdict, ...]
    proposed_record: str | None

    @property
    def passed(self) -> bool:
        """True when every device address passes."""
        return all(verdict.passed for verdict in self.verdicts)

    @property
    def failures(self) -> tuple[SpfVerdict, ...]:
        """The verdicts whose result is not ``pass``."""
        return tuple(verdict for verdict in self.verdicts if not verdict.passed)

    def to_dict(self) -> dict[str, Any]:
        """Convert the report into JSON-compatible data (task results, ``--format json``)."""
        return {
            "domain": self.domain,
            "record": self.record,
            "proposed_record": self.proposed_record,
            "passed": self.passed,
            "addresses": [dataclasses.asdict(verdict) for verdict in self.verdicts],
        }


def evaluate_spf(
    domain: str, addresses: Iterable[str], resolver: SpfResolver, *, helo: str | None = None
) -> SpfReport:
    """Evaluate ``domain``'s SPF policy for each device address through ``resolver`` only.

    Args:
        domain: The sender domain, such as ``contoso.com``.
        addresses: Device IPv4 or IPv6 addresses.
        resolver: The DNS servers to ask; no other resolver is ever queried.
        helo: The HELO name the devices announce, used only by ``%{h}`` macros; defaults to
            ``domain``.

    Raises:
        ValueError: ``domain`` is empty or an address is not an IP address.
    """
    domain = domain.strip().rstrip(".").lower()
    if not domain:
        raise ValueError("SPF check needs the sender domain, found an empty name")
    normalised = [_normalise(address) for address in addresses]

    with use_resolver(resolver):
        record = _published_record(domain, resolver)
        verdicts = tuple(
            _verdict(domain, address, resolver, helo or domain) for address in normalised
        )

    return SpfReport(domain, record, verdicts, _proposed_record(record, verdicts))


def _normalise(address: str) -> str:
    try:
        return str(ipaddress.ip_address(address.strip()))
    except ValueError:
        raise ValueError(
            f"device address {address!r} is not an IPv4 or IPv6 address; give the address the "
            "device sends from"
        ) from None


def _published_record(domain: str, resolver: SpfResolver) -> str | None:
    probe = spf.query(i="127.0.0.1", s=f"postmaster@{domain}", h=domain, timeout=resolver.timeout)
    try:
        record = probe.dns_spf(domain)
    except (spf.TempError, spf.PermError):
        return None
    return str(record) if record else None


def _verdict(domain: str, address: str, resolver: SpfResolver, helo: str) -> SpfVerdict:
    query = spf.query(
        i=address, s=f"postmaster@{domain}", h=helo, strict=True, timeout=resolver.timeout
    )
    result, _code, explanation = query.check()
    mechanism = str(query.mechanism) if query.mechanism else None
    entry = ("ip4:" if ipaddress.ip_address(address).version == 4 else "ip6:") + address
    verdict_result = cast(SpfResult, result)
    fix = _fix(verdict_result, entry, mechanism, explanation, query.lookups)
    return SpfVerdict(address, verdict_result, mechanism, explanation, entry, fix)


def _fix(
    result: SpfResult, entry: str, mechanism: str | None, explanation: str, lookups: int
) -> str:
    if result == "pass":
        return ""
    if result == "none":
        return f"publish a TXT record 'v=spf1 {entry} -all' listing every host that sends mail"
    if result == "temperror":
        return "make the domain's DNS servers answer, then evaluate again"
    if result == "permerror" and "DNS lookups" in explanation:
        return (
            f"the policy needs more than {MAX_DNS_LOOKUPS} DNS-querying terms (evaluation "
            f"stopped after {lookups}); replace include:, a, mx or ptr terms by their ip4:/ip6: "
            f"ranges, and add {entry} before them"
        )
    if result == "permerror":
        return f"correct the SPF record ({explanation}), then add {entry}"
    if mechanism is None:
        # No term matched in the record or in its redirect= target, so neither has "all".
        return f"add {entry} to the record, before any redirect= modifier"
    if not mechanism.lstrip("-~?+").startswith("all"):
        return f"add {entry} before {mechanism}, which decides {result} for this address"
    return f"add {entry} before the all mechanism"


def _proposed_record(record: str | None, verdicts: tuple[SpfVerdict, ...]) -> str | None:
    failures = [verdict for verdict in verdicts if not verdict.passed]
    if not failures or any(v.result in ("temperror", "permerror") for v in failures):
        return None
    entries = list(dict.fromkeys(verdict.entry for verdict in failures))
    if record is None:
        return " ".join(["v=spf1", *entries, "-all"])

    terms = record.split()
    deciding = {v.mechanism.lower() for v in failures if v.mechanism}
    position = _insert_position(terms, deciding)
    return " ".join([*terms[:position], *entries, *terms[position:]])


def _insert_position(terms: list[str], deciding: set[str]) -> int:
    # New entries go before the first top-level term that decided a failure, else before
    # "all", else before the modifiers (redirect= is only followed when no mechanism matches).
    for index, term in enumerate(terms[1:], start=1):
        if term.lower() in deciding:
            return index
    for index, term in enumerate(terms[1:], start=1):
        if term.lower().lstrip("+-~?") == "all":
            return index
    for index, term in enumerate(terms[1:], start=1):
        if "=" in term:
            return index
    return len(terms)


def check_direct_send(
    domain: str,
    addresses: Iterable[str],
    nameservers: Iterable[str],
    *,
    port: int = 53,
    timeout: float = 5.0,
) -> tuple[SpfReport, list[str]]:
    """Evaluate ``domain``'s SPF for direct-send devices and describe every failing address.

    This is the entry point for ``exchange-agent advise relay --check-spf``: it returns the
    report and one line per address that does not pass (empty when all pass).

    Raises:
        ValueError: A nameserver or device address is not an IP address, or the port or
            timeout is out of range.
    """
    resolver = SpfResolver(tuple(nameservers), port=port, timeout=timeout)
    report = evaluate_spf(domain, addresses, resolver)
    return report, describe_failures(report)


def describe_failures(report: SpfReport) -> list[str]:
    """Return one line per failing address: result, deciding term and fix."""
    return [
        f"{verdict.address}: {verdict.result}"
        + (f" by {verdict.mechanism}" if verdict.mechanism else "")
        + f"; fix: {verdict.fix}"
        for verdict in report.failures
    ]
