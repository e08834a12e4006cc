"""remove_email_domain against the lab organization through the in-process session."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from exchange_agent.journal import Journal, read_journal
from exchange_agent.lab.clock import ManualClock
from exchange_agent.lab.engine import LabEngine
from exchange_agent.lab.org import (
    AcceptedDomain,
    EmailAddressPolicy,
    Organization,
    Recipient,
)
from exchange_agent.remote.command import Statement
from exchange_agent.remote.errors import TransportError
from exchange_agent.remote.inprocess import InProcessSession
from exchange_agent.remote.result import Result
from exchange_agent.remote.session import EndpointKind, Session
from exchange_agent.tasks.base import TaskContext, TaskResult
from exchange_agent.tasks.email_domain.plan import EmailDomainPlanError
from exchange_agent.tasks.email_domain.task import RemoveEmailDomainArgs, RemoveEmailDomainTask


def _recipient(name: str, kind: str, addresses: list[str], policy: bool = False) -> Recipient:
    recipient_type = "UserMailbox" if kind.endswith("Mailbox") and "Remote" not in kind else kind
    return Recipient(
        name,
        name,
        recipient_type=recipient_type,
        recipient_type_details=kind,
        email_addresses=addresses,
        email_address_policy_enabled=policy,
    )


def _org() -> Organization:
    org = Organization()
    org.accepted_domains += [
        AcceptedDomain("contoso.com", "contoso.com", default=True),
        AcceptedDomain("fabrikam.com", "fabrikam.com"),
    ]
    org.email_address_policies += [
        EmailAddressPolicy(
            "Default Policy",
            enabled_email_address_templates=["SMTP:%m@contoso.com", "smtp:%m@fabrikam.com"],
        ),
        EmailAddressPolicy(
            "Fabrikam Only",
            enabled_email_address_templates=["SMTP:%m@fabrikam.com"],
            recipient_filter="Alias -eq 'nobody'",
            priority="1",
        ),
    ]
    org.recipients += [
        _recipient(
            "asmith", "UserMailbox", ["SMTP:asmith@contoso.com", "smtp:asmith@fabrikam.com"], True
        ),
        _recipient(
            "shared", "SharedMailbox", ["SMTP:shared@contoso.com", "smtp:Shared@FABRIKAM.com"]
        ),
        _recipient(
            "room1", "RoomMailbox", ["SMTP:room1@contoso.com", "smtp:room1@notfabrikam.com"]
        ),
        _recipient(
            "mu1",
            "MailUser",
            [
                "SMTP:mu1@fabrikam.com",
                "smtp:mu1@tailspin.com",
                "X500:/o=x/cn=mu1",
                "SIP:mu1@fabrikam.com",
            ],
        ),
        _recipient("c1", "MailContact", ["SMTP:c1@example.net", "smtp:c1@fabrikam.com"]),
        _recipient(
            "dl1",
            "MailUniversalDistributionGroup",
            ["SMTP:dl1@contoso.com", "smtp:dl1@fabrikam.com"],
        ),
        _recipient("pf1", "PublicFolder", ["SMTP:pf1@contoso.com", "smtp:pf1@sub.fabrikam.com"]),
        _recipient("rm1", "RemoteUserMailbox", ["SMTP:rm1@contoso.com", "smtp:rm1@fabrikam.com"]),
    ]
    return org


class _Harness:
    def __init__(self, tmp_path: Path, org: Organization | None = None) -> None:
        self.engine = LabEngine(org or _org(), clock=ManualClock())
        self.session: Session = InProcessSession("ex01", self.engine)
        self.journal_path = tmp_path / "journal.jsonl"
        self.journal = Journal(self.journal_path, "run-1")

    def run(self, check: bool = False, session: Session | None = None, **args: Any) -> TaskResult:
        chosen = session or self.session

        def open_session(endpoint: EndpointKind) -> Session:
            return chosen

        ctx = TaskContext(
            host="ex01",
            check_mode=check,
            diff=True,
            vars={},
            open_session=open_session,
            journal=None if check else self.journal,
        )
        return RemoveEmailDomainTask(RemoveEmailDomainArgs(**args)).run(ctx)

    def addresses(self, name: str) -> list[str]:
        return next(r.email_addresses for r in self.engine.org.recipients if r.name == name)

    def undo(self) -> None:
        entries, _ = read_journal(self.journal_path)
        for entry in reversed(entries):
            result = self.session.invoke(*entry.undo)
            assert result.ok, result.errors


ALL_STEPS: dict[str, Any] = {
    "domain": "fabrikam.com",
    "primary": "promote",
    "policy_primary_templates": {"Default Policy": "SMTP:%m@contoso.com"},
}


def test_full_run_removes_domain_everywhere(tmp_path: Path) -> None:
    lab = _Harness(tmp_path)
    result = lab.run(**ALL_STEPS)
    assert result.status == "changed", result.message
    org = lab.engine.org
    assert [d.domain_name for d in org.accepted_domains] == ["contoso.com"]
    assert [p.name for p in org.email_address_policies] == ["Default Policy"]
    assert org.email_address_policies[0].enabled_email_address_templates == ["SMTP:%m@contoso.com"]
    assert lab.addresses("asmith") == ["SMTP:asmith@contoso.com"]
    assert lab.addresses("shared") == ["SMTP:shared@contoso.com"]
    assert lab.addresses("room1") == ["SMTP:room1@contoso.com", "smtp:room1@notfabrikam.com"]
    # Active Directory keeps proxyAddresses unordered, so compare the set and the primary.
    assert set(lab.addresses("mu1")) == {
        "SMTP:mu1@tailspin.com",
        "X500:/o=x/cn=mu1",
        "SIP:mu1@fabrikam.com",
    }
    assert lab.addresses("c1") == ["SMTP:c1@example.net"]
    assert lab.addresses("pf1") == ["SMTP:pf1@contoso.com", "smtp:pf1@sub.fabrikam.com"]
    assert lab.addresses("rm1") == ["SMTP:rm1@contoso.com"]


def test_second_run_converges(tmp_path: Path) -> None:
    lab = _Harness(tmp_path)
    lab.run(**ALL_STEPS)
    again = lab.run(**ALL_STEPS)
    assert again.status == "ok", again.message
    assert again.changes == []


def test_check_mode_writes_nothing(tmp_path: Path) -> None:
    lab = _Harness(tmp_path)
    before = copy.deepcopy(lab.engine.org)
    result = lab.run(check=True, **ALL_STEPS)
    assert result.status == "changed"
    assert len(result.commands) == 9
    assert lab.engine.org == before
    assert not lab.journal_path.exists()


def test_primary_fail_reports_and_changes_others(tmp_path: Path) -> None:
    lab = _Harness(tmp_path)
    result = lab.run(domain="fabrikam.com", steps=["recipients"])
    assert result.status == "failed"
    assert "mu1" in result.message
    assert lab.addresses("mu1")[0] == "SMTP:mu1@fabrikam.com"
    assert lab.addresses("c1") == ["SMTP:c1@example.net"]


def test_default_accepted_domain_rejected_before_changes(tmp_path: Path) -> None:
    lab = _Harness(tmp_path)
    before = copy.deepcopy(lab.engine.org)
    with pytest.raises(EmailDomainPlanError, match="make another accepted domain the default"):
        lab.run(
            domain="contoso.com",
            primary="promote",
            policy_primary_templates={"Default Policy": "SMTP:%m@fabrikam.com"},
        )
    assert lab.engine.org == before


def test_policy_primary_without_replacement_rejected_before_changes(tmp_path: Path) -> None:
    org = _org()
    org.email_address_policies[0].enabled_email_address_templates = ["SMTP:%m@fabrikam.com"]
    lab = _Harness(tmp_path, org)
    before = copy.deepcopy(lab.engine.org)
    with pytest.raises(EmailDomainPlanError, match="Default Policy"):
        lab.run(domain="fabrikam.com", primary="promote")
    assert lab.engine.org == before


def test_accepted_domain_refused_while_policy_names_it(tmp_path: Path) -> None:
    lab = _Harness(tmp_path)
    with pytest.raises(Exception, match="referenced by the e-mail address policy templates"):
        lab.run(domain="fabrikam.com", steps=["accepted_domain"])


def test_recipients_step_alone_policy_restamps(tmp_path: Path) -> None:
    """A policy template still naming the domain adds the address back on every write."""
    org = Organization()
    org.email_address_policies.append(
        EmailAddressPolicy(
            "Default Policy",
            enabled_email_address_templates=["SMTP:%m@contoso.com", "smtp:%m@fabrikam.com"],
        )
    )
    org.recipients += [
        _recipient(
            "asmith", "UserMailbox", ["SMTP:asmith@contoso.com", "smtp:asmith@fabrikam.com"], True
        ),
        _recipient(
            "partner1",
            "MailContact",
            ["SMTP:partner1@example.net", "smtp:partner1@fabrikam.com"],
            True,
        ),
    ]
    lab = _Harness(tmp_path, org)
    result = lab.run(domain="fabrikam.com", steps=["recipients"])
    assert result.status == "failed"
    assert "asmith: still has smtp:asmith@fabrikam.com" in result.message
    assert "partner1: still has" in result.message
    assert "policies" in result.message


def test_journal_undo_restores_exact_lists(tmp_path: Path) -> None:
    lab = _Harness(tmp_path)
    original = {r.name: list(r.email_addresses) for r in lab.engine.org.recipients}
    lab.run(domain="fabrikam.com", primary="promote", steps=["recipients"])
    entries, warnings = read_journal(lab.journal_path)
    assert warnings == []
    assert len(entries) == 6
    first = entries[0]
    assert first.before["EmailAddresses"] == original[first.before["Name"]]
    lab.undo()
    lab.undo()  # replaying the journal twice changes nothing more
    restored = {r.name: list(r.email_addresses) for r in lab.engine.org.recipients}
    assert restored == original


class _DroppingSession:
    """The in-process session that loses the connection after a number of writes."""

    def __init__(self, inner: Session, writes_before_drop: int) -> None:
        self.inner = inner
        self.remaining = writes_before_drop
        self.host = inner.host
        self.endpoint = inner.endpoint

    def invoke(self, *statements: Statement, timeout: float | None = None) -> Result:
        if any(str(s).startswith("Set-") for s in statements):
            if self.remaining == 0:
                raise TransportError("connection reset by the lab", host=self.host)
            self.remaining -= 1
        return self.inner.invoke(*statements, timeout=timeout)

    def stream(self, statement: Statement, timeout: float | None = None) -> Any:
        return self.inner.stream(statement, timeout=timeout)

    def close(self) -> None:
        self.inner.close()


def test_interrupted_run_loses_nothing_and_rerun_converges(tmp_path: Path) -> None:
    lab = _Harness(tmp_path)
    original = {r.name: list(r.email_addresses) for r in lab.engine.org.recipients}
    # One Set-EmailAddressPolicy and two recipient batches get through, then the link drops.
    dropping = _DroppingSession(lab.session, writes_before_drop=3)
    with pytest.raises(TransportError):
        lab.run(session=dropping, batch_size=2, **ALL_STEPS)
    entries, _ = read_journal(lab.journal_path)
    journaled = {entry.target for entry in entries}
    changed = {r.guid for r in lab.engine.org.recipients if r.email_addresses != original[r.name]}
    assert len(changed) == 4
    assert changed <= journaled

    rerun = lab.run(**ALL_STEPS)
    assert rerun.status == "changed", rerun.message
    final = lab.run(**ALL_STEPS)
    assert final.status == "ok", final.message
    assert lab.addresses("rm1") == ["SMTP:rm1@contoso.com"]


@pytest.mark.parametrize("template", ["%m@fabrikam.com", "%m@FABRIKAM.COM", "nodomain"])
def test_args_reject_primary_template_in_domain(template: str) -> None:
    with pytest.raises(ValueError, match="invalid primary_template"):
        RemoveEmailDomainArgs(domain="fabrikam.com", primary="template", primary_template=template)


def test_args_reject_unknown_recipient_type() -> None:
    with pytest.raises(ValueError, match="unknown recipient type 'Mailbox'"):
        RemoveEmailDomainArgs(domain="fabrikam.com", recipient_types=["Mailbox"])


def test_template_primary_and_type_filter(tmp_path: Path) -> None:
    lab = _Harness(tmp_path)
    result = lab.run(
        domain="fabrikam.com",
        primary="template",
        primary_template="%m@contoso.com",
        recipient_types=["MailUser"],
        steps=["recipients"],
    )
    assert result.status == "changed", result.message
    assert lab.addresses("mu1")[-1] == "SMTP:mu1@contoso.com"
    assert "smtp:mu1@fabrikam.com" not in [a.lower() for a in lab.addresses("mu1")]
    assert lab.addresses("c1") == ["SMTP:c1@example.net", "smtp:c1@fabrikam.com"]
