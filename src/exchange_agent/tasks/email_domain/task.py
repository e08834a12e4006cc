"""The ``remove_email_domain`` task: policies, accepted domain, then every recipient's addresses."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

import structlog
from pydantic import Field, field_validator, model_validator

from exchange_agent.errors import TaskError
from exchange_agent.remote.command import Command, Pipeline, Statement, Switch
from exchange_agent.remote.errors import CommandError
from exchange_agent.remote.psrp import PsrpSession
from exchange_agent.remote.result import ExObject, Result
from exchange_agent.remote.session import Session
from exchange_agent.remote.settings import EXCHANGE_SHELL_LIMIT
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

# The result lists at most this many changes and commands, and at most MAX_LISTED_PROBLEMS
# recipients left unchanged, so its size does not grow with the organization. The counts in
# TaskResult.data are always complete.
LISTED_CHANGES = 20
MAX_LISTED_PROBLEMS = 200

# Properties the recipient step reads. Select-Object keeps Exchange from serializing the dozens
# of others every recipient carries, and Alias is added only for a primary template.
RECIPIENT_PROPERTIES = (
    "Guid",
    "Identity",
    "Name",
    "RecipientTypeDetails",
    "EmailAddresses",
    "PrimarySmtpAddress",
    "EmailAddressPolicyEnabled",
    "ExternalEmailAddress",
)

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
    parallel_runspaces: int = Field(
        default=4,
        description=(
            "Maximum runspace pools writing recipient batches at once, including the one "
            f"reading recipients; 1 to {EXCHANGE_SHELL_LIMIT - 1}."
        ),
    )

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        return normalize_domain(value)

    @field_validator("parallel_runspaces")
    @classmethod
    def _parallel_runspaces(cls, value: int) -> int:
        if not 1 <= value < EXCHANGE_SHELL_LIMIT:
            raise ValueError(
                f"invalid parallel_runspaces {value}: expected 1 to {EXCHANGE_SHELL_LIMIT - 1}, "
                f"below Exchange's limit of {EXCHANGE_SHELL_LIMIT} concurrent shells per user"
            )
        return value

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


# One recipient write: identity, the Set-* command, its undo and the state to journal.
_Write = tuple[str, Command, Command, dict[str, Any]]


@dataclass
class _Report:
    """Counts of everything the task did, with the first few items of each kind."""

    changes: list[Change] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    change_count: int = 0
    command_count: int = 0
    warning_count: int = 0
    problem_count: int = 0

    def add_change(self, change: Change) -> None:
        self.change_count += 1
        if len(self.changes) < LISTED_CHANGES:
            self.changes.append(change)

    def add_commands(self, statements: Iterable[Statement]) -> None:
        for statement in statements:
            self.command_count += 1
            if len(self.commands) < LISTED_CHANGES:
                self.commands.append(str(statement))

    def add_warnings(self, warnings: Iterable[str]) -> None:
        for warning in warnings:
            self.warning_count += 1
            if len(self.warnings) < MAX_LISTED_PROBLEMS:
                self.warnings.append(warning)

    def add_problem(self, problem: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_LISTED_PROBLEMS:
            self.problems.append(problem)

    def data(self) -> dict[str, Any]:
        return {
            "changes": self.change_count,
            "commands": self.command_count,
            "warnings": self.warning_count,
            "problems": self.problem_count,
            "left_unchanged": list(self.problems),
        }


class _BatchWriter:
    """Send recipient batches, over several sessions when a session factory is given.

    At most ``max_pending`` batches are queued or running at once, so memory stays bounded by
    the batch size whatever the number of recipients. Each worker thread opens its own session
    on first use and :meth:`close` closes them all, which releases their shells on the server.
    """

    def __init__(
        self,
        session: Session,
        ctx: TaskContext,
        report: _Report,
        factory: Callable[[], Session] | None,
        workers: int,
    ) -> None:
        self._session = session
        self._ctx = ctx
        self._report = report
        self._factory = factory
        self._pending: set[Future[Result]] = set()
        self._max_pending = workers
        self._local = threading.local()
        self._opened: list[Session] = []
        self._lock = threading.Lock()
        self._executor = None
        if factory is not None and workers > 0:
            self._executor = ThreadPoolExecutor(workers, thread_name_prefix="email-domain")

    def send(self, statements: list[Statement]) -> None:
        """Send one batch now, or queue it once fewer than ``max_pending`` are in flight."""
        if self._executor is None:
            self._check(self._session.invoke(*statements))
            return
        while len(self._pending) >= self._max_pending:
            self._collect(FIRST_COMPLETED)
        self._pending.add(self._executor.submit(self._invoke, statements))

    def finish(self) -> None:
        """Wait for every queued batch and raise the first failure."""
        self._collect(ALL_COMPLETED)

    def close(self) -> None:
        """Wait for batches still running, then close the worker sessions.

        Batches still pending here follow a failure that is already being raised, so their
        own failures are logged instead.
        """
        if self._executor is not None:
            done, _ = wait(self._pending)
            self._pending = set()
            for future in done:
                self._log_dropped(future)
            self._executor.shutdown(wait=True)
        for opened in self._opened:
            opened.close()

    def _log_dropped(self, future: Future[Result]) -> None:
        error = future.exception()
        if error is None and future.result().ok:
            return
        message = str(error) if error is not None else str(future.result().errors[0])
        log.warning("email_domain.batch_failed", host=self._ctx.host, error=message)

    def __enter__(self) -> _BatchWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _invoke(self, statements: list[Statement]) -> Result:
        session: Session | None = getattr(self._local, "session", None)
        if session is None:
            assert self._factory is not None
            session = self._factory()
            self._local.session = session
            with self._lock:
                self._opened.append(session)
        return session.invoke(*statements)

    def _collect(self, when: str) -> None:
        done, self._pending = wait(self._pending, return_when=when)
        for future in done:
            self._check(future.result())

    def _check(self, result: Result) -> None:
        self._report.add_warnings(result.warnings)
        if not result.ok:
            raise CommandError(result.errors, host=self._ctx.host, endpoint=self._session.endpoint)


def write_session_factory(session: Session) -> Callable[[], Session] | None:
    """Return a factory of extra sessions to the same endpoint, or None to write sequentially.

    Only a PSRP session can open more runspace pools; the in-process lab session cannot.
    """
    if isinstance(session, PsrpSession):
        settings = session.settings
        # NOTE: the extra sessions use PsrpSession's default retry options, because the
        # session does not expose the ones it was made with.
        return lambda: PsrpSession(session.host, settings)
    return None


def recipient_query(domain: str, *, with_alias: bool = False) -> Pipeline:
    """Build the query for recipients with an address in ``domain``, as a two-command pipeline.

    ``with_alias`` adds the Alias property, which a primary template needs for ``%m``.
    """
    properties = list(RECIPIENT_PROPERTIES)
    if with_alias:
        properties.append("Alias")
    # The pattern also matches SIP: and other typed addresses and is case-insensitive, so
    # plan_recipient checks each address again (Microsoft Learn, "Filterable properties").
    search = Command(
        "Get-Recipient",
        {"ResultSize": "Unlimited", "Filter": f"EmailAddresses -like '*@{domain}'"},
    )
    return search | Command("Select-Object", {"Property": properties})


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
    Recipients are read as a stream and written in batches of ``batch_size``. Over PSRP the
    step uses up to ``parallel_runspaces`` runspace pools (at most the host's
    ``max_concurrency``): one reads recipients and the others send batches at once, each
    batch journaled before it is sent. The result lists the first 20 changes and commands;
    ``data`` holds the full counts and, under ``left_unchanged``, up to 200 recipients left
    unchanged with the reason.
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

        status: Literal["ok", "changed", "failed"] = "changed" if report.change_count else "ok"
        message = f"{report.change_count} change(s)" if report.change_count else "nothing in domain"
        if report.change_count > len(report.changes):
            message += f", the first {len(report.changes)} listed"
        if report.problem_count:
            status = "failed"
            message = f"{report.problem_count} recipient(s) left unchanged: " + "; ".join(
                report.problems[:LISTED_CHANGES]
            )
        return TaskResult(
            status,
            message,
            report.changes,
            report.commands,
            report.warnings,
            data=report.data(),
        )

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
                report.add_change(Change(name, "EmailAddressPolicy", "present", "absent"))
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
                report.add_change(
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
        report.add_change(Change(domain.name, "AcceptedDomain", "present", "absent"))
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
        # Recipients arrive one by one from the stream; a full batch is journaled, handed to the
        # writer and dropped, so at most a few batches are held whatever the organization size.
        factory = write_session_factory(session)
        workers = self._write_workers(session) if factory is not None else 0
        with _BatchWriter(session, ctx, report, factory, workers) as writer:
            batch: list[_Write] = []
            for recipient in self._find(session, ctx):
                item = self._recipient_write(recipient, report)
                if item is None:
                    continue
                batch.append(item)
                if len(batch) >= self.args.batch_size:
                    self._send_batch(ctx, writer, batch, report)
                    batch = []
            self._send_batch(ctx, writer, batch, report)
            writer.finish()
        if not ctx.check_mode:
            self._verify_recipients(session, ctx, report)

    def _write_workers(self, session: Session) -> int:
        """Return how many extra sessions may write while the session's own pool reads."""
        pools = self.args.parallel_runspaces
        if isinstance(session, PsrpSession):
            pools = min(pools, session.settings.max_concurrency)
        return pools - 1

    def _find(self, session: Session, ctx: TaskContext) -> Iterator[ExObject]:
        query = recipient_query(
            self.args.domain, with_alias=self.args.primary is PrimaryMode.TEMPLATE
        )
        expected = set(self.args.recipient_types)
        for recipient in session.stream(query):
            if str(recipient.get("RecipientTypeDetails")) in expected:
                yield recipient

    def _recipient_write(self, recipient: ExObject, report: _Report) -> _Write | None:
        name = str(recipient.get("Name"))
        identity = str(recipient.get("Guid") or recipient.get("Identity"))
        before = _strings(recipient.get("EmailAddresses"))
        plan = plan_recipient(
            before,
            self.args.domain,
            rule=self.args.rule,
            include_non_smtp=self.args.include_non_smtp,
            alias=str(recipient.get("Alias") or ""),
            external_address=_external(recipient),
        )
        if plan.kept:
            report.add_warnings(
                [
                    f"{name}: kept {', '.join(plan.kept)}, its external address: mail to this "
                    f"{recipient.get('RecipientTypeDetails')} is delivered there"
                ]
            )
        if plan.problem is not None:
            report.add_problem(f"{name}: {plan.problem}")
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
        report.add_change(Change(name, "EmailAddresses", before, list(plan.after)))
        return identity, write, undo, state

    def _send_batch(
        self, ctx: TaskContext, writer: _BatchWriter, batch: list[_Write], report: _Report
    ) -> None:
        if not batch:
            return
        report.add_commands(write for _, write, _, _ in batch)
        if ctx.check_mode:
            return
        # Journal.record flushes each entry, so every write below is on disk before it is sent.
        for identity, _, undo, state in batch:
            self._journal(ctx, identity, [undo], state)
        writer.send([write for _, write, _, _ in batch])

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
        report.add_commands(statements)
        if ctx.check_mode:
            return
        self._journal(ctx, target, undo, before)
        result = session.invoke(*statements)
        report.add_warnings(result.warnings)
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
                external_address=_external(recipient),
            )
            if plan.changed:
                report.add_problem(
                    f"{recipient.get('Name')}: still has {', '.join(plan.remove)} after the "
                    "write; an email address policy probably still names the domain, so run "
                    "the 'policies' step first"
                )


def _external(recipient: ExObject) -> str | None:
    """Return the ExternalEmailAddress of a mail contact or mail user, else None."""
    value = recipient.get("ExternalEmailAddress")
    return str(value) if value else None


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
