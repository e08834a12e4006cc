"""Advice on how a device or application should send mail through Exchange.

Three facts about the sender decide the method: whether its SMTP port is fixed at 25, whether it
can authenticate, and whether it must reach recipients outside the organization's accepted
domains. A sender that cannot authenticate and must reach external recipients needs an anonymous
relay whatever its port. A changeable port only lets that relay listen on a dedicated port, apart
from the default connector on 25.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

__all__ = ["Advice", "Method", "SenderFacts", "advise"]

Method = Literal[
    "anonymous-relay", "authenticated-submission-587", "authenticated-port-25", "direct-send"
]

_RELAY_PLAYBOOK = "playbooks/anonymous-relay.yml"
_PORT_25_PLAYBOOK = "playbooks/authenticated-smtp-on-port-25.yml"

_ANONYMOUS_CAVEATS = (
    "Anonymous relay bypasses authentication: anyone who can send from an address in the "
    "connector's remote IP ranges can send mail to any recipient through the server.",
    "Restrict the connector to the device addresses (single addresses or a small private "
    "subnet); the playbook rejects public and broad ranges unless overridden.",
    "Exchange picks the connector whose remote range matches a source most specifically, so a "
    "load balancer that source-NATs internet mail must not sit inside the relay ranges.",
)


@dataclass(frozen=True)
class SenderFacts:
    """Facts about the sending device or application."""

    port_fixed: bool
    can_authenticate: bool
    external_recipients: bool


@dataclass(frozen=True)
class Advice:
    """The recommended method with its reasons, alternatives, playbook and caveats."""

    facts: SenderFacts
    method: Method
    why: str
    alternatives: tuple[str, ...] = ()
    playbook: str | None = None
    variables: dict[str, str] = field(default_factory=dict)
    device_settings: dict[str, str] = field(default_factory=dict)
    caveats: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """Plain data for ``--output json``."""
        data = asdict(self)
        data["alternatives"] = list(self.alternatives)
        data["caveats"] = list(self.caveats)
        return data


def _anonymous_relay(facts: SenderFacts) -> Advice:
    variables = {
        "relay_server": "Exchange server that receives the device mail, such as EX01",
        "relay_connector_name": "name of the new receive connector, such as Relay Printers",
        "device_subnets": "device addresses or subnets, such as [10.0.5.20, 10.0.6.0/24]",
    }
    if facts.port_fixed:
        why = (
            "The sender cannot authenticate and must reach external recipients, so only an "
            "anonymous relay delivers its mail; its port is fixed at 25, so the relay connector "
            "shares port 25 with the default frontend connector, limited to the device addresses."
        )
        alternatives: tuple[str, ...] = ()
    else:
        why = (
            "The sender cannot authenticate and must reach external recipients, so only an "
            "anonymous relay delivers its mail; because its port can change, the relay connector "
            "can listen on a dedicated port, kept apart from the default connector on 25."
        )
        variables["relay_port"] = "dedicated port for the relay connector, such as 2526"
        alternatives = (
            "anonymous-relay on port 25 restricted to the device addresses, when a dedicated "
            "port is not wanted",
        )
    return Advice(
        facts=facts,
        method="anonymous-relay",
        why=why,
        alternatives=alternatives,
        playbook=_RELAY_PLAYBOOK,
        variables=variables,
        caveats=_ANONYMOUS_CAVEATS,
    )


def _authenticated(facts: SenderFacts) -> Advice:
    if not facts.port_fixed:
        return Advice(
            facts=facts,
            method="authenticated-submission-587",
            why=(
                "The sender can authenticate and change its port, so it submits on port 587 to "
                "the client frontend connector, which already accepts authenticated users; no "
                "connector change is needed."
            ),
            alternatives=(
                "authenticated-port-25, when a device setting or firewall keeps the sender on 25",
            ),
            device_settings={
                "smtp_server": "client access name, such as mail.contoso.com",
                "smtp_port": "587, with STARTTLS",
                "account": "mailbox or service account the sender logs in as",
            },
            caveats=(
                "The sender must support STARTTLS; the client frontend connector offers basic "
                "authentication only after TLS.",
                "The account can send only as itself unless given Send As rights.",
            ),
        )
    return Advice(
        facts=facts,
        method="authenticated-port-25",
        why=(
            "The sender can authenticate but its port is fixed at 25, so the default frontend "
            "connector must accept authenticated users: add ExchangeUsers to its permission "
            "groups and restart the frontend transport service."
        ),
        playbook=_PORT_25_PLAYBOOK,
        variables={
            "transport_service": "MSExchangeFrontEndTransport (MSExchangeTransport on 2010)",
        },
        caveats=(
            "Restarting the transport service briefly interrupts mail flow on that server.",
            "The sender must support STARTTLS unless basic authentication without TLS is "
            "enabled, which exposes the password.",
        ),
    )


def _direct_send(facts: SenderFacts) -> Advice:
    return Advice(
        facts=facts,
        method="direct-send",
        why=(
            "The sender cannot authenticate but mails only recipients in the organization's "
            "accepted domains, which the default frontend connector on port 25 accepts from "
            "anonymous senders; no relay is needed."
        ),
        alternatives=(
            "anonymous-relay restricted to the device addresses, if external recipients are "
            "added later",
        ),
        playbook="playbooks/audit-spf.yml",
        device_settings={
            "smtp_server": "an Exchange server or load-balanced SMTP name, port 25",
            "sender_address": "an address in an accepted domain",
        },
        variables={
            "spf_domain": "the domain in the sender address, for the SPF audit",
            "device_addresses": "the devices' IP addresses, for the SPF audit",
            "spf_nameservers": "the DNS resolvers the SPF audit may ask",
        },
        caveats=(
            "SPF checks and spam-filter rules may block or junk internal-to-internal mail from "
            "devices, because an anonymous sender claims an internal domain: add the device "
            "addresses to the SPF record or to the spam filter's allow list.",
            "Exchange rejects mail to external recipients from such a sender as a relay attempt.",
        ),
    )


def advise(facts: SenderFacts) -> Advice:
    """Return the sending method for ``facts``.

    Each of the eight combinations maps to one method:

    - cannot authenticate, external recipients: ``anonymous-relay`` (a dedicated port when the
      port can change);
    - can authenticate, port changeable: ``authenticated-submission-587``;
    - can authenticate, port fixed: ``authenticated-port-25``;
    - cannot authenticate, internal recipients only: ``direct-send``.
    """
    if facts.can_authenticate:
        return _authenticated(facts)
    if facts.external_recipients:
        return _anonymous_relay(facts)
    return _direct_send(facts)
