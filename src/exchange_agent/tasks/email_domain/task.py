"""The ``remove_email_domain`` task: policies, accepted domain, then every recipient's addresses."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import structlog
from pydantic import Field, field_validator, model_validator

from exchange_agent.errors import TaskError
from exchange_agent.remote.command import Command, Statement, Switch
from exchange_agent.remote.errors import CommandError
from exchange_agent.remote.result import ExObject
from exchange_agent.remote.session import Session
from exchange_agent.tasks import register
from exchange_agent.tasks.base import Change, Task, TaskArgs, TaskContext, TaskResult
from exchange_agent.tasks.email_domain.plan import (
    AcceptedDomainFact,
    PolicyPlan,
    PrimaryMode,
    PrimaryRule,
    address_domain,
    check_accepted_domain_removal,
    normalize_domain,
    plan_policy,
    plan_recipient,
)

log = structlog.get_logger(__name__)

Step = Literal["policies", "accepted_domain", "recipients"]

# The Set-* cmdlet for each RecipientTypeDetails value that carries proxy addresses (Microsoft
# Learn reference pages of Set-Mailbox, Set-MailUser, Set-MailContact, Set-DistributionGroup,
# Set-DynamicDistributionGroup, Set-MailPublicFolder and Set-RemoteMailbox).
SETTER_BY_TYPE: dict[str, str] = {
    "UserMailbox": "Set-Mailbox",
    "SharedMailbox": "Set-Mailbox",
    "RoomMailbox": "Set-Mailbox",
    "EquipmentMailbox": "Set-Mailbox",
    "MailUser": "Set-MailUser",
    "MailContact": "Set-MailContact",
    "MailUniversalDistributionGroup": "Set-DistributionGroup",
    "MailUniversalSecurityGroup": "Set-DistributionGroup",
    "DynamicDistributionGroup": "Set-DynamicDistributionGroup",
    "PublicFolder": "Set-MailPublicFolder",
    "RemoteUserMailbox": "Set-RemoteMailbox",
    "RemoteSharedMailbox": "Set-RemoteMailbox",
    "RemoteRoomMailbox": "Set-RemoteMailbox",
    "RemoteEquipmentMailbox": "Set-RemoteMailbox",
}


class RemoveEmailDomainArgs(TaskArgs):
    """Arguments of :class:`RemoveEmailDomainTask`."""

    domain: str = Field(description="The email domain to remove, such as fabrikam.com.")
    primary: PrimaryMode = Field(
        default=PrimaryMode.FAIL,
        description="Handling of a primary in the domain: fail, promote or template.",
    )
    promote_domains: tuple[str, ...] = Field(
        default=(), description="Preferred domains for 'promote'."
    )
    primary_template: str | None = Field(
        default=None, description="Address template, '%m@fabrikam.com'."
    )
    recipient_types: tuple[str, ...] = tuple(SETTER_BY_TYPE)
    include_non_smtp: bool = Field(
        default=False, description="Also remove SIP: and other typed proxies."
    )
    steps: tuple[Step, ...] = ("policies", "accepted_domain", "recipients")
    policy_primary_templates: dict[str, str] = Field(
        default_factory=dict, description="Replacement primary template per policy name."
    )
    update_policies: bool = Field(
        default=False, description="Run Update-EmailAddressPolicy after edits."
    )
    batch_size: int = Field(
        default=20, ge=1, le=500, description="Set-* statements per round trip."
    )

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        return normalize_domain(value)

    @field_validator("promote_domains")
    @classmethod
    def _promote_domains(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(normalize_domain(d) for d in value)

    @field_validator("recipient_types")
    @classmethod
    def _types(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [t for t in value if t not in SETTER_BY_TYPE]
        if unknown:
            raise ValueError(
                f"unknown recipient type {unknown[0]!r}; valid: {', '.join(SETTER_BY_TYPE)}"
            )
        return value

    @model_validator(mode="after")
    def _template_given(self) -> RemoveEmailDomainArgs:
        if self.primary is PrimaryMode.TEMPLATE and not self.primary_template:
            raise ValueError("primary: template needs 'primary_template', e.g. '%m@fabrikam.com'")
        if self.primary_template is not None:
            template_domain = address_domain(self.primary_template.replace("%", "x"))
            if template_domain is None or template_domain == self.domain:
                raise ValueError(
                    f"invalid primary_template {self.primary_template!r}: expected an address "
                    f"template such as '%m@fabrikam.com' in a domain other than {self.domain}"
                )
        return self

    @property
    def rule(self) -> PrimaryRule:
        """The primary rule the plan functions take."""
        return PrimaryRule(self.primary, self.promote_domains, self.primary_template)


@dataclass
class _Report:
    changes: list[Change] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@register
class RemoveEmailDomainTask(Task[RemoveEmailDomainArgs]):
    """Remove an email domain from policies, accepted domains and every recipient.

    Runs three idempotent steps in the order Exchange enforces. ``policies`` drops every
    enabled and disabled template in the domain; a primary template can only be replaced, so
    name a replacement in ``policy_primary_templates``, and a non-default policy left with no
    template is removed. ``accepted_domain`` removes the accepted domain (never the default
    one). ``recipients`` finds recipients with a server-side filter and removes exactly the
    addresses whose part after ``@`` is the domain, with ``@{Remove=...}``. Every write is
    journaled first with the recipient's whole previous address list and policy flag.
    Policy and accepted domain problems are raised before anything changes. A recipient whose
    primary is in the domain under ``primary: fail`` is left unchanged and reported while the
    others are cleaned, and the task then ends ``failed``.

    Example:
        .. code-block:: yaml

            - name: drop fabrikam.com
              remove_email_domain:
                domain: fabrikam.com
                primary: template
                primary_template: "%m@contoso.com"
                policy_primary_templates: {Default Policy: "SMTP:@contoso.com"}
    """

    name = "remove_email_domain"
    args_model = RemoveEmailDomainArgs

    def run(self, ctx: TaskContext) -> TaskResult:
        """Plan every step before writing anything, then apply each in order."""
        session = ctx.session("exchange")
        report = _Report()
        policies = self._plan_policies(session, ctx) if "policies" in self.args.steps else []
        domain = None
        if "accepted_domain" in self.args.steps:
            domain = check_accepted_domain_removal(
                _accepted_domains(session, ctx), self.args.domain
            )

        self._apply_policies(ctx, session, policies, report)
        if domain is not None:
            self._remove_accepted_domain(ctx, session, domain, report)
        if "recipients" in self.args.steps:
            self._clean_recipients(ctx, session, report)

        status: Literal["ok", "changed", "failed"] = "changed" if report.changes else "ok"
        message = f"{len(report.changes)} change(s)" if report.changes else "nothing in domain"
        if report.problems:
            status = "failed"
            message = f"{len(report.problems)} recipient(s) left unchanged: " + "; ".join(
                report.problems[:20]
            )
        return TaskResult(status, message, report.changes, report.commands, report.warnings)

    def _plan_policies(
        self, session: Session, ctx: TaskContext
    ) -> list[tuple[ExObject, PolicyPlan]]:
        plans = []
        for policy in _read(session, ctx, Command("Get-EmailAddressPolicy")):
            name = str(policy.get("Name"))
            plan = plan_policy(
                _strings(policy.get("EnabledEmailAddressTemplates")),
                _strings(policy.get("DisabledEmailAddressTemplates")),
                self.args.domain,
                is_default=str(policy.get("Priority")).lower() == "lowest",
                policy_name=name,
                primary_replacement=self.args.policy_primary_templates.get(name),
                include_non_smtp=self.args.include_non_smtp,
            )
            if plan.changed:
                plans.append((policy, plan))
        return plans

    def _apply_policies(
        self,
        ctx: TaskContext,
        session: Session,
        plans: list[tuple[ExObject, PolicyPlan]],
        report: _Report,
    ) -> None:
        for policy, plan in plans:
            name = str(policy.get("Name"))
            enabled = _strings(policy.get("EnabledEmailAddressTemplates"))
            disabled = _strings(policy.get("DisabledEmailAddressTemplates"))
            if plan.remove_policy:
                command: Command = Command(
                    "Remove-EmailAddressPolicy", {"Identity": name, "Confirm": Switch(False)}
                )
                undo = Command(
                    "New-EmailAddressPolicy",
                    {
                        "Name": name,
                        "EnabledEmailAddressTemplates": enabled,
                        "RecipientFilter": policy.get("RecipientFilter"),
                        "Priority": policy.get("Priority"),
                    },
                )
                report.changes.append(Change(name, "EmailAddressPolicy", "present", "absent"))
            else:
                command = Command(
                    "Set-EmailAddressPolicy",
                    {
                        "Identity": name,
                        "EnabledEmailAddressTemplates": list(plan.enabled_after),
                        "DisabledEmailAddressTemplates": list(plan.disabled_after) or None,
                    },
                )
                undo = Command(
                    "Set-EmailAddressPolicy",
                    {
                        "Identity": name,
                        "EnabledEmailAddressTemplates": enabled,
                        "DisabledEmailAddressTemplates": disabled or None,
                    },
                )
                report.changes.append(
                    Change(name, "EnabledEmailAddressTemplates", enabled, list(plan.enabled_after))
                )
            statements: list[Statement] = [command]
            if self.args.update_policies and not plan.remove_policy:
                statements.append(Command("Update-EmailAddressPolicy", {"Identity": name}))
            self._send(
                ctx,
                session,
                statements,
                report,
                target=name,
                undo=[undo],
                before={
                    "EnabledEmailAddressTemplates": enabled,
                    "DisabledEmailAddressTemplates": disabled,
                },
            )

    def _remove_accepted_domain(
        self, ctx: TaskContext, session: Session, domain: AcceptedDomainFact, report: _Report
    ) -> None:
        command = Command(
            "Remove-AcceptedDomain", {"Identity": domain.name, "Confirm": Switch(False)}
        )
        undo = Command(
            "New-AcceptedDomain", {"Name": domain.name, "DomainName": domain.domain_name}
        )
        report.changes.append(Change(domain.name, "AcceptedDomain", "present", "absent"))
        self._send(
            ctx,
            session,
            [command],
            report,
            target=domain.name,
            undo=[undo],
            before={"DomainName": domain.domain_name},
        )

    def _clean_recipients(self, ctx: TaskContext, session: Session, report: _Report) -> None:
        # NOTE: batches go out one after another on one session, not over parallel runspaces,
        # and every planned change is kept in the report, so memory grows with affected count.
        batch: list[tuple[str, Command, Command, dict[str, Any]]] = []
        for recipient in self._find(session, ctx):
            item = self._recipient_write(recipient, report)
            if item is None:
                continue
            batch.append(item)
            if len(batch) >= self.args.batch_size:
                self._send_batch(ctx, session, batch, report)
                batch = []
        self._send_batch(ctx, session, batch, report)
        if not ctx.check_mode:
            self._verify_recipients(session, ctx, report)

    def _find(self, session: Session, ctx: TaskContext) -> Iterator[ExObject]:
        # The pattern also matches SIP: and other typed addresses and is case-insensitive, so
        # plan_recipient checks each address again (Microsoft Learn, "Filterable properties").
        query = Command(
            "Get-Recipient",
            {
                "ResultSize": "Unlimited",
                "Filter": f"EmailAddresses -like '*@{self.args.domain}'",
            },
        )
        expected = set(self.args.recipient_types)
        for recipient in session.stream(query):
            if str(recipient.get("RecipientTypeDetails")) in expected:
                yield recipient

    def _recipient_write(
        self, recipient: ExObject, report: _Report
    ) -> tuple[str, Command, Command, dict[str, Any]] | None:
        name = str(recipient.get("Name"))
        identity = str(recipient.get("Guid") or recipient.get("Identity"))
        before = _strings(recipient.get("EmailAddresses"))
        plan = plan_recipient(
            before,
            self.args.domain,
            rule=self.args.rule,
            include_non_smtp=self.args.include_non_smtp,
            alias=str(recipient.get("Alias") or ""),
        )
        if plan.problem is not None:
            report.problems.append(f"{name}: {plan.problem}")
            return None
        if not plan.changed:
            return None

        setter = SETTER_BY_TYPE[str(recipient.get("RecipientTypeDetails"))]
        edit: dict[str, Any] = {"Remove": list(plan.remove)}
        if plan.new_primary is not None:
            edit["Add"] = [plan.new_primary]
        policy_flag = bool(recipient.get("EmailAddressPolicyEnabled"))
        write = Command(setter, {"Identity": identity, "EmailAddresses": edit})
        # Undo restores the absolute list and flag, so replaying it twice is harmless.
        undo = Command(
            setter,
            {
                "Identity": identity,
                "EmailAddresses": before,
                "EmailAddressPolicyEnabled": policy_flag,
            },
        )
        state = {
            "Name": name,
            "EmailAddresses": before,
            "PrimarySmtpAddress": recipient.get("PrimarySmtpAddress"),
            "EmailAddressPolicyEnabled": policy_flag,
        }
        report.changes.append(Change(name, "EmailAddresses", before, list(plan.after)))
        return identity, write, undo, state

    def _send_batch(
        self,
        ctx: TaskContext,
        session: Session,
        batch: list[tuple[str, Command, Command, dict[str, Any]]],
        report: _Report,
    ) -> None:
        if not batch:
            return
        report.commands.extend(str(write) for _, write, _, _ in batch)
        if ctx.check_mode:
            return
        for identity, _, undo, state in batch:
            self._journal(ctx, identity, [undo], state)
        result = session.invoke(*(write for _, write, _, _ in batch))
        report.warnings.extend(result.warnings)
        if not result.ok:
            raise CommandError(result.errors, host=ctx.host, endpoint=session.endpoint)

    def _send(
        self,
        ctx: TaskContext,
        session: Session,
        statements: list[Statement],
        report: _Report,
        *,
        target: str,
        undo: list[Statement],
        before: Any,
    ) -> None:
        report.commands.extend(str(s) for s in statements)
        if ctx.check_mode:
            return
        self._journal(ctx, target, undo, before)
        result = session.invoke(*statements)
        report.warnings.extend(result.warnings)
        if not result.ok:
            raise CommandError(result.errors, host=ctx.host, endpoint=session.endpoint)

    def _journal(self, ctx: TaskContext, target: str, undo: list[Statement], before: Any) -> None:
        if ctx.journal is None:
            raise TaskError(
                "remove_email_domain removes addresses and needs a journal to record them "
                "first, but the run has none; run without check mode through the runner"
            )
        ctx.journal.record(task=self.name, target=target, undo=undo, before=before)

    def _verify_recipients(self, session: Session, ctx: TaskContext, report: _Report) -> None:
        # A policy that still has a template in the domain stamps the address back on every
        # write, so Exchange accepts the edit and the address remains.
        for recipient in self._find(session, ctx):
            plan = plan_recipient(
                _strings(recipient.get("EmailAddresses")),
                self.args.domain,
                rule=self.args.rule,
                include_non_smtp=self.args.include_non_smtp,
                alias=str(recipient.get("Alias") or ""),
            )
            if plan.changed:
                report.problems.append(
                    f"{recipient.get('Name')}: still has {', '.join(plan.remove)} after the "
                    "write; an email address policy probably still names the domain, so run "
                    "the 'policies' step first"
                )


def _read(session: Session, ctx: TaskContext, command: Command) -> list[ExObject]:
    result = session.invoke(command)
    if not result.ok:
        raise CommandError(result.errors, host=ctx.host, endpoint=session.endpoint)
    return list(result.output)


def _accepted_domains(session: Session, ctx: TaskContext) -> list[AcceptedDomainFact]:
    return [
        AcceptedDomainFact(
            str(d.get("Name")), str(d.get("DomainName")), str(d.get("Default")).lower() == "true"
        )
        for d in _read(session, ctx, Command("Get-AcceptedDomain"))
    ]


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(item) for item in value]
