"""Recipient cmdlets of the lab: OPATH filters, ResultSize and -EmailAddresses edits."""

from __future__ import annotations

from typing import Any

import pytest

from exchange_agent.lab.clock import ManualClock
from exchange_agent.lab.contract import (
    CmdletCall,
    LabErrorRecord,
    LabEvent,
    LabObject,
    LabTerminatingError,
    LabWarning,
    MultiValued,
)
from exchange_agent.lab.engine import LabEngine
from exchange_agent.lab.opath import OpathError, compile_filter
from exchange_agent.lab.org import EmailAddressPolicy, Organization, Recipient


def _org() -> Organization:
    org = Organization()
    org.email_address_policies.append(
        EmailAddressPolicy(
            "Default Policy",
            enabled_email_address_templates=["SMTP:%m@contoso.com", "smtp:%m@fabrikam.com"],
        )
    )
    org.recipients += [
        Recipient(
            "asmith",
            "asmith",
            email_addresses=["SMTP:asmith@contoso.com", "smtp:asmith@fabrikam.com"],
        ),
        Recipient(
            "partner1",
            "partner1",
            recipient_type="MailContact",
            recipient_type_details="MailContact",
            email_addresses=["SMTP:partner1@example.net", "smtp:partner1@fabrikam.com"],
        ),
        Recipient(
            "bjones",
            "bjones",
            email_address_policy_enabled=False,
            email_addresses=[
                "SMTP:bjones@contoso.com",
                "smtp:bjones@fabrikam.com",
                "smtp:bjones@notfabrikam.com",
                "SIP:bjones@fabrikam.com",
                "X500:/o=Contoso/ou=Exchange/cn=Recipients/cn=bjones",
            ],
        ),
        Recipient(
            "sales",
            "sales",
            recipient_type="MailUniversalDistributionGroup",
            recipient_type_details="MailUniversalDistributionGroup",
            email_address_policy_enabled=False,
            email_addresses=["SMTP:sales@contoso.com"],
        ),
    ]
    return org


@pytest.fixture
def engine() -> LabEngine:
    return LabEngine(_org(), clock=ManualClock())


def run(engine: LabEngine, name: str, params: dict[str, Any]) -> list[LabEvent]:
    return list(
        engine.invoke([CmdletCall(name, params)], endpoint="exchange", user="CONTOSO\\admin")
    )


def names(events: list[LabEvent]) -> list[str]:
    return [e.properties["Name"] for e in events if isinstance(e, LabObject)]


def addresses(engine: LabEngine, name: str) -> list[str]:
    return next(r.email_addresses for r in engine.org.recipients if r.name == name)


def test_opath_like_leading_wildcard_is_case_insensitive() -> None:
    predicate = compile_filter("EmailAddresses -like '*@FABRIKAM.com'")
    assert predicate({"EmailAddresses": ["SMTP:a@contoso.com", "smtp:a@fabrikam.com"]})
    assert not predicate({"EmailAddresses": ["SMTP:a@notfabrikam.comx"]})
    assert predicate({"EmailAddresses": ["SIP:a@fabrikam.com"]})


def test_opath_boolean_operators_and_brackets() -> None:
    predicate = compile_filter(
        "(EmailAddresses -like 'smtp:*' -and -not (Alias -eq 'x')) -or RecipientType -ne $null"
    )
    assert predicate({"EmailAddresses": ["smtp:a@b.com"], "Alias": "y", "RecipientType": None})
    assert not predicate({"EmailAddresses": ["smtp:a@b.com"], "Alias": "X", "RecipientType": None})
    assert predicate({"EmailAddresses": [], "Alias": "x", "RecipientType": "MailUser"})


@pytest.mark.parametrize(
    "text",
    [
        "EmailAddresses -like 'smtp:*@contoso.com'",
        "EmailAddresses -match 'x'",
        "(Alias -eq 'a'",
        "Alias",
    ],
)
def test_opath_rejects_unsupported(text: str) -> None:
    with pytest.raises(OpathError, match="Invalid filter syntax"):
        compile_filter(text)


def test_get_recipient_filter_all_types(engine: LabEngine) -> None:
    events = run(
        engine,
        "Get-Recipient",
        {"Filter": "EmailAddresses -like '*@fabrikam.com'", "ResultSize": "Unlimited"},
    )
    assert names(events) == ["asmith", "partner1", "bjones"]
    first = next(e for e in events if isinstance(e, LabObject))
    assert isinstance(first.properties["EmailAddresses"], MultiValued)


def test_get_recipient_result_size_truncates_with_warning(engine: LabEngine) -> None:
    events = run(engine, "Get-Recipient", {"ResultSize": 2})
    assert names(events) == ["asmith", "partner1"]
    warnings = [e for e in events if isinstance(e, LabWarning)]
    assert len(warnings) == 1
    assert "ResultSize" in warnings[0].message


def test_get_recipient_type_details(engine: LabEngine) -> None:
    events = run(engine, "Get-Recipient", {"RecipientTypeDetails": ["MailContact"]})
    assert names(events) == ["partner1"]


def test_get_recipient_bad_filter_terminates(engine: LabEngine) -> None:
    with pytest.raises(LabTerminatingError) as caught:
        run(engine, "Get-Recipient", {"Filter": "EmailAddresses -like 'a*b'"})
    assert "Wildcards" in caught.value.record.message


def test_get_mailbox_excludes_contacts(engine: LabEngine) -> None:
    assert names(run(engine, "Get-Mailbox", {})) == ["asmith", "bjones"]


def test_set_remove_hashtable_edits_in_place(engine: LabEngine) -> None:
    events = run(
        engine,
        "Set-Mailbox",
        {"Identity": "bjones", "EmailAddresses": {"Remove": ["SMTP:BJONES@fabrikam.com"]}},
    )
    assert not [e for e in events if isinstance(e, LabErrorRecord)]
    assert addresses(engine, "bjones") == [
        "SMTP:bjones@contoso.com",
        "smtp:bjones@notfabrikam.com",
        "SIP:bjones@fabrikam.com",
        "X500:/o=Contoso/ou=Exchange/cn=Recipients/cn=bjones",
    ]


def test_set_plain_list_replaces(engine: LabEngine) -> None:
    run(
        engine,
        "Set-DistributionGroup",
        {"Identity": "sales", "EmailAddresses": ["SMTP:sales@x.com", "y@x.com"]},
    )
    assert addresses(engine, "sales") == ["SMTP:sales@x.com", "smtp:y@x.com"]


def test_set_two_primaries_rejected(engine: LabEngine) -> None:
    events = run(
        engine,
        "Set-DistributionGroup",
        {"Identity": "sales", "EmailAddresses": ["SMTP:a@x.com", "SMTP:b@x.com"]},
    )
    assert [e for e in events if isinstance(e, LabErrorRecord)]
    assert addresses(engine, "sales") == ["SMTP:sales@contoso.com"]


def test_set_remove_primary_rejected(engine: LabEngine) -> None:
    events = run(
        engine,
        "Set-Mailbox",
        {"Identity": "bjones", "EmailAddresses": {"Remove": "SMTP:bjones@contoso.com"}},
    )
    records = [e for e in events if isinstance(e, LabErrorRecord)]
    assert len(records) == 1
    assert "primary SMTP address" in records[0].message
    assert addresses(engine, "bjones")[0] == "SMTP:bjones@contoso.com"


def test_set_wrong_type_not_found(engine: LabEngine) -> None:
    events = run(
        engine, "Set-Mailbox", {"Identity": "partner1", "EmailAddresses": {"Remove": "x@y.com"}}
    )
    records = [e for e in events if isinstance(e, LabErrorRecord)]
    assert len(records) == 1
    assert records[0].reason == "ManagementObjectNotFoundException"


def test_policy_restamps_removed_address(engine: LabEngine) -> None:
    """A policy that still names a domain adds its address back on the next write."""
    run(
        engine,
        "Set-Mailbox",
        {"Identity": "asmith", "EmailAddresses": {"Remove": "smtp:asmith@fabrikam.com"}},
    )
    assert addresses(engine, "asmith") == ["SMTP:asmith@contoso.com", "smtp:asmith@fabrikam.com"]
    run(
        engine,
        "Set-MailContact",
        {"Identity": "partner1", "EmailAddresses": {"Remove": "smtp:partner1@fabrikam.com"}},
    )
    assert "smtp:partner1@fabrikam.com" in addresses(engine, "partner1")


def test_policy_keeps_primary_with_warning(engine: LabEngine) -> None:
    events = run(
        engine,
        "Set-Mailbox",
        {"Identity": "asmith", "EmailAddresses": {"Add": "SMTP:new@contoso.com"}},
    )
    warnings = [e.message for e in events if isinstance(e, LabWarning)]
    assert any(w.startswith("Couldn't update the primary SMTP address") for w in warnings)
    assert addresses(engine, "asmith")[0] == "SMTP:asmith@contoso.com"
    assert "smtp:new@contoso.com" in addresses(engine, "asmith")


def test_disabling_policy_allows_removal(engine: LabEngine) -> None:
    run(
        engine,
        "Set-Mailbox",
        {
            "Identity": "asmith",
            "EmailAddressPolicyEnabled": False,
            "EmailAddresses": {"Remove": "smtp:asmith@fabrikam.com"},
        },
    )
    assert addresses(engine, "asmith") == ["SMTP:asmith@contoso.com"]


def test_noop_write_warns(engine: LabEngine) -> None:
    events = run(
        engine,
        "Set-DistributionGroup",
        {"Identity": "sales", "EmailAddresses": {"Remove": "smtp:nothere@contoso.com"}},
    )
    warnings = [e.message for e in events if isinstance(e, LabWarning)]
    assert warnings == [
        "The command completed successfully but no settings of 'sales' have been modified."
    ]
