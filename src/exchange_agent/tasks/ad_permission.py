"""The ``ad_permission`` task: grant or revoke extended rights on a receive connector."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field, model_validator

from exchange_agent.errors import TaskError
from exchange_agent.remote.command import Command, ParameterValue, Switch
from exchange_agent.remote.errors import CommandError
from exchange_agent.tasks import register
from exchange_agent.tasks.base import Change, Plan, StateTask, TaskArgs, TaskContext


class AdPermissionArgs(TaskArgs):
    """Arguments of :class:`AdPermissionTask`."""

    identity: str = Field(description="SERVER\\Name of the receive connector.")
    user: str = Field(description="DOMAIN\\sAMAccountName, a well-known principal or a SID.")
    extended_rights: list[str] = Field(description="Extended rights such as ms-Exch-SMTP-Submit.")
    deny: bool = Field(False, description="Manage deny entries instead of allow entries.")
    state: Literal["present", "absent"] = "present"

    @model_validator(mode="after")
    def _check(self) -> AdPermissionArgs:
        if "\\" not in self.identity:
            raise ValueError(
                f"identity {self.identity!r} must be SERVER\\Name; a bare name is ambiguous "
                "when several servers have a connector of that name"
            )
        if not self.user.strip():
            raise ValueError("user is empty; name the account as DOMAIN\\sAMAccountName or SID")
        if not self.extended_rights:
            raise ValueError("extended_rights is empty; name at least one right")
        return self


@dataclass
class AceState:
    """Extended rights granted to the user directly (not inherited) with the requested deny flag."""

    rights: set[str]
    warnings: list[str]


@register
class AdPermissionTask(StateTask[AdPermissionArgs, AceState]):
    """Grant (``state: present``) or revoke (``state: absent``) extended rights on a connector.

    Allow and deny entries are separate: ``deny: true`` adds or removes deny entries only, and
    an allow entry for the same right stays. Only entries set on the connector itself count;
    inherited entries are neither compared nor removed. A right already present is not added
    again.

    Example:
        .. code-block:: yaml

            - name: Anonymous senders may relay through the printer connector
              ad_permission:
                identity: EX01\\Relay Printers
                user: NT AUTHORITY\\ANONYMOUS LOGON
                extended_rights: [ms-Exch-SMTP-Accept-Any-Recipient]
    """

    name = "ad_permission"
    args_model = AdPermissionArgs
    endpoints = ("exchange",)

    def gather(self, ctx: TaskContext) -> AceState:
        """Read the user's entries with ``Get-ADPermission -User``, which also resolves the user.

        A user that matches several accounts fails here, before any write.
        """
        args = self.args
        result = ctx.session("exchange").invoke(
            Command("Get-ADPermission", {"Identity": args.identity, "User": args.user})
        )
        if not result.ok:
            for record in result.errors:
                if "multiple users or groups" in record.message.lower():
                    raise TaskError(
                        f'user "{args.user}" matches several accounts in Active Directory. '
                        "Name the account as DOMAIN\\sAMAccountName or SID."
                    )
            raise CommandError(result.errors, host=ctx.host, endpoint="exchange")
        rights: set[str] = set()
        for row in result.output:
            if row.get("IsInherited") or bool(row.get("Deny")) != args.deny:
                continue
            rights.update(str(right).casefold() for right in row.get("ExtendedRights") or [])
        # Get-ADPermission warns about entries whose object type it cannot resolve; those are
        # reported, not failures.
        return AceState(rights, list(result.warnings))

    def plan(self, state: AceState) -> Plan:
        """Add the missing rights, or remove the present ones."""
        args = self.args
        kind = "deny" if args.deny else "allow"
        if args.state == "present":
            selected = [r for r in args.extended_rights if r.casefold() not in state.rights]
            verb = "Add-ADPermission"
        else:
            selected = [r for r in args.extended_rights if r.casefold() in state.rights]
            verb = "Remove-ADPermission"
        if not selected:
            have = "has" if args.state == "present" else "has none of"
            return Plan(
                reason=f"{args.user} {have} the {kind} rights on {args.identity}",
                warnings=state.warnings,
            )

        parameters: dict[str, ParameterValue] = {
            "Identity": args.identity,
            "User": args.user,
            "ExtendedRights": selected,
        }
        if args.deny:
            parameters["Deny"] = Switch(True)
        if args.state == "absent":
            parameters["Confirm"] = Switch(False)
        before, after = ([], selected) if args.state == "present" else (selected, [])
        change = Change(args.identity, f"{kind} {args.user}", before, after)
        return Plan(changes=[change], commands=[Command(verb, parameters)], warnings=state.warnings)

    def apply(self, ctx: TaskContext, plan: Plan) -> list[str]:
        """Record how to restore removed entries in the journal, then send the plan."""
        args = self.args
        if args.state == "absent" and ctx.journal is not None:
            [change] = plan.changes
            parameters: dict[str, ParameterValue] = {
                "Identity": args.identity,
                "User": args.user,
                "ExtendedRights": list(change.before),
            }
            if args.deny:
                parameters["Deny"] = Switch(True)
            ctx.journal.record(
                task=self.name,
                target=args.identity,
                undo=[Command("Add-ADPermission", parameters)],
                before=change.before,
            )
        return super().apply(ctx, plan)
