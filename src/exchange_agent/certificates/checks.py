"""Checks an issued certificate must pass before it is sent to Exchange."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from cryptography import x509

# Imported as a module because exchange_agent.autodiscover imports this package's names module
# while it initialises, and a module reference resolves at call time.
from exchange_agent.autodiscover import hostnames
from exchange_agent.certificates.facts import (
    CertificateFacts,
    RequestFacts,
    certificate_facts,
)
from exchange_agent.errors import ExchangeAgentError

__all__ = [
    "MIN_KEY_SIZE",
    "CertificateCheckError",
    "check_issued_certificate",
    "select_issued_certificate",
]

# Keys under 2048 bits are rejected because CSS-Exchange HealthChecker rates them red
MIN_KEY_SIZE = 2048


class CertificateCheckError(ExchangeAgentError, ValueError):
    """An issued certificate fails the checks; ``problems`` lists every failure."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__(f"{source}: " + "; ".join(self.problems))


def select_issued_certificate(
    chain: Sequence[x509.Certificate], request: RequestFacts | None
) -> x509.Certificate:
    """Return the certificate of ``chain`` that was issued for ``request``.

    That is the one whose public key is the request's. Without a request, it is the first
    certificate that is not a CA, else the first certificate.
    """
    if request is not None:
        for certificate in chain:
            if certificate_facts(certificate).public_key == request.public_key:
                return certificate
    for certificate in chain:
        try:
            constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
        except x509.ExtensionNotFound:
            return certificate
        if not constraints.value.ca:
            return certificate
    return chain[0]


def check_issued_certificate(
    certificate: CertificateFacts,
    request: RequestFacts | None,
    required_names: Iterable[str],
    now: datetime,
) -> list[str]:
    """Return the reasons ``certificate`` must not be imported; empty when it may be.

    The certificate must carry the public key of the pending ``request`` (else Exchange
    cannot pair it with the private key it kept), cover every required name with the
    Autodiscover audit's matching rules, be valid at ``now`` and have a key of at least
    :data:`MIN_KEY_SIZE` bits.
    """
    problems: list[str] = []
    if request is not None and certificate.public_key != request.public_key:
        problems.append(
            "the certificate's public key does not match the pending request's key; import "
            "the certificate the CA issued for this request"
        )

    matches = [hostnames.match_host(name, certificate.dns_names) for name in required_names]
    missing = [match for match in matches if not match.covered]
    if missing:
        hints = [f"{m.near_miss} is not {m.name}" for m in missing if m.near_miss]
        problems.append(
            f"names {', '.join(m.name for m in missing)} are not covered by the certificate's "
            f"names ({', '.join(certificate.dns_names) or 'none'})"
            + (f"; note that {', '.join(hints)}" if hints else "")
        )

    if now >= certificate.not_after:
        problems.append(f"the certificate expired on {certificate.not_after:%Y-%m-%d %H:%M} UTC")
    elif now < certificate.not_before:
        problems.append(
            f"the certificate is not valid before {certificate.not_before:%Y-%m-%d %H:%M} UTC"
        )

    if certificate.key_size < MIN_KEY_SIZE:
        problems.append(
            f"the key has {certificate.key_size} bits; at least {MIN_KEY_SIZE} are required"
        )
    return problems
