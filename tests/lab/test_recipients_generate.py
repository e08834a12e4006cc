"""The seed generator builds reproducible organizations with the requested affected share."""

from __future__ import annotations

import pytest

from exchange_agent.lab.generate import RECIPIENT_MIX, generate_organization
from exchange_agent.tasks.email_domain.plan import is_in_domain


def _affected(org_recipients: list[list[str]]) -> int:
    return sum(any(is_in_domain(a, "fabrikam.com") for a in lst) for lst in org_recipients)


def test_same_seed_same_organization() -> None:
    first = generate_organization(7, 500, 0.2)
    second = generate_organization(7, 500, 0.2)
    assert first == second
    assert generate_organization(8, 500, 0.2) != first


def test_affected_share_is_exact() -> None:
    org = generate_organization(3, 2000, 0.25)
    assert len(org.recipients) == 2000
    assert _affected([r.email_addresses for r in org.recipients]) == 500


def test_every_type_and_proxy_kind_present() -> None:
    org = generate_organization(1, 3000, 0.2)
    types = {r.recipient_type_details for r in org.recipients}
    assert types == {details for details, _, _ in RECIPIENT_MIX}
    prefixes = {a.split(":", 1)[0] for r in org.recipients for a in r.email_addresses}
    assert prefixes == {"SMTP", "smtp", "X500", "SIP"}
    assert all(sum(a.startswith("SMTP:") for a in r.email_addresses) == 1 for r in org.recipients)


def test_primary_in_domain_and_near_misses_present() -> None:
    org = generate_organization(1, 3000, 0.2)
    primaries = [r.email_addresses[0] for r in org.recipients]
    assert any(p.endswith("@fabrikam.com") for p in primaries)
    everything = [a for r in org.recipients for a in r.email_addresses]
    assert any(a.endswith("@notfabrikam.com") for a in everything)
    assert any(a.endswith("@sub.fabrikam.com") for a in everything)


@pytest.mark.parametrize(("size", "share"), [(-1, 0.2), (10, 1.5), (10, -0.1)])
def test_invalid_arguments(size: int, share: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        generate_organization(1, size, share)
