"""Accepted domain cmdlets of the lab: ``Get-``, ``New-``, ``Set-`` and ``Remove-AcceptedDomain``.

Refusals modelled (Microsoft Learn, "Accepted domain procedures"): the default accepted domain
cannot be removed, and a domain that an email address policy template still names cannot be
removed. The second message is the Exchange 2007 wording quoted by practical365.com; later
versions may word it differently.
"""

from __future__ import annotations

from typing import Any

from exchange_agent.lab.cmdlets import errors
from exchange_agent.lab.cmdlets.registry import CmdletContext, Param, cmdlet
from exchange_agent.lab.contract import LabObject
from exchange_agent.lab.org import AcceptedDomain

__all__ = ["render_accepted_domain", "template_domain"]

_TYPE_NAMES = (
    "Deserialized.Microsoft.Exchange.Data.Directory.SystemConfiguration.AcceptedDomain",
    "Deserialized.Microsoft.Exchange.Data.Directory.ADConfigurationObject",
    "Deserialized.Microsoft.Exchange.Data.Directory.ADObject",
    "Deserialized.System.Object",
)


def render_accepted_domain(domain: AcceptedDomain) -> LabObject:
    """Render an accepted domain as ``Get-AcceptedDomain`` returns it."""
    return LabObject(
        type_names=_TYPE_NAMES,
        to_string=domain.name,
        properties={
            "Identity": domain.name,
            "Name": domain.name,
            "DomainName": domain.domain_name,
            "DomainType": domain.domain_type,
            "Default": domain.default,
            "Guid": domain.guid,
        },
    )


def template_domain(template: str) -> str | None:
    """Return the lower-case domain an address template such as ``SMTP:%m@contoso.com`` names."""
    value = template.partition(":")[2] if ":" in template else template
    domain = value.rpartition("@")[2]
    return domain.lower() if domain else None


def _find(ctx: CmdletContext, identity: str) -> AcceptedDomain | None:
    expected = identity.casefold()
    for domain in ctx.org.accepted_domains:
        if expected in (domain.name.casefold(), domain.domain_name.casefold(), domain.guid):
            return domain
    ctx.error(errors.not_found(ctx, identity))
    return None


_IDENTITY = Param("Identity", "identity", position=0, pipeline_by_property="Identity")


@cmdlet("Get-AcceptedDomain", endpoint="exchange", params=[_IDENTITY])
def get_accepted_domain(ctx: CmdletContext, **bound: Any) -> None:
    """List accepted domains, or the one ``-Identity`` names."""
    if "Identity" in bound:
        domain = _find(ctx, bound["Identity"])
        if domain is not None:
            ctx.output(render_accepted_domain(domain))
        return
    for domain in ctx.org.accepted_domains:
        ctx.output(render_accepted_domain(domain))


@cmdlet(
    "New-AcceptedDomain",
    endpoint="exchange",
    params=[
        Param("Name", "string", mandatory=True),
        Param("DomainName", "string", mandatory=True),
        Param("DomainType", "string"),
    ],
)
def new_accepted_domain(ctx: CmdletContext, **bound: Any) -> None:
    """Create an accepted domain; a duplicate name or domain is rejected."""
    name, domain_name = bound["Name"], bound["DomainName"]
    for existing in ctx.org.accepted_domains:
        if existing.name.casefold() == name.casefold():
            ctx.terminate(errors.duplicate(ctx, name, name))
        if existing.domain_name.casefold() == domain_name.casefold():
            ctx.terminate(errors.duplicate(ctx, domain_name, domain_name))
    domain = AcceptedDomain(name, domain_name, bound.get("DomainType") or "Authoritative")
    ctx.org.accepted_domains.append(domain)
    ctx.output(render_accepted_domain(domain))


@cmdlet(
    "Set-AcceptedDomain",
    endpoint="exchange",
    params=[_IDENTITY, Param("MakeDefault", "bool"), Param("DomainType", "string")],
)
def set_accepted_domain(ctx: CmdletContext, **bound: Any) -> None:
    """Make a domain the default, or change its type."""
    domain = _find(ctx, bound["Identity"])
    if domain is None:
        return
    if bound.get("MakeDefault"):
        for other in ctx.org.accepted_domains:
            other.default = other is domain
    if bound.get("DomainType"):
        domain.domain_type = bound["DomainType"]


@cmdlet(
    "Remove-AcceptedDomain",
    endpoint="exchange",
    params=[_IDENTITY, Param("Confirm", "switch")],
)
def remove_accepted_domain(ctx: CmdletContext, **bound: Any) -> None:
    """Remove an accepted domain unless it is the default or a policy template names it."""
    domain = _find(ctx, bound["Identity"])
    if domain is None:
        return
    if domain.default:
        ctx.error(
            errors.rejected(
                ctx,
                f"The default accepted domain '{domain.name}' can't be removed. Make another "
                "accepted domain the default first.",
                domain.name,
            )
        )
        return
    expected = domain.domain_name.lower()
    templates = [
        template
        for policy in ctx.org.email_address_policies
        for template in policy.enabled_email_address_templates
        if template_domain(template) == expected
    ]
    if templates:
        ctx.error(
            errors.rejected(
                ctx,
                f"The accepted domain '{domain.domain_name}' cannot be removed or made external "
                "because it is referenced by the e-mail address policy templates "
                f"'{', '.join(templates)}'.",
                domain.name,
            )
        )
        return
    ctx.org.accepted_domains.remove(domain)
