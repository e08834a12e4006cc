"""``Get-ExchangeServer``, with the properties Exchange 2019 writes for an ExchangeServer.

Type names and value texts follow ``Get-ExchangeServer`` output captured from Exchange 2019
(CSS-Exchange HealthChecker test data, ``Tests/DataCollection/E19/Exchange``): the version is
``Version 15.2 (Build 986.5)``, the site is its canonical name and the roles are a comma list.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from exchange_agent.lab.cmdlets import errors
from exchange_agent.lab.cmdlets.registry import CmdletContext, Param, cmdlet
from exchange_agent.lab.contract import LabObject
from exchange_agent.lab.org import Organization, Server

__all__ = ["render_server", "server_dn"]

_TYPE_NAMES = (
    "Microsoft.Exchange.Data.Directory.Management.ExchangeServer",
    "Microsoft.Exchange.Data.Directory.Management.ADPresentationObject",
    "Microsoft.Exchange.Data.Directory.ADObject",
    "Microsoft.Exchange.Data.Directory.ADRawEntry",
    "Microsoft.Exchange.Data.ConfigurableObject",
    "System.Object",
)


def server_dn(org: Organization, server: Server) -> str:
    """Return the configuration-partition DN of a server object."""
    return (
        f"CN={server.name},CN=Servers,CN=Exchange Administrative Group (FYDIBOHF23SPDLT),"
        f"CN=Administrative Groups,CN={org.name.split('.')[0].capitalize()},"
        "CN=Microsoft Exchange,CN=Services,CN=Configuration,"
        f"{org.distinguished_name}"
    )


def _display_version(build: str) -> str:
    parts = build.split(".")
    major_minor = ".".join(parts[:2])
    return f"Version {major_minor} (Build {'.'.join(parts[2:]) or '0.0'})"


def render_server(org: Organization, server: Server) -> LabObject:
    """Render a server as ``Get-ExchangeServer`` outputs it on a plain remote session."""
    roles = set(server.roles)
    is_2013_or_later = server.version >= 2013
    return LabObject(
        type_names=_TYPE_NAMES,
        to_string=server.name,
        properties={
            "Name": server.name,
            "Domain": server.fqdn.split(".", 1)[1] if "." in server.fqdn else org.name,
            "Edition": server.edition,
            "Fqdn": server.fqdn,
            "IsHubTransportServer": "HubTransport" in roles or "Mailbox" in roles,
            "IsClientAccessServer": "ClientAccess" in roles or "Mailbox" in roles,
            "IsEdgeServer": "Edge" in roles,
            "IsMailboxServer": "Mailbox" in roles,
            "IsE14OrLater": True,
            "IsE15OrLater": is_2013_or_later,
            "IsFrontendTransportServer": is_2013_or_later and "Mailbox" in roles,
            "AdminDisplayVersion": _display_version(server.build),
            "Site": server.site,
            "ServerRole": ", ".join(server.roles),
            "Identity": server.name,
            "IsValid": True,
            "DistinguishedName": server_dn(org, server),
            "Guid": UUID(server.guid),
        },
    )


def find_servers(ctx: CmdletContext, identity: str) -> list[Server]:
    """Return the servers whose name, FQDN, DN or GUID is ``identity``."""
    wanted = identity.casefold()
    return [
        server
        for server in ctx.org.servers
        if wanted
        in (
            server.name.casefold(),
            server.fqdn.casefold(),
            server.guid.casefold(),
            server_dn(ctx.org, server).casefold(),
        )
    ]


@cmdlet(
    "Get-ExchangeServer",
    endpoint="exchange",
    params=[
        Param("Identity", "identity", position=0, pipeline_by_value=True),
        Param("DomainController", "string"),
        Param("Status", "switch"),
    ],
)
def get_exchange_server(ctx: CmdletContext, **bound: Any) -> None:
    """List servers, or the one ``-Identity`` names (not found is a non-terminating error)."""
    identity = bound.get("Identity")
    if identity is None:
        for server in ctx.org.servers:
            ctx.output(render_server(ctx.org, server))
        return
    matches = find_servers(ctx, identity)
    if not matches:
        ctx.error(errors.not_found(ctx, identity))
    for server in matches:
        ctx.output(render_server(ctx.org, server))
