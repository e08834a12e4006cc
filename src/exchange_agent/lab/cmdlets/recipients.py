"""Recipient cmdlets of the lab: ``Get-Recipient``, ``Get-Mailbox`` and the ``Set-*`` address edits.

Exchange behaviour modelled here (Microsoft Learn, Set-Mailbox and Get-Recipient reference
pages, and "Email address policies in Exchange Server"):

- ``-EmailAddresses`` with a list replaces every proxy address; a hashtable
  ``@{Add=...; Remove=...}`` edits the stored list in place. An address without a prefix is
  an SMTP address. Only one ``SMTP:`` (primary) may exist.
- Removing the primary without naming a new one is rejected.
- A recipient with ``EmailAddressPolicyEnabled`` keeps the primary its policy generates: a
  request for another primary is ignored with a warning, and every write re-applies the
  policy's templates, so an address a template still generates comes back.
- ``Get-Recipient`` returns 1000 objects unless ``-ResultSize`` sets another limit, and warns when
  more exist.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from exchange_agent.lab.cmdlets import errors
from exchange_agent.lab.cmdlets.registry import CmdletContext, Param, cmdlet
from exchange_agent.lab.contract import LabEvent, LabObject, LabWarning, MultiValued
from exchange_agent.lab.opath import OpathError, compile_filter
from exchange_agent.lab.org import EmailAddressPolicy, Organization, Recipient

__all__ = ["SET_CMDLET_BY_TYPE", "apply_policy", "find_policy", "render_recipient"]

# The Set-* cmdlet that edits each RecipientTypeDetails value (Microsoft Learn, Set-Mailbox,
# Set-MailUser, Set-MailContact, Set-DistributionGroup, Set-DynamicDistributionGroup,
# Set-MailPublicFolder and Set-RemoteMailbox reference pages).
SET_CMDLET_BY_TYPE: dict[str, str] = {
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

_MAILBOX_TYPES = frozenset(
    name for name, setter in SET_CMDLET_BY_TYPE.items() if setter == "Set-Mailbox"
)
_DEFAULT_RESULT_SIZE = 1000
# NOTE: the truncation warning text is the one widely quoted from Exchange 2013-2019 shells,
# not confirmed against a server for every version.
_MORE_RESULTS_WARNING = (
    "There are more results available than are currently displayed. To view them, increase "
    "the value for the ResultSize parameter."
)
_PRIMARY_POLICY_WARNING = (
    "Couldn't update the primary SMTP address because this mailbox is configured to use an "
    "email address policy to generate the primary SMTP address. To change the primary SMTP "
    "address, first disable the email address policy for this mailbox."
)
_TYPE_NAMES = (
    "Deserialized.Microsoft.Exchange.Data.Directory.Management.ReducedRecipient",
    "Deserialized.Microsoft.Exchange.Data.Directory.ADObject",
    "Deserialized.Microsoft.Exchange.Data.ConfigurableObject",
    "Deserialized.System.Object",
)


def render_recipient(recipient: Recipient) -> LabObject:
    """Render a recipient as the reduced object ``Get-Recipient`` returns."""
    return LabObject(
        type_names=_TYPE_NAMES,
        to_string=recipient.name,
        properties={
            "Identity": recipient.name,
            "Name": recipient.name,
            "Alias": recipient.alias,
            "DisplayName": recipient.display_name or recipient.name,
            "RecipientType": recipient.recipient_type,
            "RecipientTypeDetails": recipient.recipient_type_details,
            "PrimarySmtpAddress": recipient.primary_smtp_address,
            "EmailAddresses": MultiValued(tuple(recipient.email_addresses)),
            "EmailAddressPolicyEnabled": recipient.email_address_policy_enabled,
            "DistinguishedName": recipient.distinguished_name,
            "Guid": recipient.guid,
            "ExternalEmailAddress": recipient.external_email_address,
        },
    )


def _filter_values(recipient: Recipient) -> dict[str, Any]:
    return {
        "Name": recipient.name,
        "Alias": recipient.alias,
        "RecipientType": recipient.recipient_type,
        "RecipientTypeDetails": recipient.recipient_type_details,
        "PrimarySmtpAddress": recipient.primary_smtp_address,
        "EmailAddresses": recipient.email_addresses,
        "EmailAddressPolicyEnabled": recipient.email_address_policy_enabled,
    }


def _priority_key(policy: EmailAddressPolicy) -> int:
    # The default policy has priority "Lowest" and is evaluated after every numbered policy.
    return 1 << 30 if policy.priority.lower() == "lowest" else int(policy.priority)


def find_policy(org: Organization, recipient: Recipient) -> EmailAddressPolicy | None:
    """Return the highest-priority policy whose filter includes ``recipient``, if any."""
    for policy in sorted(org.email_address_policies, key=_priority_key):
        if policy.recipient_filter is None or compile_filter(policy.recipient_filter)(
            _filter_values(recipient)
        ):
            return policy
    return None


def _expand(template: str, recipient: Recipient) -> str:
    prefix, _, value = template.partition(":")
    if value.startswith("@"):
        value = "%m" + value
    return f"{prefix}:{value.replace('%m', recipient.alias)}"


def apply_policy(
    addresses: list[str], policy: EmailAddressPolicy, recipient: Recipient
) -> list[str]:
    """Stamp the policy's addresses onto ``addresses``: its primary and any missing secondary."""
    result = list(addresses)
    for template in policy.enabled_email_address_templates:
        address = _expand(template, recipient)
        value = address.partition(":")[2].casefold()
        is_primary = address.startswith("SMTP:")
        if is_primary:
            result = [_demote(a) for a in result]
        existing = [a for a in result if _is_smtp(a) and a.partition(":")[2].casefold() == value]
        if existing and not is_primary:
            continue
        result = [a for a in result if a not in existing]
        if is_primary:
            result.insert(0, address)
        else:
            result.append(address)
    return result


def _is_smtp(address: str) -> bool:
    return address.partition(":")[0].lower() == "smtp"


def _demote(address: str) -> str:
    return "smtp:" + address[5:] if address.startswith("SMTP:") else address


def _typed(address: str) -> str:
    prefix, colon, _ = address.partition(":")
    if not colon or "@" in prefix:
        return f"smtp:{address}"
    return address


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [_typed(str(item)) for item in value]
    return [_typed(str(value))]


def _same(a: str, b: str) -> bool:
    return a.casefold() == b.casefold()


def _edit(current: list[str], request: Any) -> list[str]:
    if not isinstance(request, dict):
        return _as_list(request)
    keys = {key.casefold(): value for key, value in request.items()}
    result = [a for a in current if not any(_same(a, r) for r in _as_list(keys.get("remove")))]
    for added in _as_list(keys.get("add")):
        if added.startswith("SMTP:"):
            result = [_demote(a) for a in result]
        result = [a for a in result if not _same(a, added)]
        result.append(added)
    return result


def _deduplicate(addresses: list[str]) -> list[str]:
    seen: set[str] = set()
    result: list[str] = []
    for address in addresses:
        key = address.casefold()
        if key not in seen:
            seen.add(key)
            result.append(address)
    return result


# Identity index per recipient list: (the list, its length when indexed, key -> recipients).
# Keeping the list itself in the value stops its id from being reused while cached.
_INDEXES: dict[int, tuple[list[Recipient], int, dict[str, list[Recipient]]]] = {}


def _indexed(recipients: list[Recipient], expected: str) -> list[Recipient] | None:
    """Return the recipients whose GUID, name or alias is ``expected``, or None when unknown.

    NOTE: the index is rebuilt only when the list length changes. A removal followed by an
    addition between two lookups could leave a stale entry, but no lab cmdlet does that.
    """
    cached = _INDEXES.get(id(recipients))
    if cached is None or cached[0] is not recipients or cached[1] != len(recipients):
        index: dict[str, list[Recipient]] = {}
        for recipient in recipients:
            keys = {
                recipient.guid.casefold(),
                recipient.name.casefold(),
                recipient.alias.casefold(),
            }
            for key in keys:
                index.setdefault(key, []).append(recipient)
        cached = (recipients, len(recipients), index)
        _INDEXES[id(recipients)] = cached
    return cached[2].get(expected)


def _matches(recipient: Recipient, expected: str) -> bool:
    return (
        expected
        in (recipient.name.casefold(), recipient.alias.casefold(), recipient.guid.casefold())
        or expected == recipient.distinguished_name.casefold()
        or any(a.partition(":")[2].casefold() == expected for a in recipient.email_addresses)
    )


def _find(ctx: CmdletContext, identity: str, types: frozenset[str] | None) -> Recipient | None:
    expected = identity.casefold()
    candidates = _indexed(ctx.org.recipients, expected)
    if candidates is None:
        candidates = [r for r in ctx.org.recipients if _matches(r, expected)]
    matches = [
        r
        for r in candidates
        if (types is None or r.recipient_type_details in types) and _matches(r, expected)
    ]
    if not matches:
        ctx.error(errors.not_found(ctx, identity))
        return None
    if len(matches) > 1:
        ctx.error(errors.ambiguous(ctx, identity))
        return None
    return matches[0]


def _set_addresses(ctx: CmdletContext, types: frozenset[str], bound: dict[str, Any]) -> None:
    identity = bound["Identity"]
    recipient = _find(ctx, identity, types)
    if recipient is None:
        return

    before = list(recipient.email_addresses)
    policy_enabled = bound.get("EmailAddressPolicyEnabled", recipient.email_address_policy_enabled)
    requested = (
        _deduplicate(_edit(before, bound["EmailAddresses"]))
        if "EmailAddresses" in bound
        else before
    )

    primaries = [a for a in requested if a.startswith("SMTP:")]
    if len(primaries) > 1:
        ctx.error(
            errors.invalid_parameter(
                ctx,
                f"The e-mail address list has more than one primary SMTP address: "
                f"{', '.join(primaries)}. Only one address may use the 'SMTP:' prefix.",
                identity,
            )
        )
        return
    if not primaries and recipient.primary_smtp_address is not None:
        # NOTE: Exchange rejects this; its exact message is not confirmed for every version.
        ctx.error(
            errors.invalid_parameter(
                ctx,
                "The primary SMTP address can't be removed without specifying a new "
                "primary SMTP address.",
                identity,
            )
        )
        return

    after = requested
    policy = find_policy(ctx.org, recipient) if policy_enabled else None
    if policy is not None:
        after = _deduplicate(apply_policy(requested, policy, recipient))
        if primaries and not any(a == primaries[0] for a in after):
            ctx.warn(_PRIMARY_POLICY_WARNING)

    if after == before and policy_enabled == recipient.email_address_policy_enabled:
        ctx.warn(
            f"The command completed successfully but no settings of '{recipient.name}' have "
            "been modified."
        )
        return
    recipient.email_addresses = after
    recipient.email_address_policy_enabled = bool(policy_enabled)


def _set_params() -> list[Param]:
    return [
        Param("Identity", "identity", mandatory=True, position=0, pipeline_by_property="Identity"),
        Param("EmailAddresses", "object"),
        Param("EmailAddressPolicyEnabled", "bool"),
        Param("Confirm", "switch"),
        Param("ErrorAction", "object"),
    ]


def _register_setter(name: str) -> None:
    types = frozenset(t for t, setter in SET_CMDLET_BY_TYPE.items() if setter == name)

    def run(ctx: CmdletContext, **bound: Any) -> None:
        _set_addresses(ctx, types, bound)

    run.__name__ = name.replace("-", "_").lower()
    cmdlet(name, endpoint="exchange", namespace="RecipientTasks", params=_set_params())(run)


for _setter in sorted(set(SET_CMDLET_BY_TYPE.values())):
    _register_setter(_setter)


def _result_size(ctx: CmdletContext, value: Any) -> int | None:
    if value is None:
        return _DEFAULT_RESULT_SIZE
    if str(value).casefold() == "unlimited":
        return None
    try:
        size = int(str(value))
    except ValueError:
        size = 0
    if size < 1:
        ctx.terminate(
            errors.invalid_parameter(
                ctx,
                f"Cannot bind parameter 'ResultSize': '{value}' is not a positive number "
                "or 'Unlimited'.",
                str(value),
            )
        )
    return size


def _list(
    ctx: CmdletContext, bound: dict[str, Any], types: frozenset[str] | None
) -> Iterator[LabEvent]:
    if "Identity" in bound:
        recipient = _find(ctx, bound["Identity"], types)
        if recipient is not None:
            yield render_recipient(recipient)
        return

    limit = _result_size(ctx, bound.get("ResultSize"))
    try:
        predicate = compile_filter(bound["Filter"]) if bound.get("Filter") else None
    except OpathError as error:
        ctx.terminate(errors.invalid_parameter(ctx, str(error), bound["Filter"]))
    expected = {t.casefold() for t in bound.get("RecipientTypeDetails") or []}

    count = 0
    for recipient in ctx.org.recipients:
        if types is not None and recipient.recipient_type_details not in types:
            continue
        if expected and recipient.recipient_type_details.casefold() not in expected:
            continue
        if predicate is not None and not predicate(_filter_values(recipient)):
            continue
        if limit is not None and count >= limit:
            yield LabWarning(_MORE_RESULTS_WARNING)
            return
        count += 1
        yield render_recipient(recipient)


_GET_PARAMS = [
    Param("Identity", "identity", position=0),
    Param("Filter", "string"),
    Param("ResultSize", "object"),
    Param("RecipientTypeDetails", "string[]"),
    Param("ErrorAction", "object"),
]


@cmdlet("Get-Recipient", endpoint="exchange", namespace="RecipientTasks", params=_GET_PARAMS)
def get_recipient(ctx: CmdletContext, **bound: Any) -> Iterator[LabEvent]:
    """List recipients of every type, filtered by identity, OPATH filter or type."""
    return _list(ctx, bound, None)


@cmdlet("Get-Mailbox", endpoint="exchange", namespace="RecipientTasks", params=_GET_PARAMS)
def get_mailbox(ctx: CmdletContext, **bound: Any) -> Iterator[LabEvent]:
    """List mailboxes (user, shared, room and equipment)."""
    return _list(ctx, bound, _MAILBOX_TYPES)
