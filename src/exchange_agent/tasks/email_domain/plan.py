"""Pure plan logic for removing an email domain: proxy addresses, primaries and policy templates.

Nothing here talks to Exchange. The functions take the facts the task gathered (a recipient's
``EmailAddresses``, a policy's templates, the accepted domains) and return what must change, so
every edge case can be tested on plain lists.

Exchange facts relied on come from Microsoft Learn ("Email address policies in Exchange
Server" and the Set-Mailbox reference). A proxy address is ``PREFIX:value``. The prefix
``SMTP`` in upper case marks the primary SMTP address, and exactly one may exist. Otherwise
prefixes compare case-insensitively. ``X500`` and ``X400`` values contain no SMTP domain.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from exchange_agent.errors import TaskError

__all__ = [
    "AcceptedDomainFact",
    "EmailDomainPlanError",
    "PolicyPlan",
    "PrimaryMode",
    "PrimaryRule",
    "RecipientPlan",
    "address_domain",
    "check_accepted_domain_removal",
    "is_in_domain",
    "normalize_domain",
    "plan_policy",
    "plan_recipient",
    "split_proxy",
]

# A DNS name: labels of letters, digits and hyphens, not starting or ending with a hyphen.
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_DOMAIN_RE = re.compile(rf"^{_LABEL}(\.{_LABEL})+$")

# Proxy types whose value is never an SMTP-style ``local@domain`` address.
_NEVER_DOMAIN_PREFIXES = frozenset({"x500", "x400"})


class EmailDomainPlanError(TaskError, ValueError):
    """An argument or a gathered fact makes the domain removal impossible to plan safely."""


class PrimaryMode(StrEnum):
    """Handling of a recipient whose primary SMTP address is in the removed domain."""

    FAIL = "fail"
    PROMOTE = "promote"
    TEMPLATE = "template"


@dataclass(frozen=True)
class PrimaryRule:
    """The rule that picks a new primary SMTP address.

    Attributes:
        mode: ``fail`` reports the recipient and changes nothing for it. ``promote`` makes a
            remaining ``smtp:`` address primary: the first one (in list order) whose domain is
            earliest in ``prefer_domains``, else the first remaining one when ``prefer_domains``
            is empty. ``template`` builds the address from ``template``.
        prefer_domains: Domain preference order for ``promote``, lower case.
        template: Address template for ``template`` mode, such as ``%m@fabrikam.com``; ``%m`` is
            the alias, ``%g`` the given name and ``%s`` the surname, as in policy templates.
    """

    mode: PrimaryMode = PrimaryMode.FAIL
    prefer_domains: tuple[str, ...] = ()
    template: str | None = None


@dataclass(frozen=True)
class RecipientPlan:
    """The change one recipient needs.

    Attributes:
        before: The ``EmailAddresses`` list as gathered, unchanged.
        after: The list the recipient should end with, or equal to ``before`` when ``problem``
            is set or nothing is in the domain.
        remove: Proxy addresses to send in ``@{Remove=...}``, spelled as gathered.
        new_primary: The new primary (``SMTP:`` prefixed) when the primary changes, else None.
        problem: Why the recipient is left unchanged despite carrying the domain, else None.
        kept: Proxies in the domain left in place because each is the recipient's external
            address, where a mail contact's or mail user's mail goes.
    """

    before: tuple[str, ...]
    after: tuple[str, ...]
    remove: tuple[str, ...]
    new_primary: str | None = None
    problem: str | None = None
    kept: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        """True when a write is needed."""
        return self.problem is None and self.after != self.before


@dataclass(frozen=True)
class PolicyPlan:
    """The change one email address policy needs.

    Attributes:
        enabled_after: ``EnabledEmailAddressTemplates`` to set.
        disabled_after: ``DisabledEmailAddressTemplates`` to set.
        removed: Templates dropped from either list.
        remove_policy: True when the policy is left with no enabled template and is not the
            default policy, so it is removed instead of edited.
    """

    enabled_after: tuple[str, ...]
    disabled_after: tuple[str, ...]
    removed: tuple[str, ...]
    remove_policy: bool = False

    @property
    def changed(self) -> bool:
        """True when the policy must be edited or removed."""
        return bool(self.removed) or self.remove_policy


@dataclass(frozen=True)
class AcceptedDomainFact:
    """The fields of an accepted domain the removal step needs."""

    name: str
    domain_name: str
    default: bool


def normalize_domain(domain: str) -> str:
    """Return ``domain`` in lower case without a trailing dot.

    Raises:
        EmailDomainPlanError: The value is not a DNS domain name (for example it contains ``@``,
            a wildcard or spaces).
    """
    candidate = domain.strip().rstrip(".").lower()
    if not _DOMAIN_RE.match(candidate):
        raise EmailDomainPlanError(
            f"invalid domain {domain!r}: expected a DNS name such as 'contoso.com' "
            "(no '@', no wildcard, at least two labels); fix the 'domain' argument"
        )
    return candidate


def split_proxy(proxy: str) -> tuple[str, str]:
    """Split ``PREFIX:value`` into its prefix and value.

    An address without a prefix is an SMTP address, as Exchange reads it, so ``a@b.com`` returns
    ``("smtp", "a@b.com")``.
    """
    prefix, colon, value = proxy.partition(":")
    if not colon or "@" in prefix:
        return "smtp", proxy
    return prefix, value


def address_domain(value: str) -> str | None:
    """Return the part after the last ``@`` in lower case, or None when there is no ``@``."""
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain:
        return None
    return domain.rstrip(".").lower()


def is_in_domain(
    proxy: str, domain: str, *, include_non_smtp: bool = False, template: bool = False
) -> bool:
    """Tell whether ``proxy`` is an address in exactly ``domain`` (already normalized).

    Matching is on the whole part after ``@``, so ``notcontoso.com`` and ``sub.contoso.com``
    are other domains than ``contoso.com``. Only ``smtp`` proxies match unless
    ``include_non_smtp`` is set; ``X500`` and ``X400`` proxies never match. With ``template``
    set, ``proxy`` is a policy template, whose local part may be empty (``SMTP:@contoso.com``).
    """
    prefix, value = split_proxy(proxy)
    kind = prefix.lower()
    if kind in _NEVER_DOMAIN_PREFIXES:
        return False
    if kind != "smtp" and not include_non_smtp:
        return False
    if template and value.startswith("@"):
        value = "%m" + value
    return address_domain(value) == domain


def _is_primary(proxy: str) -> bool:
    return split_proxy(proxy)[0] == "SMTP"


def _is_smtp(proxy: str) -> bool:
    return split_proxy(proxy)[0].lower() == "smtp"


def _expand_template(template: str, alias: str, given: str, surname: str) -> str:
    values = {"m": alias, "g": given, "s": surname, "%": "%"}

    def substitute(match: re.Match[str]) -> str:
        return values[match.group(1)]

    return re.sub(r"%([mgs%])", substitute, template)


def _choose_primary(
    remaining: list[str], rule: PrimaryRule, alias: str, given: str, surname: str
) -> tuple[str | None, str | None]:
    """Return ``(new primary value, problem)`` for a recipient losing its primary."""
    if rule.mode is PrimaryMode.FAIL:
        return None, "primary SMTP address is in the domain and the primary rule is 'fail'"

    if rule.mode is PrimaryMode.TEMPLATE:
        if rule.template is None:
            raise EmailDomainPlanError("primary rule 'template' needs a template")
        if not alias and "%m" in rule.template:
            return None, "recipient has no alias to fill '%m' in the primary template"
        return _expand_template(rule.template, alias, given, surname), None

    candidates = [split_proxy(p)[1] for p in remaining if _is_smtp(p)]
    if not candidates:
        return None, "no SMTP address outside the domain remains to promote"
    for preferred in rule.prefer_domains:
        for value in candidates:
            if address_domain(value) == preferred:
                return value, None
    if rule.prefer_domains:
        return None, "no remaining SMTP address is in a preferred domain"
    return candidates[0], None


def plan_recipient(
    addresses: list[str] | tuple[str, ...],
    domain: str,
    *,
    rule: PrimaryRule = PrimaryRule(),
    include_non_smtp: bool = False,
    alias: str = "",
    given_name: str = "",
    surname: str = "",
    external_address: str | None = None,
) -> RecipientPlan:
    """Plan the removal of ``domain`` from one recipient's ``EmailAddresses``.

    Args:
        addresses: The recipient's proxy addresses as gathered.
        domain: The normalized domain (see :func:`normalize_domain`).
        rule: What to do when the primary SMTP address is in the domain.
        include_non_smtp: Also remove non-SMTP proxies such as ``SIP:`` in the domain.
        alias: The recipient's alias, for ``%m`` in a primary template.
        given_name: The given name, for ``%g``.
        surname: The surname, for ``%s``.
        external_address: The ``ExternalEmailAddress`` of a mail contact or mail user, with or
            without its ``SMTP:`` prefix. It is never removed: it is where the recipient's mail
            is delivered, in a domain the organization does not host.

    Returns:
        The plan. ``problem`` is set, and nothing changes, when the primary is in the domain
        and the rule cannot give a new one.

    Raises:
        EmailDomainPlanError: The rule is ``template`` without a template, or the new primary
            the rule built is itself in the domain.
    """
    before = tuple(addresses)
    # ExternalEmailAddress is the target address, where mail to the recipient is delivered
    # (Microsoft Learn, New-MailContact and New-MailUser).
    target = split_proxy(external_address)[1].lower() if external_address else None
    found = [p for p in before if is_in_domain(p, domain, include_non_smtp=include_non_smtp)]
    kept = tuple(p for p in found if _is_smtp(p) and split_proxy(p)[1].lower() == target)
    remove = tuple(p for p in found if p not in kept)
    if not remove:
        return RecipientPlan(before=before, after=before, remove=(), kept=kept)

    remaining = [p for p in before if p not in remove]
    if not any(_is_primary(p) for p in remove):
        return RecipientPlan(before=before, after=tuple(remaining), remove=remove, kept=kept)

    value, problem = _choose_primary(remaining, rule, alias, given_name, surname)
    if value is None:
        return RecipientPlan(before=before, after=before, remove=remove, problem=problem, kept=kept)
    if address_domain(value) == domain:
        raise EmailDomainPlanError(
            f"the primary rule produced {value!r}, which is in the domain being removed; "
            "choose a template or preferred domain outside it"
        )

    # The promoted address replaces its secondary spelling, compared case-insensitively
    # because Exchange treats addresses that differ only in case as the same proxy.
    new_primary = f"SMTP:{value}"
    after = [
        p for p in remaining if not (_is_smtp(p) and split_proxy(p)[1].lower() == value.lower())
    ]
    after.insert(0, new_primary)
    return RecipientPlan(
        before=before, after=tuple(after), remove=remove, new_primary=new_primary, kept=kept
    )


def plan_policy(
    enabled: list[str] | tuple[str, ...],
    disabled: list[str] | tuple[str, ...],
    domain: str,
    *,
    is_default: bool,
    policy_name: str,
    primary_replacement: str | None = None,
    include_non_smtp: bool = False,
) -> PolicyPlan:
    """Plan the removal of ``domain`` from one email address policy's templates.

    Exchange cannot delete a policy's primary template, only replace it, so a policy whose
    primary template is in the domain needs ``primary_replacement``. A non-default policy whose
    enabled templates are all in the domain is removed instead when no replacement is given.
    The default policy is never removed.

    Raises:
        EmailDomainPlanError: The primary template is in the domain and no usable replacement
            was given, or the replacement is invalid.
    """
    removed_enabled = [
        t
        for t in enabled
        if is_in_domain(t, domain, include_non_smtp=include_non_smtp, template=True)
    ]
    removed_disabled = [
        t
        for t in disabled
        if is_in_domain(t, domain, include_non_smtp=include_non_smtp, template=True)
    ]
    kept_enabled = [t for t in enabled if t not in removed_enabled]
    kept_disabled = tuple(t for t in disabled if t not in removed_disabled)
    removed = tuple(removed_enabled + removed_disabled)

    if not any(_is_primary(t) for t in removed_enabled):
        return PolicyPlan(tuple(kept_enabled), kept_disabled, removed)

    if primary_replacement is None:
        if not kept_enabled and not is_default:
            return PolicyPlan((), kept_disabled, removed, remove_policy=True)
        raise EmailDomainPlanError(
            f"email address policy {policy_name!r}: the primary template is in {domain} and "
            "Exchange cannot delete a primary template, only replace it; found no replacement. "
            "Name one under 'policy_primary_templates' in the playbook, "
            "for example 'SMTP:%m@fabrikam.com'"
        )

    replacement = _check_replacement(primary_replacement, domain, policy_name)
    value = split_proxy(replacement)[1].lower()
    kept_enabled = [t for t in kept_enabled if split_proxy(t)[1].lower() != value]
    return PolicyPlan((replacement, *kept_enabled), kept_disabled, removed)


def _check_replacement(template: str, domain: str, policy_name: str) -> str:
    prefix, value = split_proxy(template)
    if prefix.lower() != "smtp" or "@" not in value:
        raise EmailDomainPlanError(
            f"email address policy {policy_name!r}: invalid primary template {template!r}; "
            "expected an SMTP template such as 'SMTP:%m@fabrikam.com'"
        )
    if is_in_domain(template, domain, template=True):
        raise EmailDomainPlanError(
            f"email address policy {policy_name!r}: the replacement primary template "
            f"{template!r} is in {domain}, the domain being removed; choose another domain"
        )
    return f"SMTP:{value}"


def check_accepted_domain_removal(
    domains: list[AcceptedDomainFact], domain: str
) -> AcceptedDomainFact | None:
    """Return the accepted domain to remove, or None when it is already gone.

    Raises:
        EmailDomainPlanError: The domain is the default accepted domain, which Exchange never
            removes.
    """
    for fact in domains:
        if fact.domain_name.rstrip(".").lower() != domain:
            continue
        if fact.default:
            raise EmailDomainPlanError(
                f"accepted domain {fact.name!r} ({domain}) is the default accepted domain and "
                "Exchange does not remove it; make another accepted domain the default first "
                "(Set-AcceptedDomain -Identity <other> -MakeDefault $true), then run again"
            )
        return fact
    return None
