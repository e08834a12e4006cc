"""Email address policy and accepted domain cmdlets of the lab, with Exchange's rejections."""

from __future__ import annotations

from typing import Any

import pytest

from exchange_agent.lab.clock import ManualClock
from exchange_agent.lab.contract import CmdletCall, LabErrorRecord, LabEvent, LabObject
from exchange_agent.lab.engine import LabEngine
from exchange_agent.lab.org import AcceptedDomain, EmailAddressPolicy, Organization, Recipient


@pytest.fixture
def engine() -> LabEngine:
    org = Organization()
    org.accepted_domains += [
        AcceptedDomain("Contoso", "contoso.com", default=True),
        AcceptedDomain("Fabrikam", "fabrikam.com"),
    ]
    org.email_address_policies += [
        EmailAddressPolicy(
            "Default Policy",
            enabled_email_address_templates=["SMTP:%m@contoso.com", "smtp:%m@fabrikam.com"],
        ),
        EmailAddressPolicy(
            "Sales",
            enabled_email_address_templates=["SMTP:%m@fabrikam.com"],
            recipient_filter="Alias -like 'sales*'",
            priority="1",
        ),
    ]
    org.recipients += [
        Recipient("sales1", "sales1", email_addresses=["SMTP:sales1@contoso.com"]),
        Recipient("jdoe", "jdoe", email_addresses=["SMTP:jdoe@contoso.com"]),
    ]
    return LabEngine(org, clock=ManualClock())


def run(engine: LabEngine, name: str, params: dict[str, Any]) -> list[LabEvent]:
    calls = [CmdletCall(name, params)]
    return list(engine.invoke(calls, endpoint="exchange", user="CONTOSO\\admin"))


def errors(events: list[LabEvent]) -> list[LabErrorRecord]:
    return [e for e in events if isinstance(e, LabErrorRecord)]


def test_remove_domain_named_by_template_rejected(engine: LabEngine) -> None:
    records = errors(run(engine, "Remove-AcceptedDomain", {"Identity": "Fabrikam"}))
    assert len(records) == 1
    assert records[0].message.startswith(
        "The accepted domain 'fabrikam.com' cannot be removed or made external because it is "
        "referenced by the e-mail address policy templates"
    )
    assert "smtp:%m@fabrikam.com" in records[0].message
    assert len(engine.org.accepted_domains) == 2


def test_remove_default_domain_rejected(engine: LabEngine) -> None:
    records = errors(run(engine, "Remove-AcceptedDomain", {"Identity": "contoso.com"}))
    assert len(records) == 1
    assert "default accepted domain" in records[0].message


def test_remove_domain_after_templates_gone(engine: LabEngine) -> None:
    run(engine, "Remove-EmailAddressPolicy", {"Identity": "Sales"})
    run(
        engine,
        "Set-EmailAddressPolicy",
        {"Identity": "Default Policy", "EnabledEmailAddressTemplates": ["SMTP:%m@contoso.com"]},
    )
    assert errors(run(engine, "Remove-AcceptedDomain", {"Identity": "Fabrikam"})) == []
    assert [d.name for d in engine.org.accepted_domains] == ["Contoso"]


def test_default_policy_cannot_be_removed(engine: LabEngine) -> None:
    records = errors(run(engine, "Remove-EmailAddressPolicy", {"Identity": "Default Policy"}))
    assert len(records) == 1
    assert len(engine.org.email_address_policies) == 2


def test_primary_template_cannot_be_removed(engine: LabEngine) -> None:
    records = errors(
        run(
            engine,
            "Set-EmailAddressPolicy",
            {"Identity": "Default Policy", "EnabledEmailAddressTemplates": ["smtp:%m@contoso.com"]},
        )
    )
    assert len(records) == 1
    assert "only be replaced" in records[0].message
    templates = engine.org.email_address_policies[0].enabled_email_address_templates
    assert templates == ["SMTP:%m@contoso.com", "smtp:%m@fabrikam.com"]


def test_get_policy_output_shape(engine: LabEngine) -> None:
    objects = [e for e in run(engine, "Get-EmailAddressPolicy", {}) if isinstance(e, LabObject)]
    assert [o.properties["Priority"] for o in objects] == ["Lowest", "1"]


def test_update_policy_stamps_matching_recipients(engine: LabEngine) -> None:
    run(engine, "Update-EmailAddressPolicy", {"Identity": "Sales"})
    sales, jdoe = engine.org.recipients
    assert sales.email_addresses == ["SMTP:sales1@fabrikam.com", "smtp:sales1@contoso.com"]
    assert jdoe.email_addresses == ["SMTP:jdoe@contoso.com"]


def test_make_default_moves_flag(engine: LabEngine) -> None:
    run(engine, "Set-AcceptedDomain", {"Identity": "Fabrikam", "MakeDefault": True})
    assert [d.default for d in engine.org.accepted_domains] == [False, True]
