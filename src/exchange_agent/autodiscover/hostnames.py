"""Compare host names with the names on a certificate.

Matching follows RFC 6125 section 6.4: names are compared label by label after lower-casing,
dropping a trailing dot and converting to the IDNA (ASCII) form, and a wildcard may only be the
whole left-most label. So ``*.contoso.com`` covers ``mail.contoso.com`` but neither
``contoso.com`` nor ``a.mail.contoso.com``. Nothing here matches substrings or similar
spellings: a similar name is reported only as a hint in messages.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

from exchange_agent.certificates.names import normalise_host

__all__ = ["HostMatch", "match_host", "normalise_host"]


@dataclass(frozen=True)
class HostMatch:
    """The outcome of comparing one host name with a certificate's names.

    Attributes:
        name: The host name compared, normalised.
        covered_by: The certificate name that covers ``name``, or None.
        near_miss: A certificate name spelled like ``name`` that does not cover it, named in
            messages only so that a typo such as ``autdiscover`` is easy to see.
    """

    name: str
    covered_by: str | None
    near_miss: str | None = None

    @property
    def covered(self) -> bool:
        """True when a certificate name covers ``name``."""
        return self.covered_by is not None


def _covers(certificate_name: str, wanted: str) -> bool:
    if certificate_name == wanted:
        return True
    if not certificate_name.startswith("*.") or "." not in wanted:
        return False
    return wanted.split(".", 1)[1] == certificate_name[2:]


def match_host(name: str, certificate_names: Iterable[str]) -> HostMatch:
    """Find the certificate name that covers the host ``name``.

    Certificate names that are not valid host names (an IP address in a SAN is one) are
    skipped.

    Raises:
        ValueError: ``name`` is empty or not a valid host name.
    """
    wanted = normalise_host(name)
    normalised: list[str] = []
    for candidate in certificate_names:
        try:
            normalised.append(normalise_host(candidate))
        except ValueError:
            continue

    for candidate in normalised:
        if _covers(candidate, wanted):
            return HostMatch(wanted, candidate)

    close = difflib.get_close_matches(wanted, normalised, n=1, cutoff=0.85)
    return HostMatch(wanted, None, close[0] if close else None)
