"""Host names a certificate request must carry."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["AcceptedDomainInfo", "derive_domain_names", "normalise_host"]


@dataclass(frozen=True)
class AcceptedDomainInfo:
    """An accepted domain as ``Get-AcceptedDomain`` reports it."""

    domain_name: str
    domain_type: str = "Authoritative"


def normalise_host(name: str) -> str:
    """Return ``name`` lower-cased, without a trailing dot and in its IDNA (ASCII) form.

    A leading ``*.`` label is kept, for wildcard names.

    Raises:
        ValueError: ``name`` is empty or not a valid host name.
    """
    text = name.strip().rstrip(".")
    if not text:
        raise ValueError(f"host name {name!r} is empty")
    prefix = ""
    if text.startswith("*."):
        prefix, text = "*.", text[2:]
    try:
        ascii_name = text.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise ValueError(f"{name!r} is not a valid host name") from None
    labels = ascii_name.split(".")
    if any(not label or label.startswith("-") or label.endswith("-") for label in labels):
        raise ValueError(f"{name!r} is not a valid host name")
    return prefix + ascii_name


def derive_domain_names(
    namespaces: Iterable[str], accepted_domains: Iterable[AcceptedDomainInfo]
) -> list[str]:
    """Return the names a certificate request needs, without duplicates, in a stable order.

    The namespaces come first, in the order given, then ``autodiscover.<domain>`` for each
    authoritative accepted domain, because Outlook looks up Autodiscover at that name for
    every SMTP domain its users have. Relay domains are skipped because their mailboxes are
    hosted elsewhere.

    Raises:
        ValueError: A namespace or accepted domain is not a valid host name.
    """
    names: list[str] = []
    for namespace in namespaces:
        names.append(normalise_host(namespace))
    for domain in accepted_domains:
        if domain.domain_type.casefold() != "authoritative":
            continue
        bare = normalise_host(domain.domain_name)
        if bare.startswith("*."):
            # A wildcard accepted domain (*.contoso.com) has no single Autodiscover name.
            continue
        names.append(f"autodiscover.{bare}")
    return list(dict.fromkeys(names))
