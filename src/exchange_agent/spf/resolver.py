"""Route pyspf's DNS queries to a resolver the caller names, never to the system's.

pyspf (``spf`` module, 2.0.14) sends every query through the module-level function
``spf.DNSLookup(name, qtype, strict, timeout)``, which by default queries dnspython's default
resolver, configured from ``/etc/resolv.conf``. Replacing that function is the hook pyspf's own
test suite uses. This module installs one dispatcher once, and the dispatcher resolves through the
:class:`SpfResolver` bound to the current context with :func:`use_resolver`. A query made
outside :func:`use_resolver` raises ``spf.TempError`` instead of reaching the system resolver.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver
import spf  # type: ignore[import-untyped]  # pyspf ships no type hints

from exchange_agent.nameservers import check_nameservers

__all__ = ["SpfResolver", "use_resolver"]


@dataclass(frozen=True)
class SpfResolver:
    """The DNS servers SPF evaluation queries, with their port and a time limit.

    Attributes:
        nameservers: IP addresses of the DNS servers, queried in order.
        port: UDP and TCP port of every server in ``nameservers``.
        timeout: Seconds one query may take, retries included.
    """

    nameservers: tuple[str, ...]
    port: int = 53
    timeout: float = 5.0
    _resolver: dns.resolver.Resolver = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_nameservers(self.nameservers, self.port, self.timeout)

        # configure=False keeps dnspython from reading /etc/resolv.conf, so only the servers
        # named here are queried.
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = list(self.nameservers)
        resolver.port = self.port
        resolver.lifetime = self.timeout
        resolver.timeout = self.timeout
        object.__setattr__(self, "_resolver", resolver)

    def lookup(self, name: str, qtype: str, timeout: float) -> list[tuple[tuple[str, str], Any]]:
        """Resolve one query and return the records in the shape pyspf's ``DNSLookup`` returns.

        An empty list stands for NXDOMAIN and for a name without records of ``qtype``, as
        pyspf expects, because SPF counts both as void lookups (RFC 7208 section 4.6.4).

        Raises:
            spf.TempError: The servers timed out or all failed (SERVFAIL, REFUSED).
        """
        lifetime = min(timeout, self.timeout) if timeout > 0 else self.timeout
        try:
            answer = self._resolver.resolve(
                dns.name.from_text(name), qtype, lifetime=lifetime, search=False
            )
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except (dns.exception.Timeout, dns.resolver.NoNameservers) as error:
            raise spf.TempError(f"DNS {error}") from None
        return [((name, qtype), _value(qtype, rdata)) for rdata in answer]


def _value(qtype: str, rdata: Any) -> Any:
    # The same per-type values pyspf's own dnspython lookup produces.
    if qtype in ("A", "AAAA"):
        return rdata.address
    if qtype == "MX":
        return (rdata.preference, rdata.exchange)
    if qtype == "PTR":
        return rdata.target.to_text(True)
    if qtype in ("TXT", "SPF"):
        return rdata.strings
    return rdata.to_text()


_current: contextvars.ContextVar[SpfResolver | None] = contextvars.ContextVar(
    "exchange_agent_spf_resolver", default=None
)
_install_lock = threading.Lock()
_installed = False


def _dispatch(
    name: str, qtype: str, strict: Any = True, timeout: float = 30.0
) -> list[tuple[tuple[str, str], Any]]:
    resolver = _current.get()
    if resolver is None:
        raise spf.TempError(
            "DNS lookup outside use_resolver(): no resolver configured for SPF evaluation"
        )
    return resolver.lookup(name, qtype, timeout)


def _install() -> None:
    global _installed  # noqa: PLW0603  (one process-wide hook, installed once)
    with _install_lock:
        if not _installed:
            spf.DNSLookup = _dispatch
            _installed = True


@contextmanager
def use_resolver(resolver: SpfResolver) -> Iterator[None]:
    """Send pyspf's queries in this thread or task to ``resolver`` until the block ends."""
    _install()
    token = _current.set(resolver)
    try:
        yield
    finally:
        _current.reset(token)
