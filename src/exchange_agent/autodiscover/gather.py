"""Read client access facts from Exchange, always naming the server the facts belong to.

A remote session through a load-balanced name lands on any server, so every server-scoped
cmdlet here names its target (``-Identity EX01``, ``-Server EX01``) and every returned
object is checked to belong to that server before it is used.
"""

from __future__ import annotations

from typing import Any

from exchange_agent.autodiscover.audit import ServerFacts
from exchange_agent.autodiscover.certificate import CertificateInfo, certificate_info
from exchange_agent.autodiscover.urls import ExchangeVersion
from exchange_agent.errors import TaskError
from exchange_agent.remote.command import Command
from exchange_agent.remote.errors import CommandError
from exchange_agent.remote.session import Session

__all__ = [
    "ServerMismatchError",
    "check_server",
    "gather_server_facts",
    "read",
    "server_version",
]


class ServerMismatchError(TaskError):
    """Exchange returned an object of another server than the one the command named."""

    def __init__(self, host: str, expected: str, answered: str) -> None:
        self.host = host
        self.expected = expected
        self.answered = answered
        super().__init__(
            f"{host}: Exchange answered for server {answered}, not {expected}. Name the "
            "server explicitly and check that the session reaches the organization."
        )


def read(session: Session, host: str, command: Command) -> list[Any]:
    """Run one read command and return its output objects.

    Raises:
        CommandError: Exchange returned error records.
    """
    result = session.invoke(command)
    if not result.ok:
        raise CommandError(result.errors, host=host, endpoint=session.endpoint)
    return list(result.output)


def _server_of(item: Any) -> str:
    # Client access objects carry Name (the server); virtual directories carry Server and an
    # identity prefixed by it.
    for key in ("Server", "Name", "Identity"):
        value = item.get(key) if hasattr(item, "get") else None
        if value:
            return str(value).split("\\", 1)[0]
    return ""


def check_server(host: str, expected: str, items: list[Any]) -> None:
    """Raise when any of ``items`` belongs to another server than ``expected``.

    Raises:
        ServerMismatchError: An item names another server.
    """
    for item in items:
        answered = _server_of(item)
        if answered.casefold() != expected.casefold():
            raise ServerMismatchError(host, expected, answered or "an unnamed server")


def _server_record(session: Session, host: str, server: str) -> Any:
    items = read(session, host, Command("Get-ExchangeServer", {"Identity": server}))
    if len(items) != 1:
        raise TaskError(
            f"{host}: expected one Exchange server named {server}, found {len(items)}; "
            "check the server name in the task arguments"
        )
    check_server(host, server, items)
    return items[0]


def server_version(session: Session, host: str, server: str) -> ExchangeVersion:
    """Read ``server``'s version from ``Get-ExchangeServer``'s ``AdminDisplayVersion``.

    Raises:
        TaskError: The server is not found or Exchange returned another one.
    """
    record = _server_record(session, host, server)
    return ExchangeVersion.parse(str(record.get("AdminDisplayVersion", "")))


def _certificates(
    session: Session, host: str, server: str
) -> tuple[list[CertificateInfo], list[str]]:
    items = read(session, host, Command("Get-ExchangeCertificate", {"Server": server}))
    certificates: list[CertificateInfo] = []
    pending: list[str] = []
    for item in items:
        identity = str(item.get("Identity") or "")
        if "\\" in identity and identity.split("\\", 1)[0].casefold() != server.casefold():
            raise ServerMismatchError(host, server, identity.split("\\", 1)[0])
        status = item.get("Status")
        raw = item.get("RawData")
        if not raw:
            # A pending request has no certificate bytes yet.
            if status == "PendingRequest":
                pending.append(f"{item.get('Thumbprint')} ({item.get('Subject')})")
            continue
        certificates.append(
            certificate_info(
                bytes(raw),
                services=_services_text(item.get("Services")),
                status=None if status is None else str(status),
            )
        )
    return certificates, pending


def _services_text(value: Any) -> str | list[str] | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return [str(part) for part in value]
    return str(value)


def gather_server_facts(session: Session, host: str, server: str) -> ServerFacts:
    """Read ``server``'s SCP, URLs, Outlook Anywhere names and certificates for the audit.

    Raises:
        CommandError: Exchange returned error records.
        ServerMismatchError: A returned object belongs to another server.
        CertificateParseError: A certificate's ``RawData`` does not parse.
    """
    record = _server_record(session, host, server)
    version = ExchangeVersion.parse(str(record.get("AdminDisplayVersion", "")))
    items = read(session, host, Command(f"Get-{version.scp_cmdlet_noun}", {"Identity": server}))
    check_server(host, server, items)
    scp = items[0].get("AutoDiscoverServiceInternalUri") if items else None

    urls: list[str] = []
    for kind in _URL_KINDS:
        if kind == "Mapi" and not version.has_mapi_http:
            continue
        command = Command(f"Get-{kind}VirtualDirectory", {"Server": server})
        directories = read(session, host, command)
        check_server(host, server, directories)
        for directory in directories:
            urls.extend(
                str(directory[n]) for n in ("InternalUrl", "ExternalUrl") if directory.get(n)
            )

    anywhere = read(session, host, Command("Get-OutlookAnywhere", {"Server": server}))
    check_server(host, server, anywhere)
    names = [
        str(item[n])
        for item in anywhere
        for n in ("InternalHostname", "ExternalHostname")
        if item.get(n)
    ]
    certificates, pending = _certificates(session, host, server)
    return ServerFacts(
        name=server,
        scp_uri=None if scp is None else str(scp),
        urls=tuple(urls),
        host_names=tuple(names),
        certificates=tuple(certificates),
        pending_requests=tuple(pending),
        fqdn=str(record.get("Fqdn")) if record.get("Fqdn") else None,
    )


# Directories whose URLs clients use. The Autodiscover directory is left out because 2013 and
# later ignore its URLs, and on 2010 they repeat the namespace of the other directories.
_URL_KINDS = ("Owa", "Ecp", "WebServices", "ActiveSync", "Oab", "Mapi")
