"""The data model of the simulated Exchange organization.

Everything the lab stores is a plain dataclass in this module, so cmdlet modules give it
behaviour and :mod:`exchange_agent.lab.state` persists it. Field values are Python primitives
(flags and enums as lists of their names, sizes as bytes) and :func:`to_dict` /
:func:`from_dict` convert an :class:`Organization` to and from JSON-compatible data.

Cmdlets render these records as Exchange's output objects; the model itself stays free of wire
details.
"""

from __future__ import annotations

import dataclasses
import types
import typing
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar


def new_guid() -> str:
    """Return a random GUID in the lower-case text form Exchange prints."""
    return str(uuid.uuid4())


@dataclass
class Server:
    """An Exchange server as ``Get-ExchangeServer`` reports it.

    ``version`` is the major product line (``2010``, ``2016``, ``2019``) and ``build`` the
    admin display version build such as ``15.2.1118.7``. ``roles`` are Exchange's ``ServerRole``
    names: ``Mailbox`` for 2016/2019, ``HubTransport``/``ClientAccess``/``Mailbox`` for 2010.
    """

    name: str
    fqdn: str
    version: int = 2019
    build: str = "15.2.1118.7"
    edition: str = "Standard"
    roles: list[str] = field(default_factory=lambda: ["Mailbox"])
    site: str = "contoso.com/Configuration/Sites/Default-First-Site-Name"
    guid: str = field(default_factory=new_guid)


@dataclass
class AdPermission:
    """One access control entry on an Active Directory object such as a receive connector.

    Permission groups of a receive connector are stored as flags on the connector, not as
    entries here; entries here are the ones added with ``Add-ADPermission``.
    """

    user: str
    extended_rights: list[str] = field(default_factory=list)
    access_rights: list[str] = field(default_factory=lambda: ["ExtendedRight"])
    deny: bool = False
    inherited: bool = False
    inheritance_type: str = "All"


@dataclass
class ReceiveConnector:
    """An SMTP receive connector of one server.

    ``transport_role`` is ``FrontendTransport`` or ``HubTransport`` on 2013 and later, and
    ``None`` on Exchange 2010, which has no such property. ``bindings`` are ``IP:port`` texts
    (``0.0.0.0:25``, ``[::]:25``) and ``remote_ip_ranges`` are Exchange's range expressions.
    """

    name: str
    server: str
    transport_role: str | None = "FrontendTransport"
    bindings: list[str] = field(default_factory=list)
    remote_ip_ranges: list[str] = field(
        default_factory=lambda: [
            "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "0.0.0.0-255.255.255.255",
        ]
    )
    permission_groups: list[str] = field(default_factory=list)
    auth_mechanism: list[str] = field(default_factory=lambda: ["Tls"])
    enabled: bool = True
    fqdn: str = ""
    banner: str | None = None
    comment: str = ""
    max_message_size: int = 36 * 1024 * 1024
    max_recipients_per_message: int = 200
    protocol_logging_level: str = "None"
    require_tls: bool = False
    tls_certificate_name: str | None = None
    usage: str | None = None
    guid: str = field(default_factory=new_guid)
    permissions: list[AdPermission] = field(default_factory=list)

    @property
    def identity(self) -> str:
        """The ``SERVER\\Name`` identity Exchange prints for a receive connector."""
        return f"{self.server}\\{self.name}"


@dataclass
class WindowsService:
    """A Windows service on one server, with the lab's timing knobs.

    ``stop_seconds`` and ``start_seconds`` are simulated seconds a state change takes;
    ``hang`` keeps the service in ``StartPending`` after a start request.
    """

    name: str
    display_name: str
    status: str = "Running"
    start_type: str = "Automatic"
    stop_seconds: float = 2.0
    start_seconds: float = 2.0
    hang: bool = False


@dataclass
class AcceptedDomain:
    """An accepted domain (``Authoritative``, ``InternalRelay`` or ``ExternalRelay``)."""

    name: str
    domain_name: str
    domain_type: str = "Authoritative"
    default: bool = False
    guid: str = field(default_factory=new_guid)


@dataclass
class EmailAddressPolicy:
    """An email address policy with its address templates such as ``SMTP:@contoso.com``."""

    name: str
    enabled_email_address_templates: list[str] = field(default_factory=list)
    recipient_filter: str | None = None
    included_recipients: str | None = "AllRecipients"
    priority: str = "Lowest"
    guid: str = field(default_factory=new_guid)


@dataclass
class Recipient:
    """A mail recipient of any type (mailbox, mail user, contact, group).

    ``email_addresses`` contains proxy addresses with their prefix; the one whose prefix is upper
    case ``SMTP:`` is the primary SMTP address. Mail contacts and mail users also have an
    ``external_email_address`` (``SMTP:`` prefixed), where their mail is delivered.
    """

    name: str
    alias: str
    recipient_type: str = "UserMailbox"
    recipient_type_details: str = "UserMailbox"
    email_addresses: list[str] = field(default_factory=list)
    email_address_policy_enabled: bool = True
    display_name: str = ""
    distinguished_name: str = ""
    guid: str = field(default_factory=new_guid)
    external_email_address: str | None = None

    @property
    def primary_smtp_address(self) -> str | None:
        """The address of the ``SMTP:`` proxy, or None when the recipient has none."""
        for address in self.email_addresses:
            if address.startswith("SMTP:"):
                return address[5:]
        return None


@dataclass
class AdUser:
    """An Active Directory user account."""

    sam_account_name: str
    user_principal_name: str
    mail: str | None = None
    distinguished_name: str = ""
    guid: str = field(default_factory=new_guid)


@dataclass
class Certificate:
    """A placeholder for an Exchange certificate; no cmdlet uses it yet."""

    thumbprint: str
    subject: str
    services: list[str] = field(default_factory=list)
    not_after: str = ""
    server: str = ""


@dataclass
class ClientAccessState:
    """One server's client access settings: SCP, virtual directory URLs, Outlook Anywhere names.

    A new server starts as setup leaves it: the SCP points at the server's own FQDN, internal
    URLs use the FQDN, external URLs and the external Outlook Anywhere name are empty.
    """

    scp_uri: str | None
    urls: dict[str, dict[str, str | None]] = field(default_factory=dict)
    internal_hostname: str | None = None
    external_hostname: str | None = None


@dataclass
class Organization:
    """The whole simulated organization: configuration, recipients and per-server state."""

    name: str = "contoso.com"
    domain_controller: str = "DC01.contoso.com"
    servers: list[Server] = field(default_factory=list)
    receive_connectors: list[ReceiveConnector] = field(default_factory=list)
    services: dict[str, list[WindowsService]] = field(default_factory=dict)
    accepted_domains: list[AcceptedDomain] = field(default_factory=list)
    email_address_policies: list[EmailAddressPolicy] = field(default_factory=list)
    recipients: list[Recipient] = field(default_factory=list)
    ad_users: list[AdUser] = field(default_factory=list)
    certificates: list[Certificate] = field(default_factory=list)
    client_access: dict[str, ClientAccessState] = field(default_factory=dict)
    # Pending requests and installed certificates with their keys, as JSON-ready mappings
    # that the certificate cmdlets write before each save (see BEFORE_SAVE).
    certificate_store: list[dict[str, Any]] = field(default_factory=list)

    @property
    def distinguished_name(self) -> str:
        """The domain's DN, such as ``DC=contoso,DC=com``."""
        return ",".join(f"DC={part}" for part in self.name.split("."))

    def server(self, name: str) -> Server | None:
        """Return the server whose name or FQDN is ``name`` (case-insensitive), if any."""
        wanted = name.casefold()
        for server in self.servers:
            if wanted in (server.name.casefold(), server.fqdn.casefold()):
                return server
        return None

    def connector_dn(self, connector: ReceiveConnector) -> str:
        """Return the configuration-partition DN Exchange stores a receive connector at."""
        return (
            f"CN={connector.name},CN=SMTP Receive Connectors,CN=Protocols,CN={connector.server},"
            "CN=Servers,CN=Exchange Administrative Group (FYDIBOHF23SPDLT),"
            f"CN=Administrative Groups,CN={self.name.split('.')[0].capitalize()},"
            "CN=Microsoft Exchange,CN=Services,CN=Configuration,"
            f"{self.distinguished_name}"
        )


_T = TypeVar("_T")


# Functions that copy state kept outside the dataclasses into ``org`` before it is saved.
BEFORE_SAVE: list[Callable[[Organization], None]] = []


def to_dict(org: Organization) -> dict[str, Any]:
    """Convert an organization into JSON- and YAML-compatible data."""
    return dataclasses.asdict(org)


def from_dict(data: dict[str, Any]) -> Organization:
    """Build an organization from :func:`to_dict` output or a seed file's mapping.

    Raises:
        ValueError: A key is not a field of the record it appears in, or a value has the
            wrong shape; the message names the record and the key.
    """
    return _build(Organization, data, "organization")


def _build(cls: type[_T], data: Any, where: str) -> _T:
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a mapping, found {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(
            f"{where}: unknown key {unknown[0]!r}; valid keys are {', '.join(sorted(names))}"
        )
    values = {key: _convert(hints[key], value, f"{where}.{key}") for key, value in data.items()}
    return cls(**values)


def _convert(hint: Any, value: Any, where: str) -> Any:
    if hint is Any:
        return value
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        hint = next(arg for arg in args if arg is not type(None))
        return _convert(hint, value, where)
    if origin is list:
        if not isinstance(value, list):
            raise ValueError(f"{where}: expected a list, found {type(value).__name__}")
        return [_convert(args[0], item, f"{where}[{i}]") for i, item in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected a mapping, found {type(value).__name__}")
        return {str(k): _convert(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where)  # type: ignore[arg-type]
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(hint, type) and not isinstance(value, hint):
        raise ValueError(f"{where}: expected {hint.__name__}, found {value!r}")
    return value
