"""``Get-ReceiveConnector`` and ``Set-ReceiveConnector`` with Exchange's rules.

``-PermissionGroups`` and ``-AuthMechanism`` replace the whole flag set, and ``None`` cannot be
combined with other values. ``BasicAuthRequireTLS`` requires ``BasicAuth`` and ``Tls``.
``ExternalAuthoritative`` requires the ``ExchangeServers`` permission group ("Receive connector
authentication mechanisms", Exchange 2013 documentation on Microsoft Learn). ``Custom`` appears
in ``PermissionGroups`` whenever permissions other than the groups' are granted on the
connector, and it cannot be set. The texts of the lab's validation errors are its own.

Output matches a plain (not ``-SerializationLevel Full``) remote session: flags and enums as
their text, sizes as ``36 MB (37,748,736 bytes)``, multi-valued properties as
:class:`MultiValued` with Exchange's type names.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from typing import Any
from uuid import UUID

from exchange_agent.lab.cmdlets import errors
from exchange_agent.lab.cmdlets.registry import CmdletContext, Param, binding_error, cmdlet
from exchange_agent.lab.contract import LabObject, MultiValued
from exchange_agent.lab.org import ReceiveConnector

__all__ = [
    "AUTH_MECHANISMS",
    "PERMISSION_GROUPS",
    "binding_conflict",
    "find_connectors",
    "format_size",
    "parse_size",
    "render_connector",
]

# Flag order is the enum's value order, which is the order Exchange prints them in:
# AnonymousUsers 1, ExchangeUsers 2, ExchangeServers 4, ExchangeLegacyServers 8, Partners 16,
# Custom 32 (PermissionGroups) and Tls 1 ... ExternalAuthoritative 32 (AuthMechanisms).
PERMISSION_GROUPS = (
    "None",
    "AnonymousUsers",
    "ExchangeUsers",
    "ExchangeServers",
    "ExchangeLegacyServers",
    "Partners",
    "Custom",
)
AUTH_MECHANISMS = (
    "None",
    "Tls",
    "Integrated",
    "BasicAuth",
    "BasicAuthRequireTLS",
    "ExchangeServer",
    "ExternalAuthoritative",
)
_PROTOCOL_LOGGING_LEVELS = ("None", "Verbose")
_TRANSPORT_ROLES = ("FrontendTransport", "HubTransport")

_TYPE_NAMES = (
    "Microsoft.Exchange.Data.Directory.SystemConfiguration.ReceiveConnector",
    "Microsoft.Exchange.Data.Directory.SystemConfiguration.ADConfigurationObject",
    "Microsoft.Exchange.Data.Directory.ADObject",
    "Microsoft.Exchange.Data.Directory.ADRawEntry",
    "Microsoft.Exchange.Data.ConfigurableObject",
    "System.Object",
)
_MVP_SUFFIX = (
    ", Microsoft.Exchange.Data, Version=15.0.0.0, Culture=neutral, "
    "PublicKeyToken=31bf3856ad364e35]]"
)


def _mvp_types(item_type: str) -> tuple[str, ...]:
    return (
        f"Microsoft.Exchange.Data.MultiValuedProperty`1[[{item_type}{_MVP_SUFFIX}",
        "Microsoft.Exchange.Data.MultiValuedPropertyBase",
        "System.Object",
    )


# --- value conversion -------------------------------------------------------------------------

_UNITS = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}
_SIZE = re.compile(r"^\s*([\d.,]+)\s*(B|KB|MB|GB|TB)?\s*(\(([\d,]+) bytes\))?\s*$", re.IGNORECASE)


def parse_size(value: Any) -> int:
    """Parse a ByteQuantifiedSize (``36MB``, ``36 MB (37,748,736 bytes)``, bytes) to bytes.

    Raises:
        ValueError: The text is not a size.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = _SIZE.match(str(value))
    if match is None:
        raise ValueError(f"The value '{value}' isn't a valid byte quantified size.")
    if match.group(4):
        return int(match.group(4).replace(",", ""))
    number = float(match.group(1).replace(",", ""))
    return int(number * _UNITS[(match.group(2) or "B").upper()])


def format_size(size: int) -> str:
    """Format bytes as Exchange's ByteQuantifiedSize text, ``36 MB (37,748,736 bytes)``."""
    unit = "B"
    for name, factor in _UNITS.items():
        if size >= factor:
            unit = name
    amount = f"{size / _UNITS[unit]:.3f}".rstrip("0").rstrip(".")
    return f"{amount} {unit} ({size:,} bytes)"


def _flag_converter(names: tuple[str, ...], dotnet: str) -> Any:
    lookup = {name.casefold(): name for name in names}

    def convert(values: list[str]) -> list[str]:
        # PowerShell converts "A, B" to a flags enum as well as an array of names.
        parts = [part.strip() for value in values for part in value.split(",")]
        result: list[str] = []
        for part in parts:
            name = lookup.get(part.casefold())
            if name is None:
                raise ValueError(
                    f"Unable to match the identifier name {part} to a valid enumerator name. "
                    f"Specify one of the following enumerator names and try again:{chr(10)}"
                    f"{', '.join(names)}"
                )
            if name not in result:
                result.append(name)
        if not result:
            raise ValueError(f"An empty value cannot be converted to {dotnet}.")
        return result

    return convert


def _enum_converter(names: tuple[str, ...]) -> Any:
    convert_flags = _flag_converter(names, "an enumeration")

    def convert(value: str) -> str:
        result: list[str] = convert_flags([value])
        if len(result) != 1:
            raise ValueError(f"The value '{value}' isn't one of {', '.join(names)}.")
        return result[0]

    return convert


def _parse_ip_range(text: str) -> str:
    text = text.strip()
    try:
        if "/" in text:
            return str(ipaddress.ip_network(text, strict=False))
        if "-" in text:
            low, high = (ipaddress.ip_address(part.strip()) for part in text.split("-", 1))
            if low.version != high.version or int(low) > int(high):
                raise ValueError(text)
            return f"{low}-{high}"
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise ValueError(f"'{text}' isn't a valid IP address range.") from None


def _parse_binding(text: str) -> str:
    match = re.fullmatch(r"\s*(\[[^\]]+\]|[^:\s]+):(\d{1,5})\s*", text)
    if match is None or not 0 < int(match.group(2)) < 65536:
        raise ValueError(f"'{text}' isn't a valid IP binding; expected <IP address>:<port>.")
    host = match.group(1).strip("[]")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(
            f"'{text}' isn't a valid IP binding; '{host}' isn't an IP address."
        ) from None
    shown = f"[{address}]" if address.version == 6 else str(address)
    return f"{shown}:{int(match.group(2))}"


def _parse_fqdn(text: str) -> str:
    label = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
    if not re.fullmatch(rf"{label}(\.{label})*\.?", text) or len(text) > 255:
        raise ValueError(f"'{text}' isn't a valid FQDN.")
    return text


def _list_of(parse: Any) -> Any:
    def convert(values: list[str]) -> list[str]:
        return [parse(value) for value in values]

    return convert


# --- identity and rendering -------------------------------------------------------------------


def find_connectors(ctx: CmdletContext, identity: str) -> list[ReceiveConnector]:
    """Return the connectors ``identity`` names: ``SERVER\\Name``, a bare name, a DN or GUID.

    A bare name can match connectors on several servers; callers report that as ambiguous.
    """
    wanted = identity.strip().casefold()
    found = []
    for connector in ctx.org.receive_connectors:
        keys = (
            connector.identity.casefold(),
            connector.name.casefold(),
            connector.guid.casefold(),
            ctx.org.connector_dn(connector).casefold(),
        )
        if wanted in keys:
            found.append(connector)
    return found


def _permission_groups_text(connector: ReceiveConnector, has_custom: bool) -> str:
    groups = [g for g in PERMISSION_GROUPS if g in connector.permission_groups and g != "None"]
    if has_custom:
        groups.append("Custom")
    return ", ".join(groups) or "None"


def _has_custom_permissions(connector: ReceiveConnector) -> bool:
    return any(not ace.inherited for ace in connector.permissions)


def render_connector(ctx: CmdletContext, connector: ReceiveConnector) -> LabObject:
    """Render a connector as ``Get-ReceiveConnector`` outputs it on a plain remote session."""
    auth = [m for m in AUTH_MECHANISMS if m in connector.auth_mechanism and m != "None"]
    properties: dict[str, Any] = {
        "AuthMechanism": ", ".join(auth) or "None",
        "Banner": connector.banner,
        "Bindings": MultiValued(
            tuple(connector.bindings), _mvp_types("Microsoft.Exchange.Data.IPBinding")
        ),
        "Fqdn": connector.fqdn,
        "TlsCertificateName": connector.tls_certificate_name,
        "Comment": connector.comment,
        "Enabled": connector.enabled,
        "MaxMessageSize": format_size(connector.max_message_size),
        "MaxRecipientsPerMessage": connector.max_recipients_per_message,
        "PermissionGroups": _permission_groups_text(connector, _has_custom_permissions(connector)),
        "ProtocolLoggingLevel": connector.protocol_logging_level,
        "RemoteIPRanges": MultiValued(
            tuple(connector.remote_ip_ranges), _mvp_types("Microsoft.Exchange.Data.IPRange")
        ),
        "RequireTLS": connector.require_tls,
        "Server": connector.server,
    }
    # Exchange 2010 receive connectors have no TransportRole property.
    if connector.transport_role is not None:
        properties["TransportRole"] = connector.transport_role
    properties |= {
        "Name": connector.name,
        "DistinguishedName": ctx.org.connector_dn(connector),
        "Identity": connector.identity,
        "Guid": UUID(connector.guid),
        "IsValid": True,
    }
    return LabObject(type_names=_TYPE_NAMES, to_string=connector.identity, properties=properties)


# --- cmdlets ----------------------------------------------------------------------------------


@cmdlet(
    "Get-ReceiveConnector",
    endpoint="exchange",
    params=[
        Param("Identity", "identity", position=0, pipeline_by_value=True),
        Param("Server", "identity"),
        Param("DomainController", "string"),
    ],
)
def get_receive_connector(ctx: CmdletContext, **bound: Any) -> None:
    """List receive connectors, of one server with ``-Server``, or the one ``-Identity`` names."""
    identity = bound.get("Identity")
    server_name = bound.get("Server")
    if identity is not None and server_name is not None:
        raise binding_error(
            ctx.spec,
            "AmbiguousParameterSet",
            "Parameter set cannot be resolved using the specified named parameters.",
        )
    if identity is not None:
        matches = find_connectors(ctx, identity)
        if not matches:
            ctx.error(errors.not_found(ctx, identity))
        for connector in matches:
            ctx.output(render_connector(ctx, connector))
        return

    if server_name is not None:
        server = ctx.org.server(server_name)
        if server is None:
            ctx.error(errors.not_found(ctx, server_name))
            return
        server_name = server.name
    for connector in ctx.org.receive_connectors:
        if server_name is None or connector.server.casefold() == server_name.casefold():
            ctx.output(render_connector(ctx, connector))


_SET_PARAMS = [
    Param("Identity", "identity", mandatory=True, position=0, pipeline_by_value=True),
    Param(
        "PermissionGroups",
        "string[]",
        convert=_flag_converter(PERMISSION_GROUPS, "Microsoft.Exchange.Data.PermissionGroups"),
        dotnet_type="Microsoft.Exchange.Data.PermissionGroups",
    ),
    Param(
        "AuthMechanism",
        "string[]",
        convert=_flag_converter(AUTH_MECHANISMS, "AuthMechanisms"),
        dotnet_type="Microsoft.Exchange.Data.Directory.SystemConfiguration.AuthMechanisms",
    ),
    Param(
        "RemoteIPRanges",
        "string[]",
        convert=_list_of(_parse_ip_range),
        dotnet_type="Microsoft.Exchange.Data.MultiValuedProperty`1[Microsoft.Exchange.Data.IPRange]",
    ),
    Param(
        "Bindings",
        "string[]",
        convert=_list_of(_parse_binding),
        dotnet_type="Microsoft.Exchange.Data.MultiValuedProperty`1[Microsoft.Exchange.Data.IPBinding]",
    ),
    Param("Enabled", "bool"),
    Param("Fqdn", "string", convert=_parse_fqdn, dotnet_type="Microsoft.Exchange.Data.Fqdn"),
    Param("Banner", "string"),
    Param("Comment", "string"),
    Param(
        "MaxMessageSize",
        "object",
        convert=parse_size,
        dotnet_type="Microsoft.Exchange.Data.ByteQuantifiedSize",
    ),
    Param("MaxRecipientsPerMessage", "int"),
    Param(
        "ProtocolLoggingLevel",
        "string",
        convert=_enum_converter(_PROTOCOL_LOGGING_LEVELS),
        dotnet_type="Microsoft.Exchange.Data.ProtocolLoggingLevel",
    ),
    Param("RequireTLS", "bool"),
    Param("TlsCertificateName", "string"),
    Param(
        "TransportRole",
        "string",
        convert=_enum_converter(_TRANSPORT_ROLES),
        dotnet_type="Microsoft.Exchange.Data.Directory.SystemConfiguration.ServerRole",
    ),
    Param("Name", "string"),
    Param("DomainController", "string"),
    Param("Confirm", "switch"),
    Param("WhatIf", "switch"),
]

# Parameter name -> ReceiveConnector field it sets.
_FIELDS = {
    "PermissionGroups": "permission_groups",
    "AuthMechanism": "auth_mechanism",
    "RemoteIPRanges": "remote_ip_ranges",
    "Bindings": "bindings",
    "Enabled": "enabled",
    "Fqdn": "fqdn",
    "Banner": "banner",
    "Comment": "comment",
    "MaxMessageSize": "max_message_size",
    "MaxRecipientsPerMessage": "max_recipients_per_message",
    "ProtocolLoggingLevel": "protocol_logging_level",
    "RequireTLS": "require_tls",
    "TlsCertificateName": "tls_certificate_name",
    "TransportRole": "transport_role",
    "Name": "name",
}
_SET_LIKE = {"permission_groups", "auth_mechanism", "remote_ip_ranges", "bindings"}


@cmdlet("Set-ReceiveConnector", endpoint="exchange", params=_SET_PARAMS)
def set_receive_connector(ctx: CmdletContext, **bound: Any) -> None:
    """Change a receive connector; the flag and list parameters replace the stored value."""
    identity = bound["Identity"]
    matches = find_connectors(ctx, identity)
    if not matches:
        ctx.error(errors.not_found(ctx, identity))
        return
    if len(matches) > 1:
        ctx.error(errors.ambiguous(ctx, identity))
        return
    connector = matches[0]
    if connector.transport_role is None and "TransportRole" in bound:
        # Exchange 2010's Set-ReceiveConnector has no TransportRole parameter at all.
        raise binding_error(
            ctx.spec,
            "NamedParameterNotFound",
            "A parameter cannot be found that matches parameter name 'TransportRole'.",
        )

    changes = {_FIELDS[name]: value for name, value in bound.items() if name in _FIELDS}
    problem = _validate(connector, changes)
    if problem is not None:
        ctx.error(errors.invalid_parameter(ctx, problem, connector.identity))
        return
    if _rename_clashes(ctx, connector, changes.get("name")):
        ctx.error(errors.duplicate(ctx, changes["name"], f"{connector.server}\\{changes['name']}"))
        return
    conflict = binding_conflict(ctx.org.receive_connectors, _with_changes(connector, changes))
    if conflict is not None:
        message = (
            f"The values that you specified for the Bindings and RemoteIPRanges parameters "
            f"conflict with the settings on Receive connector '{conflict.identity}'. Change the "
            "Bindings or the RemoteIPRanges so that they differ."
        )
        ctx.error(errors.invalid_parameter(ctx, message, connector.identity))
        return
    if bound.get("WhatIf"):
        return

    modified = {
        name: value
        for name, value in changes.items()
        if not _same(name, getattr(connector, name), value)
    }
    if not modified:
        ctx.warn(
            "The command completed successfully but no settings of "
            f"'{connector.identity}' have been modified."
        )
        return
    for name, value in modified.items():
        setattr(connector, name, value)


def _rename_clashes(ctx: CmdletContext, connector: ReceiveConnector, name: str | None) -> bool:
    if name is None or name.casefold() == connector.name.casefold():
        return False
    return any(
        other.server == connector.server and other.name.casefold() == name.casefold()
        for other in ctx.org.receive_connectors
    )


def _with_changes(connector: ReceiveConnector, changes: dict[str, Any]) -> ReceiveConnector:
    return dataclasses.replace(connector, **changes)


def _binding_overlaps(first: str, second: str) -> bool:
    address_a, _, port_a = first.rpartition(":")
    address_b, _, port_b = second.rpartition(":")
    if port_a != port_b:
        return False
    ip_a = ipaddress.ip_address(address_a.strip("[]"))
    ip_b = ipaddress.ip_address(address_b.strip("[]"))
    if ip_a.version != ip_b.version:
        return False
    return ip_a == ip_b or ip_a.is_unspecified or ip_b.is_unspecified


def binding_conflict(
    connectors: list[ReceiveConnector], candidate: ReceiveConnector
) -> ReceiveConnector | None:
    """Return a connector whose bindings and remote ranges clash with ``candidate``'s, if any.

    Two connectors of one server and transport role may listen on the same IP address and port
    only when their RemoteIPRanges differ, so that Exchange can pick the most specific one.
    ``candidate`` itself (same GUID) is skipped, so callers pass the connector as it would be
    after a change.
    """
    # NOTE: the lab compares RemoteIPRanges as sets of texts; Exchange's exact overlap rule
    # (which equivalent range spellings count as equal) is not modelled.
    ranges = {r.casefold() for r in candidate.remote_ip_ranges}
    for other in connectors:
        if other.guid == candidate.guid or other.server.casefold() != candidate.server.casefold():
            continue
        if other.transport_role != candidate.transport_role:
            continue
        if {r.casefold() for r in other.remote_ip_ranges} != ranges:
            continue
        if any(_binding_overlaps(a, b) for a in candidate.bindings for b in other.bindings):
            return other
    return None


def _same(name: str, current: Any, new: Any) -> bool:
    if name in _SET_LIKE:
        return {str(v).casefold() for v in current} == {str(v).casefold() for v in new}
    return bool(current == new)


def _validate(connector: ReceiveConnector, changes: dict[str, Any]) -> str | None:
    groups = changes.get("permission_groups", connector.permission_groups)
    auth = changes.get("auth_mechanism", connector.auth_mechanism)
    if "Custom" in changes.get("permission_groups", ()):
        # NOTE: the lab's wording; Exchange's exact text for this rejection is not recorded.
        return (
            "PermissionGroups can't be set to Custom. Custom is reported when permissions other "
            "than the permission groups are granted on the connector; change those with "
            "Add-ADPermission and Remove-ADPermission."
        )
    if "None" in groups and len(groups) > 1:
        return f"PermissionGroups 'None' can't be combined with other values: {', '.join(groups)}."
    if "None" in auth and len(auth) > 1:
        return f"AuthMechanism 'None' can't be combined with other values: {', '.join(auth)}."
    if "BasicAuthRequireTLS" in auth and not {"BasicAuth", "Tls"} <= set(auth):
        return (
            "The authentication mechanism BasicAuthRequireTLS requires BasicAuth and Tls; "
            f"found {', '.join(auth)}."
        )
    if "ExternalAuthoritative" in auth and "ExchangeServers" not in groups:
        return (
            "The authentication mechanism ExternalAuthoritative requires the ExchangeServers "
            f"permission group; found {', '.join(groups) or 'None'}."
        )
    if "bindings" in changes and not changes["bindings"]:
        return "Bindings must contain at least one IP address and port."
    return None
