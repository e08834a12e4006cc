"""Build large simulated organizations reproducibly from a seed number.

The same ``(seed, recipients, affected)`` always gives the same organization, so benchmarks and
tests can rebuild it instead of storing it. Recipients of every type that carries proxy
addresses get realistic lists: a primary ``SMTP:``, secondary ``smtp:`` addresses, an ``X500:``
legacy address and, for mailboxes, a ``SIP:`` address. Near-miss domains (``not<domain>`` and
``sub.<domain>``) are mixed in so that over-matching shows.
"""

from __future__ import annotations

import random
import uuid

from exchange_agent.lab.org import AcceptedDomain, EmailAddressPolicy, Organization, Recipient

__all__ = ["RECIPIENT_MIX", "generate_organization"]

# (RecipientTypeDetails, RecipientType, share of the organization); shares sum to 1.
RECIPIENT_MIX: tuple[tuple[str, str, float], ...] = (
    ("UserMailbox", "UserMailbox", 0.62),
    ("SharedMailbox", "UserMailbox", 0.06),
    ("RoomMailbox", "UserMailbox", 0.02),
    ("EquipmentMailbox", "UserMailbox", 0.01),
    ("MailUser", "MailUser", 0.08),
    ("MailContact", "MailContact", 0.08),
    ("MailUniversalDistributionGroup", "MailUniversalDistributionGroup", 0.05),
    ("MailUniversalSecurityGroup", "MailUniversalSecurityGroup", 0.02),
    ("DynamicDistributionGroup", "DynamicDistributionGroup", 0.01),
    ("PublicFolder", "PublicFolder", 0.01),
    ("RemoteUserMailbox", "MailUser", 0.04),
)


def generate_organization(
    seed: int,
    recipients: int,
    affected: float,
    *,
    home_domain: str = "contoso.com",
    removed_domain: str = "fabrikam.com",
) -> Organization:
    """Build an organization where a share ``affected`` (0 to 1) of recipients use a domain.

    About a tenth of the affected recipients have their primary address in ``removed_domain``
    and a secondary one in ``home_domain``, so a ``promote`` rule has something to promote.

    Raises:
        ValueError: ``recipients`` is negative or ``affected`` is outside 0 to 1.
    """
    if recipients < 0:
        raise ValueError(f"recipients must be 0 or more, found {recipients}")
    if not 0.0 <= affected <= 1.0:
        raise ValueError(f"affected must be a share from 0 to 1, found {affected}")

    # A seeded generator for reproducible data; nothing here needs unpredictability.
    rng = random.Random(seed)  # noqa: S311
    org = Organization(name=home_domain)
    org.accepted_domains += [
        AcceptedDomain(home_domain, home_domain, default=True, guid=_guid(rng)),
        AcceptedDomain(removed_domain, removed_domain, guid=_guid(rng)),
        AcceptedDomain(f"not{removed_domain}", f"not{removed_domain}", guid=_guid(rng)),
    ]
    org.email_address_policies.append(
        EmailAddressPolicy(
            "Default Policy",
            enabled_email_address_templates=[f"SMTP:%m@{home_domain}"],
            guid=_guid(rng),
        )
    )

    kinds = [(details, kind) for details, kind, _ in RECIPIENT_MIX]
    weights = [share for _, _, share in RECIPIENT_MIX]
    chosen = set(rng.sample(range(recipients), round(recipients * affected)))
    for index in range(recipients):
        details, kind = rng.choices(kinds, weights)[0]
        alias = f"r{index:06d}"
        addresses = _addresses(
            rng, alias, details, home_domain, removed_domain, affected=index in chosen
        )
        org.recipients.append(
            Recipient(
                name=alias,
                alias=alias,
                recipient_type=kind,
                recipient_type_details=details,
                email_addresses=addresses,
                email_address_policy_enabled=addresses[0] == f"SMTP:{alias}@{home_domain}",
                distinguished_name=f"CN={alias},OU=Users,DC=contoso,DC=com",
                guid=_guid(rng),
                external_email_address=(
                    f"SMTP:{alias}@example.net" if details in ("MailContact", "MailUser") else None
                ),
            )
        )
    return org


def _addresses(
    rng: random.Random, alias: str, details: str, home: str, removed: str, *, affected: bool
) -> list[str]:
    primary_domain = home
    if details == "MailContact":
        primary_domain = "example.net"
    if affected and rng.random() < 0.1:
        primary_domain = removed

    addresses = [f"SMTP:{alias}@{primary_domain}"]
    if primary_domain != home and details != "MailContact":
        addresses.append(f"smtp:{alias}@{home}")
    if affected and primary_domain != removed:
        spelling = removed.upper() if rng.random() < 0.1 else removed
        addresses.append(f"smtp:{alias}.old@{spelling}")
    if rng.random() < 0.05:
        addresses.append(f"smtp:{alias}@{rng.choice([f'not{removed}', f'sub.{removed}'])}")
    addresses.append(f"X500:/o=Contoso/ou=Exchange Administrative Group/cn=Recipients/cn={alias}")
    if details.endswith("Mailbox"):
        addresses.append(f"SIP:{alias}@{removed if affected else home}")
    return addresses


def _guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128)))
