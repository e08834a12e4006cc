"""DNS checks for Autodiscover, through DNS servers the caller names.

Outlook outside the domain looks up ``autodiscover.<domain>`` (A, AAAA or CNAME) and then the
``_autodiscover._tcp.<domain>`` SRV record (Exchange Server docs, "Autodiscover service in
Exchange Server"). A registrar's wildcard ``*.<domain>`` record makes the first name resolve
to a web host, which then offers Outlook its own certificate, so a name is checked for whether
it resolves only through the wildcard.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver

from exchange_agent.autodiscover.hostnames import normalise_host
from exchange_agent.nameservers import check_nameservers

__all__ = ["DnsSettings", "NameResolution", "Resolver", "SrvTarget"]


@dataclass(frozen=True)
class DnsSettings:
    """DNS servers for the audit's lookups, with their port and a time limit.

    Attributes:
        nameservers: IP addresses of the DNS servers, queried in order.
        port: UDP and TCP port of every server in ``nameservers``.
        timeout: Seconds one lookup may take, retries included.
    """

    nameservers: tuple[str, ...]
    port: int = 53
    timeout: float = 3.0

    def __post_init__(self) -> None:
        check_nameservers(self.nameservers, self.port, self.timeout)


@dataclass(frozen=True)
class NameResolution:
    """The result of resolving one host name.

    Attributes:
        name: The name looked up, normalised.
        addresses: A and AAAA addresses at the end of the CNAME chain.
        canonical_name: The name the CNAME chain ends at (``name`` without CNAMEs).
        through_wildcard: True when the name resolves only because ``*.<parent>`` exists:
            a random name next to it resolves to the same addresses.
        error: Why the lookup could not be completed (timeout, SERVFAIL), or None.
    """

    name: str
    addresses: frozenset[str] = frozenset()
    canonical_name: str | None = None
    through_wildcard: bool = False
    error: str | None = None

    @property
    def resolves(self) -> bool:
        """True when the name has at least one address."""
        return bool(self.addresses)


@dataclass(frozen=True, order=True)
class SrvTarget:
    """One SRV record: where clients are sent, in priority then weight order."""

    priority: int
    weight: int
    port: int
    target: str


@dataclass
class Resolver:
    """Look up Autodiscover names through the servers in ``settings`` only."""

    settings: DnsSettings
    _resolver: dns.resolver.Resolver = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # configure=False keeps dnspython from reading /etc/resolv.conf, so only the named
        # servers are ever asked.
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = list(self.settings.nameservers)
        resolver.port = self.settings.port
        resolver.lifetime = self.settings.timeout
        resolver.timeout = self.settings.timeout
        self._resolver = resolver

    def _addresses(self, name: str) -> tuple[frozenset[str], str | None]:
        addresses: set[str] = set()
        canonical: str | None = None
        for rdtype in ("A", "AAAA"):
            try:
                answer = self._resolver.resolve(name, rdtype, search=False)
            except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
                continue
            canonical = answer.canonical_name.to_text(omit_final_dot=True).lower()
            addresses.update(rdata.address for rdata in answer)
        return frozenset(addresses), canonical

    def resolve(self, host: str) -> NameResolution:
        """Resolve ``host`` to addresses and detect whether only a wildcard record matches it.

        Raises:
            ValueError: ``host`` is not a valid host name.
        """
        name = normalise_host(host)
        try:
            addresses, canonical = self._addresses(name)
        except (dns.exception.Timeout, dns.resolver.NoNameservers) as error:
            return NameResolution(name, error=str(error))
        if not addresses or "." not in name:
            return NameResolution(name, addresses, canonical)

        # A label of 16 random hex digits exists in no real zone. If it resolves, a wildcard
        # record matches the parent, and a name with the same addresses may come from it.
        probe = f"wildcard-probe-{secrets.token_hex(8)}.{name.split('.', 1)[1]}"
        try:
            probe_addresses, probe_canonical = self._addresses(probe)
        except (dns.exception.Timeout, dns.resolver.NoNameservers):
            probe_addresses, probe_canonical = frozenset(), None
        through_wildcard = bool(probe_addresses) and probe_addresses == addresses
        name_aliased = canonical != name
        probe_aliased = probe_canonical != probe
        if name_aliased != probe_aliased:
            # One is a CNAME and the other is not, so the name has its own record.
            through_wildcard = False
        elif name_aliased and canonical != probe_canonical:
            through_wildcard = False
        return NameResolution(name, addresses, canonical, through_wildcard)

    def srv(self, domain: str) -> tuple[list[SrvTarget], str | None]:
        """Return the ``_autodiscover._tcp.<domain>`` SRV records in priority order.

        The second item is the reason the lookup failed, or None.
        """
        name = f"_autodiscover._tcp.{normalise_host(domain)}"
        try:
            answer = self._resolver.resolve(name, "SRV", search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return [], None
        except (dns.exception.Timeout, dns.resolver.NoNameservers) as error:
            return [], str(error)
        targets = [
            SrvTarget(
                rdata.priority,
                rdata.weight,
                rdata.port,
                rdata.target.to_text(omit_final_dot=True).lower(),
            )
            for rdata in answer
        ]
        return sorted(targets), None
