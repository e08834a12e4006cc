"""Plan logic for removing an email domain, on tricky address and template lists."""

from __future__ import annotations

import pytest

from exchange_agent.tasks.email_domain.plan import (
    AcceptedDomainFact,
    EmailDomainPlanError,
    PrimaryMode,
    PrimaryRule,
    address_domain,
    check_accepted_domain_removal,
    is_in_domain,
    normalize_domain,
    plan_policy,
    plan_recipient,
    split_proxy,
)

PROMOTE = PrimaryRule(mode=PrimaryMode.PROMOTE)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("contoso.com", "contoso.com"),
        ("  Contoso.COM. ", "contoso.com"),
        ("a-b.co.uk", "a-b.co.uk"),
    ],
)
def test_normalize_domain_accepts(raw: str, expected: str) -> None:
    assert normalize_domain(raw) == expected


@pytest.mark.parametrize(
    "raw", ["", "contoso", "@contoso.com", "*.contoso.com", "con toso.com", "-a.com", "a..com"]
)
def test_normalize_domain_rejects(raw: str) -> None:
    with pytest.raises(EmailDomainPlanError, match="invalid domain"):
        normalize_domain(raw)


def test_normalize_domain_error_is_value_error() -> None:
    with pytest.raises(ValueError, match="invalid domain"):
        normalize_domain("not a domain")


@pytest.mark.parametrize(
    ("proxy", "expected"),
    [
        ("SMTP:a@contoso.com", ("SMTP", "a@contoso.com")),
        ("sip:a@contoso.com", ("sip", "a@contoso.com")),
        ("a@contoso.com", ("smtp", "a@contoso.com")),
        (
            "X500:/o=Org/ou=Exchange/cn=Recipients/cn=a",
            ("X500", "/o=Org/ou=Exchange/cn=Recipients/cn=a"),
        ),
    ],
)
def test_split_proxy(proxy: str, expected: tuple[str, str]) -> None:
    assert split_proxy(proxy) == expected


def test_address_domain_uses_last_at() -> None:
    assert address_domain('"odd@local"@Contoso.COM') == "contoso.com"
    assert address_domain("no-at-sign") is None
    assert address_domain("@contoso.com") is None


@pytest.mark.parametrize(
    ("proxy", "expected"),
    [
        ("SMTP:a@contoso.com", True),
        ("smtp:a@CONTOSO.com", True),
        ("Smtp:a@contoso.com", True),
        ("smtp:a@notcontoso.com", False),
        ("smtp:a@sub.contoso.com", False),
        ("smtp:a@contoso.com.au", False),
        ("smtp:contoso.com@fabrikam.com", False),
        ("SIP:a@contoso.com", False),
        ("X500:/o=contoso.com/cn=a@contoso.com", False),
    ],
)
def test_is_in_domain_smtp_only(proxy: str, expected: bool) -> None:
    assert is_in_domain(proxy, "contoso.com") is expected


def test_is_in_domain_non_smtp_when_requested() -> None:
    assert is_in_domain("SIP:a@contoso.com", "contoso.com", include_non_smtp=True)
    assert is_in_domain("eum:a@contoso.com", "contoso.com", include_non_smtp=True)
    assert not is_in_domain("X500:/o=x/cn=a@contoso.com", "contoso.com", include_non_smtp=True)
    assert not is_in_domain("X400:c=US;a=@contoso.com", "contoso.com", include_non_smtp=True)


def test_recipient_without_domain_is_unchanged() -> None:
    addresses = ["SMTP:a@fabrikam.com", "smtp:a@notcontoso.com", "smtp:a@sub.contoso.com"]
    plan = plan_recipient(addresses, "contoso.com")
    assert not plan.changed
    assert plan.remove == ()
    assert plan.after == tuple(addresses)


def test_recipient_secondary_removed_keeps_order_and_x500() -> None:
    addresses = [
        "SMTP:a@fabrikam.com",
        "smtp:a@contoso.com",
        "X500:/o=Contoso/ou=Exchange/cn=Recipients/cn=a",
        "SIP:a@contoso.com",
        "smtp:a@notcontoso.com",
    ]
    plan = plan_recipient(addresses, "contoso.com")
    assert plan.changed
    assert plan.remove == ("smtp:a@contoso.com",)
    assert plan.after == (
        "SMTP:a@fabrikam.com",
        "X500:/o=Contoso/ou=Exchange/cn=Recipients/cn=a",
        "SIP:a@contoso.com",
        "smtp:a@notcontoso.com",
    )
    assert plan.new_primary is None


def test_recipient_sip_removed_when_requested() -> None:
    addresses = ["SMTP:a@fabrikam.com", "SIP:a@contoso.com", "smtp:a@contoso.com"]
    plan = plan_recipient(addresses, "contoso.com", include_non_smtp=True)
    assert plan.remove == ("SIP:a@contoso.com", "smtp:a@contoso.com")
    assert plan.after == ("SMTP:a@fabrikam.com",)


def test_recipient_case_duplicates_all_removed() -> None:
    addresses = ["SMTP:a@fabrikam.com", "smtp:a@contoso.com", "smtp:A@Contoso.COM"]
    plan = plan_recipient(addresses, "contoso.com")
    assert plan.remove == ("smtp:a@contoso.com", "smtp:A@Contoso.COM")
    assert plan.after == ("SMTP:a@fabrikam.com",)


def test_recipient_primary_in_domain_fails_by_default() -> None:
    addresses = ["SMTP:a@contoso.com", "smtp:a@fabrikam.com"]
    plan = plan_recipient(addresses, "contoso.com")
    assert not plan.changed
    assert plan.problem is not None
    assert "fail" in plan.problem
    assert plan.after == tuple(addresses)


def test_recipient_promote_first_remaining() -> None:
    addresses = [
        "SMTP:a@contoso.com",
        "SIP:a@contoso.com",
        "smtp:a@fabrikam.com",
        "smtp:b@tailspin.com",
    ]
    plan = plan_recipient(addresses, "contoso.com", rule=PROMOTE)
    assert plan.changed
    assert plan.new_primary == "SMTP:a@fabrikam.com"
    assert plan.after == ("SMTP:a@fabrikam.com", "SIP:a@contoso.com", "smtp:b@tailspin.com")
    assert plan.remove == ("SMTP:a@contoso.com",)


def test_recipient_promote_prefers_domain_order() -> None:
    rule = PrimaryRule(mode=PrimaryMode.PROMOTE, prefer_domains=("tailspin.com", "fabrikam.com"))
    addresses = ["SMTP:a@contoso.com", "smtp:a@fabrikam.com", "smtp:b@tailspin.com"]
    plan = plan_recipient(addresses, "contoso.com", rule=rule)
    assert plan.new_primary == "SMTP:b@tailspin.com"
    assert plan.after == ("SMTP:b@tailspin.com", "smtp:a@fabrikam.com")


def test_recipient_promote_no_preferred_domain_left() -> None:
    rule = PrimaryRule(mode=PrimaryMode.PROMOTE, prefer_domains=("tailspin.com",))
    plan = plan_recipient(["SMTP:a@contoso.com", "smtp:a@fabrikam.com"], "contoso.com", rule=rule)
    assert not plan.changed
    assert plan.problem == "no remaining SMTP address is in a preferred domain"


def test_recipient_only_primary_in_domain_cannot_promote() -> None:
    addresses = [
        "SMTP:a@contoso.com",
        "smtp:a2@contoso.com",
        "SIP:a@fabrikam.com",
        "X500:/o=x/cn=a",
    ]
    plan = plan_recipient(addresses, "contoso.com", rule=PROMOTE)
    assert not plan.changed
    assert plan.problem == "no SMTP address outside the domain remains to promote"
    assert plan.after == tuple(addresses)


def test_recipient_template_primary_new_address() -> None:
    rule = PrimaryRule(mode=PrimaryMode.TEMPLATE, template="%m@fabrikam.com")
    plan = plan_recipient(
        ["SMTP:jdoe@contoso.com", "X500:/o=x/cn=jdoe"], "contoso.com", rule=rule, alias="jdoe"
    )
    assert plan.new_primary == "SMTP:jdoe@fabrikam.com"
    assert plan.after == ("SMTP:jdoe@fabrikam.com", "X500:/o=x/cn=jdoe")


def test_recipient_template_replaces_existing_secondary() -> None:
    rule = PrimaryRule(mode=PrimaryMode.TEMPLATE, template="%g.%s@fabrikam.com")
    addresses = ["SMTP:jdoe@contoso.com", "smtp:John.Doe@Fabrikam.com"]
    plan = plan_recipient(
        addresses, "contoso.com", rule=rule, alias="jdoe", given_name="John", surname="Doe"
    )
    assert plan.after == ("SMTP:John.Doe@fabrikam.com",)


def test_recipient_template_without_alias_is_a_problem() -> None:
    rule = PrimaryRule(mode=PrimaryMode.TEMPLATE, template="%m@fabrikam.com")
    plan = plan_recipient(["SMTP:x@contoso.com"], "contoso.com", rule=rule)
    assert plan.problem is not None
    assert not plan.changed


def test_recipient_template_in_removed_domain_raises() -> None:
    rule = PrimaryRule(mode=PrimaryMode.TEMPLATE, template="%m@Contoso.com")
    with pytest.raises(EmailDomainPlanError, match="in the domain being removed"):
        plan_recipient(["SMTP:a@contoso.com"], "contoso.com", rule=rule, alias="a")


def test_recipient_template_mode_needs_template() -> None:
    with pytest.raises(EmailDomainPlanError, match="needs a template"):
        plan_recipient(
            ["SMTP:a@contoso.com"], "contoso.com", rule=PrimaryRule(PrimaryMode.TEMPLATE)
        )


def test_recipient_plan_is_idempotent() -> None:
    first = plan_recipient(
        ["SMTP:a@contoso.com", "smtp:a@fabrikam.com"], "contoso.com", rule=PROMOTE
    )
    second = plan_recipient(first.after, "contoso.com", rule=PROMOTE)
    assert first.changed
    assert not second.changed


def test_policy_secondary_templates_removed() -> None:
    plan = plan_policy(
        ["SMTP:%m@fabrikam.com", "smtp:%m@contoso.com", "smtp:@notcontoso.com"],
        ["smtp:%g.%s@contoso.com", "smtp:%m@tailspin.com"],
        "contoso.com",
        is_default=True,
        policy_name="Default Policy",
    )
    assert plan.changed
    assert not plan.remove_policy
    assert plan.enabled_after == ("SMTP:%m@fabrikam.com", "smtp:@notcontoso.com")
    assert plan.disabled_after == ("smtp:%m@tailspin.com",)
    assert plan.removed == ("smtp:%m@contoso.com", "smtp:%g.%s@contoso.com")


def test_policy_without_domain_unchanged() -> None:
    plan = plan_policy(["SMTP:@fabrikam.com"], [], "contoso.com", is_default=False, policy_name="P")
    assert not plan.changed


def test_policy_primary_without_replacement_raises() -> None:
    with pytest.raises(EmailDomainPlanError, match="policy_primary_templates") as info:
        plan_policy(
            ["SMTP:@contoso.com", "smtp:@fabrikam.com"],
            [],
            "contoso.com",
            is_default=False,
            policy_name="Sales",
        )
    assert "'Sales'" in str(info.value)


def test_policy_primary_replaced_and_secondary_deduplicated() -> None:
    plan = plan_policy(
        ["SMTP:@contoso.com", "smtp:@Fabrikam.com", "smtp:%m@tailspin.com"],
        [],
        "contoso.com",
        is_default=True,
        policy_name="Default Policy",
        primary_replacement="smtp:@fabrikam.com",
    )
    assert plan.enabled_after == ("SMTP:@fabrikam.com", "smtp:%m@tailspin.com")
    assert plan.removed == ("SMTP:@contoso.com",)


def test_policy_only_domain_templates_is_removed() -> None:
    plan = plan_policy(
        ["SMTP:@contoso.com", "smtp:%m@contoso.com"],
        [],
        "contoso.com",
        is_default=False,
        policy_name="P",
    )
    assert plan.remove_policy
    assert plan.enabled_after == ()


def test_default_policy_is_never_removed() -> None:
    with pytest.raises(EmailDomainPlanError, match="cannot delete a primary template"):
        plan_policy(
            ["SMTP:@contoso.com"], [], "contoso.com", is_default=True, policy_name="Default Policy"
        )


@pytest.mark.parametrize(
    ("replacement", "message"),
    [
        ("SMTP:@contoso.com", "domain being removed"),
        ("SIP:@fabrikam.com", "invalid primary"),
        ("fabrikam.com", "invalid primary"),
    ],
)
def test_policy_bad_replacement_raises(replacement: str, message: str) -> None:
    with pytest.raises(EmailDomainPlanError, match=message):
        plan_policy(
            ["SMTP:@contoso.com"],
            [],
            "contoso.com",
            is_default=True,
            policy_name="Default Policy",
            primary_replacement=replacement,
        )


def test_accepted_domain_found_and_missing() -> None:
    domains = [
        AcceptedDomainFact("Contoso", "contoso.com", default=True),
        AcceptedDomainFact("Fabrikam", "Fabrikam.COM", default=False),
    ]
    assert check_accepted_domain_removal(domains, "fabrikam.com") == domains[1]
    assert check_accepted_domain_removal(domains, "tailspin.com") is None


def test_accepted_domain_default_is_rejected() -> None:
    domains = [AcceptedDomainFact("Contoso", "contoso.com", default=True)]
    with pytest.raises(EmailDomainPlanError, match="make another accepted domain the default"):
        check_accepted_domain_removal(domains, "contoso.com")


def test_contact_external_address_is_kept() -> None:
    # A mail contact's external address is where its mail goes; removing the domain from the
    # organization must not cut the contact off.
    addresses = ["SMTP:support@fabrikam.com", "smtp:fabrikamsupport@fabrikam.com"]

    plan = plan_recipient(addresses, "fabrikam.com", external_address="SMTP:Support@Fabrikam.com")

    assert plan.kept == ("SMTP:support@fabrikam.com",)
    assert plan.remove == ("smtp:fabrikamsupport@fabrikam.com",)
    assert plan.after == ("SMTP:support@fabrikam.com",)
    assert plan.new_primary is None


def test_only_external_address_in_domain_is_no_change() -> None:
    plan = plan_recipient(
        ["SMTP:support@fabrikam.com"], "fabrikam.com", external_address="support@fabrikam.com"
    )

    assert not plan.changed
    assert plan.kept == ("SMTP:support@fabrikam.com",)


def test_external_address_elsewhere_changes_nothing_else() -> None:
    addresses = ["SMTP:partner1@example.net", "smtp:partner1@fabrikam.com"]

    plan = plan_recipient(addresses, "fabrikam.com", external_address="SMTP:partner1@example.net")

    assert plan.kept == ()
    assert plan.remove == ("smtp:partner1@fabrikam.com",)
