"""Client access settings of the simulated organization: SCP, virtual directories, Outlook Anywhere.

Shapes follow ``Get-OwaVirtualDirectory`` and ``Get-WebServicesVirtualDirectory`` output
captured from Exchange 2019 (CSS-Exchange HealthChecker test data): ``Name`` is
``owa (Default Web Site)``, ``Identity`` prefixes the server (``EX01\\owa (Default Web Site)``)
and ``InternalUrl``/``ExternalUrl`` are URIs or null. Version differences follow the cmdlet
references: ``Get/Set-ClientAccessService`` exist from 2016 on, ``Get/Set-ClientAccessServer``
on every version (deprecated from 2016 on), the MAPI directory from 2013 SP1, and
``Set-AutodiscoverVirtualDirectory -InternalUrl/-ExternalUrl`` only on 2010.
"""

from __future__ import annotations

from typing import Any

from exchange_agent.lab.cmdlets import errors
from exchange_agent.lab.cmdlets.registry import CmdletContext, Param, cmdlet
from exchange_agent.lab.contract import LabObject
from exchange_agent.lab.org import ClientAccessState, Organization, Server

__all__ = ["VIRTUAL_DIRECTORIES", "ClientAccessState", "client_access_state"]

# Cmdlet noun (without VirtualDirectory), directory name and URL path, per directory.
VIRTUAL_DIRECTORIES = {
    "Owa": ("owa", "/owa"),
    "Ecp": ("ecp", "/ecp"),
    "WebServices": ("EWS", "/EWS/Exchange.asmx"),
    "ActiveSync": ("Microsoft-Server-ActiveSync", "/Microsoft-Server-ActiveSync"),
    "Oab": ("OAB", "/OAB"),
    "Mapi": ("mapi", "/mapi"),
    "Autodiscover": ("Autodiscover", "/Autodiscover/Autodiscover.xml"),
}

_SITE = "Default Web Site"


def _has_directory(server: Server, kind: str) -> bool:
    if kind == "Mapi":
        return server.version >= 2013
    return True


def _initial_state(server: Server) -> ClientAccessState:
    host = server.fqdn.lower()
    state = ClientAccessState(scp_uri=f"https://{host}/Autodiscover/Autodiscover.xml")
    for kind, (_, path) in VIRTUAL_DIRECTORIES.items():
        if _has_directory(server, kind):
            internal = None if kind == "Autodiscover" else f"https://{host}{path}"
            state.urls[kind] = {"InternalUrl": internal, "ExternalUrl": None}
    state.internal_hostname = None if server.version == 2010 else host
    return state


def client_access_state(org: Organization) -> dict[str, ClientAccessState]:
    """Return ``org``'s client access settings keyed by upper-case server name.

    Servers are filled in with setup's defaults on first use; the table is part of the
    organization, so it is saved with the lab's state.
    """
    table = org.client_access
    for server in org.servers:
        if server.name.upper() not in table:
            table[server.name.upper()] = _initial_state(server)
    return table


def _target(ctx: CmdletContext, given: str | None) -> Server:
    name = given or ctx.server
    server = ctx.org.server(name.split("\\", 1)[0])
    if server is None:
        ctx.terminate(errors.not_found(ctx, name))
    return server


def _require_version(ctx: CmdletContext, minimum: int) -> None:
    # The cmdlet set of a session is that of the server it is connected to.
    connected = ctx.org.server(ctx.server)
    version = connected.version if connected else 2019
    if version < minimum:
        ctx.terminate(
            errors.exchange_error(
                ctx,
                f"The term '{ctx.spec.name}' is not recognized as the name of a cmdlet on "
                f"Exchange {version}.",
                "CommandNotFoundException",
                category="ObjectNotFound",
                exception_namespace="System.Management.Automation",
            )
        )


def _render_cas(server: Server, state: ClientAccessState, noun: str) -> LabObject:
    return LabObject(
        type_names=(f"Microsoft.Exchange.Data.Directory.Management.{noun}", "System.Object"),
        to_string=server.name,
        properties={
            "Name": server.name,
            "Identity": server.name,
            "Fqdn": server.fqdn,
            "AutoDiscoverServiceInternalUri": state.scp_uri,
            "AutoDiscoverSiteScope": None,
        },
    )


def _get_cas(ctx: CmdletContext, bound: dict[str, Any], noun: str) -> None:
    table = client_access_state(ctx.org)
    identity = bound.get("Identity")
    servers = ctx.org.servers if identity is None else [_target(ctx, identity)]
    for server in servers:
        ctx.output(_render_cas(server, table[server.name.upper()], noun))


def _set_cas(ctx: CmdletContext, bound: dict[str, Any]) -> None:
    server = _target(ctx, bound["Identity"])
    if "AutoDiscoverServiceInternalUri" in bound:
        client_access_state(ctx.org)[server.name.upper()].scp_uri = bound[
            "AutoDiscoverServiceInternalUri"
        ]


_CAS_GET = [Param("Identity", "identity", position=0)]
_CAS_SET = [
    Param("Identity", "identity", mandatory=True, position=0),
    Param("AutoDiscoverServiceInternalUri", "string", allow_null=True),
    Param("Confirm", "switch"),
]


@cmdlet("Get-ClientAccessService", endpoint="exchange", params=_CAS_GET)
def get_client_access_service(ctx: CmdletContext, **bound: Any) -> None:
    """List client access settings per server (Exchange 2016 and later)."""
    _require_version(ctx, 2016)
    _get_cas(ctx, bound, "ClientAccessServer")


@cmdlet("Set-ClientAccessService", endpoint="exchange", params=_CAS_SET)
def set_client_access_service(ctx: CmdletContext, **bound: Any) -> None:
    """Set ``AutoDiscoverServiceInternalUri`` of one server (Exchange 2016 and later)."""
    _require_version(ctx, 2016)
    _set_cas(ctx, bound)


@cmdlet("Get-ClientAccessServer", endpoint="exchange", params=_CAS_GET)
def get_client_access_server(ctx: CmdletContext, **bound: Any) -> None:
    """List client access settings per server; deprecated from 2016 on but still present."""
    _get_cas(ctx, bound, "ClientAccessServer")


@cmdlet("Set-ClientAccessServer", endpoint="exchange", params=_CAS_SET)
def set_client_access_server(ctx: CmdletContext, **bound: Any) -> None:
    """Set ``AutoDiscoverServiceInternalUri``; deprecated from 2016 on, where it warns."""
    connected = ctx.org.server(ctx.server)
    if connected is not None and connected.version >= 2016:
        # NOTE: the reference lists the cmdlet as deprecated on 2016+; the exact warning text
        # Exchange writes there is not verified.
        ctx.warn("Set-ClientAccessServer is deprecated; use Set-ClientAccessService instead.")
    _set_cas(ctx, bound)


def _directory_identity(server: Server, kind: str) -> str:
    return f"{server.name}\\{VIRTUAL_DIRECTORIES[kind][0]} ({_SITE})"


def _render_directory(server: Server, kind: str, urls: dict[str, str | None]) -> LabObject:
    name = f"{VIRTUAL_DIRECTORIES[kind][0]} ({_SITE})"
    return LabObject(
        type_names=(
            f"Microsoft.Exchange.Data.Directory.SystemConfiguration.ADVirtualDirectory{kind}",
            "System.Object",
        ),
        to_string=name,
        properties={
            "Name": name,
            "Server": server.name,
            "Identity": _directory_identity(server, kind),
            "InternalUrl": urls.get("InternalUrl"),
            "ExternalUrl": urls.get("ExternalUrl"),
        },
    )


def _directory_servers(ctx: CmdletContext, bound: dict[str, Any], kind: str) -> list[Server]:
    identity = bound.get("Identity")
    if identity is not None:
        return [_target(ctx, identity)]
    if bound.get("Server") is not None:
        return [_target(ctx, bound["Server"])]
    return [server for server in ctx.org.servers if _has_directory(server, kind)]


def _make_get_directory(kind: str) -> None:
    def get_directory(ctx: CmdletContext, **bound: Any) -> None:
        table = client_access_state(ctx.org)
        for server in _directory_servers(ctx, bound, kind):
            urls = table[server.name.upper()].urls.get(kind)
            if urls is None:
                ctx.error(errors.not_found(ctx, bound.get("Identity") or server.name))
                continue
            ctx.output(_render_directory(server, kind, urls))

    params = [Param("Identity", "identity", position=0), Param("Server", "identity")]
    cmdlet(f"Get-{kind}VirtualDirectory", endpoint="exchange", params=params)(get_directory)


def _make_set_directory(kind: str) -> None:
    def set_directory(ctx: CmdletContext, **bound: Any) -> None:
        server = _target(ctx, bound["Identity"])
        urls = client_access_state(ctx.org)[server.name.upper()].urls.get(kind)
        if urls is None:
            ctx.terminate(errors.not_found(ctx, bound["Identity"]))
        given = [name for name in ("InternalUrl", "ExternalUrl") if name in bound]
        if kind == "Autodiscover" and given and server.version > 2010:
            # Set-AutodiscoverVirtualDirectory has InternalUrl/ExternalUrl on 2010 only.
            ctx.terminate(
                errors.invalid_parameter(
                    ctx,
                    f"A parameter cannot be found that matches parameter name '{given[0]}'.",
                    given[0],
                )
            )
        for name in given:
            urls[name] = bound[name]

    params = [
        Param("Identity", "identity", mandatory=True, position=0),
        Param("InternalUrl", "string", allow_null=True),
        Param("ExternalUrl", "string", allow_null=True),
        Param("Force", "switch"),
        Param("Confirm", "switch"),
    ]
    cmdlet(f"Set-{kind}VirtualDirectory", endpoint="exchange", params=params)(set_directory)


for _kind in VIRTUAL_DIRECTORIES:
    _make_get_directory(_kind)
    _make_set_directory(_kind)


def _render_outlook_anywhere(server: Server, state: ClientAccessState) -> LabObject:
    name = f"Rpc ({_SITE})"
    return LabObject(
        type_names=(
            "Microsoft.Exchange.Data.Directory.SystemConfiguration.ADRpcHttpVirtualDirectory",
            "System.Object",
        ),
        to_string=name,
        properties={
            "Name": name,
            "Server": server.name,
            "Identity": f"{server.name}\\{name}",
            "InternalHostname": state.internal_hostname,
            "ExternalHostname": state.external_hostname,
        },
    )


@cmdlet(
    "Get-OutlookAnywhere",
    endpoint="exchange",
    params=[Param("Identity", "identity", position=0), Param("Server", "identity")],
)
def get_outlook_anywhere(ctx: CmdletContext, **bound: Any) -> None:
    """List Outlook Anywhere host names per server."""
    table = client_access_state(ctx.org)
    for server in _directory_servers(ctx, bound, "Owa"):
        ctx.output(_render_outlook_anywhere(server, table[server.name.upper()]))


@cmdlet(
    "Set-OutlookAnywhere",
    endpoint="exchange",
    params=[
        Param("Identity", "identity", mandatory=True, position=0),
        Param("InternalHostname", "string", allow_null=True),
        Param("ExternalHostname", "string", allow_null=True),
        Param("ExternalClientsRequireSsl", "bool"),
        Param("InternalClientsRequireSsl", "bool"),
        Param("Confirm", "switch"),
    ],
)
def set_outlook_anywhere(ctx: CmdletContext, **bound: Any) -> None:
    """Set Outlook Anywhere host names; ``InternalHostname`` exists from 2013 on."""
    server = _target(ctx, bound["Identity"])
    state = client_access_state(ctx.org)[server.name.upper()]
    if "InternalHostname" in bound:
        if server.version == 2010:
            ctx.terminate(
                errors.invalid_parameter(
                    ctx,
                    "A parameter cannot be found that matches parameter name 'InternalHostname'.",
                    "InternalHostname",
                )
            )
        state.internal_hostname = bound["InternalHostname"]
    if "ExternalHostname" in bound:
        state.external_hostname = bound["ExternalHostname"]
