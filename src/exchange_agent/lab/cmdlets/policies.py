"""Email address policy cmdlets of the lab.

Rules modelled come from Microsoft Learn, "Email address policies in Exchange Server". The
default policy has priority ``Lowest`` and can never be removed. A policy's primary
(``SMTP:``) template cannot be removed, only replaced by another one.
``Update-EmailAddressPolicy`` applies the policy to every policy-enabled recipient it is the
first match for.

NOTE: the organization model has no disabled templates yet, so ``DisabledEmailAddressTemplates``
is always empty here and setting it to anything but an empty value is rejected.
"""

from __future__ import annotations

from typing import Any

from exchange_agent.lab.cmdlets import errors
from exchange_agent.lab.cmdlets.recipients import apply_policy, find_policy
from exchange_agent.lab.cmdlets.registry import CmdletContext, Param, cmdlet
from exchange_agent.lab.contract import LabObject, MultiValued
from exchange_agent.lab.org import EmailAddressPolicy

__all__ = ["render_policy"]

_TYPE_NAMES = (
    "Deserialized.Microsoft.Exchange.Data.Directory.SystemConfiguration.EmailAddressPolicy",
    "Deserialized.Microsoft.Exchange.Data.Directory.ADObject",
    "Deserialized.System.Object",
)


def render_policy(policy: EmailAddressPolicy) -> LabObject:
    """Render a policy as ``Get-EmailAddressPolicy`` returns it."""
    return LabObject(
        type_names=_TYPE_NAMES,
        to_string=policy.name,
        properties={
            "Identity": policy.name,
            "Name": policy.name,
            "Priority": policy.priority,
            "RecipientFilter": policy.recipient_filter,
            "IncludedRecipients": policy.included_recipients,
            "EnabledEmailAddressTemplates": MultiValued(
                tuple(policy.enabled_email_address_templates)
            ),
            "DisabledEmailAddressTemplates": MultiValued(()),
            "Guid": policy.guid,
        },
    )


def _find(ctx: CmdletContext, identity: str) -> EmailAddressPolicy | None:
    for policy in ctx.org.email_address_policies:
        if identity.casefold() in (policy.name.casefold(), policy.guid):
            return policy
    ctx.error(errors.not_found(ctx, identity))
    return None


def _primaries(templates: list[str]) -> list[str]:
    return [t for t in templates if t.startswith("SMTP:")]


_IDENTITY = Param("Identity", "identity", mandatory=True, position=0)


@cmdlet(
    "Get-EmailAddressPolicy",
    endpoint="exchange",
    params=[Param("Identity", "identity", position=0)],
)
def get_email_address_policy(ctx: CmdletContext, **bound: Any) -> None:
    """List policies, or the one ``-Identity`` names."""
    if "Identity" in bound:
        policy = _find(ctx, bound["Identity"])
        if policy is not None:
            ctx.output(render_policy(policy))
        return
    for policy in ctx.org.email_address_policies:
        ctx.output(render_policy(policy))


@cmdlet(
    "Set-EmailAddressPolicy",
    endpoint="exchange",
    params=[
        _IDENTITY,
        Param("EnabledEmailAddressTemplates", "string[]"),
        Param("DisabledEmailAddressTemplates", "string[]", allow_null=True),
    ],
)
def set_email_address_policy(ctx: CmdletContext, **bound: Any) -> None:
    """Replace a policy's templates; exactly one primary template must remain."""
    policy = _find(ctx, bound["Identity"])
    if policy is None:
        return
    if bound.get("DisabledEmailAddressTemplates"):
        ctx.terminate(
            errors.invalid_parameter(
                ctx, "The lab does not store disabled email address templates.", policy.name
            )
        )
    if "EnabledEmailAddressTemplates" in bound:
        templates = list(bound["EnabledEmailAddressTemplates"] or [])
        if len(_primaries(templates)) != 1:
            ctx.error(
                errors.invalid_parameter(
                    ctx,
                    "An email address policy needs exactly one primary SMTP template "
                    f"('SMTP:...'); found {len(_primaries(templates))}. The primary template "
                    "can only be replaced, not removed.",
                    policy.name,
                )
            )
            return
        policy.enabled_email_address_templates = templates


@cmdlet(
    "New-EmailAddressPolicy",
    endpoint="exchange",
    params=[
        Param("Name", "string", mandatory=True),
        Param("EnabledEmailAddressTemplates", "string[]", mandatory=True),
        Param("RecipientFilter", "string", allow_null=True),
        Param("IncludedRecipients", "string"),
        Param("Priority", "string"),
    ],
)
def new_email_address_policy(ctx: CmdletContext, **bound: Any) -> None:
    """Create a policy with a numbered priority; only the default policy is ``Lowest``."""
    name = bound["Name"]
    if any(p.name.casefold() == name.casefold() for p in ctx.org.email_address_policies):
        ctx.terminate(errors.duplicate(ctx, name, name))
    priority = str(bound.get("Priority") or "1")
    if priority.lower() == "lowest" or not priority.isdigit():
        ctx.terminate(
            errors.invalid_parameter(
                ctx, f"Invalid priority '{priority}': expected a number from 1 up.", name
            )
        )
    policy = EmailAddressPolicy(
        name,
        enabled_email_address_templates=list(bound["EnabledEmailAddressTemplates"]),
        recipient_filter=bound.get("RecipientFilter"),
        included_recipients=bound.get("IncludedRecipients"),
        priority=priority,
    )
    ctx.org.email_address_policies.append(policy)
    ctx.output(render_policy(policy))


@cmdlet(
    "Remove-EmailAddressPolicy",
    endpoint="exchange",
    params=[_IDENTITY, Param("Confirm", "switch")],
)
def remove_email_address_policy(ctx: CmdletContext, **bound: Any) -> None:
    """Remove a policy; the default policy (priority ``Lowest``) is rejected."""
    policy = _find(ctx, bound["Identity"])
    if policy is None:
        return
    if policy.priority.lower() == "lowest":
        ctx.error(
            errors.rejected(
                ctx,
                f"The default email address policy '{policy.name}' can't be removed.",
                policy.name,
            )
        )
        return
    ctx.org.email_address_policies.remove(policy)


@cmdlet("Update-EmailAddressPolicy", endpoint="exchange", params=[_IDENTITY])
def update_email_address_policy(ctx: CmdletContext, **bound: Any) -> None:
    """Stamp the policy's addresses on every policy-enabled recipient it applies to."""
    policy = _find(ctx, bound["Identity"])
    if policy is None:
        return
    for recipient in ctx.org.recipients:
        if recipient.email_address_policy_enabled and find_policy(ctx.org, recipient) is policy:
            recipient.email_addresses = apply_policy(recipient.email_addresses, policy, recipient)
