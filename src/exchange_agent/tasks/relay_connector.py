"""The ``relay_connector`` task: a dedicated receive connector for restricted anonymous relay."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import Field, model_validator

from exchange_agent.errors import TaskError
from exchange_agent.relay.guards import RangePolicy, check_relay_ranges
from exchange_agent.relay.overlap import (
    ConnectorView,
    find_overlaps,
    find_role_conflicts,
    parse_binding,
)
from exchange_agent.relay.ranges import AddressSet, RemoteIPRangeError, parse_ip_range
from exchange_agent.remote.command import Command, ParameterValue, Statement, Switch
from exchange_agent.remote.errors import CommandError
from exchange_agent.remote.result import ExObject
from exchange_agent.tasks import register
from exchange_agent.tasks.base import Change, Plan, StateTask, TaskArgs, TaskContext
from exchange_agent.tasks.exchange import ExchangeServerInfo, get_server, parse_flags

ANONYMOUS_LOGON = "NT AUTHORITY\\ANONYMOUS LOGON"
ACCEPT_ANY_RECIPIENT = "ms-Exch-SMTP-Accept-Any-Recipient"


class RelayConnectorArgs(TaskArgs):
    """Arguments of :class:`RelayConnectorTask`; the ranges are checked when the playbook loads."""

    server: str = Field(description="Exchange server that gets the connector, such as EX01.")
    name: str = Field(description="Connector name, such as Relay Printers.")
    remote_ip_ranges: list[str] | None = Field(
        None, description="Device addresses: single addresses, CIDR or first-last ranges."
    )
    bindings: list[str] = Field(
        default_factory=lambda: ["0.0.0.0:25"], description="Local address:port to listen on."
    )
    auth_mechanism: list[str] | None = Field(
        None, description="Authentication mechanisms; Exchange's default (Tls) when omitted."
    )
    allow_public_ranges: bool = False
    allow_broad_ranges: bool = False
    max_prefix: int = Field(24, description="Shortest IPv4 prefix length accepted.")
    max_prefix_v6: int = Field(64, description="Shortest IPv6 prefix length accepted.")
    allow_external_authoritative: bool = False
    snat_addresses: list[str] = Field(
        default_factory=list,
        description="Inside addresses a load balancer source-NATs internet SMTP to.",
    )

    @model_validator(mode="after")
    def _check(self) -> RelayConnectorArgs:
        if "\\" in self.server or "\\" in self.name:
            raise ValueError("give server and name separately, without SERVER\\ in the name")
        if not self.name.strip():
            raise ValueError(f"relay_connector on {self.server}: name is empty")
        check_relay_ranges(self.remote_ip_ranges, self.policy(), field="remote_ip_ranges")
        for binding in self.bindings:
            parse_binding(binding)
        if not self.bindings:
            raise ValueError("bindings is empty; give at least one address:port such as 0.0.0.0:25")
        for address in self.snat_addresses:
            if address in self.desired_ranges():
                raise ValueError(
                    f"{address} (load balancer source NAT) is inside remote_ip_ranges, so internet "
                    "mail through the load balancer would be relayed as a device's; remove it "
                    "from the ranges"
                )
        mechanisms = {m.casefold() for m in self.auth_mechanism or []}
        if "externalauthoritative" in mechanisms and not self.allow_external_authoritative:
            raise ValueError(
                "auth_mechanism ExternalAuthoritative makes Exchange trust every sender in the "
                "remote ranges as an internal server, which goes beyond anonymous relay; set "
                "allow_external_authoritative: true if this is intended"
            )
        return self

    def policy(self) -> RangePolicy:
        """Return the range guards these arguments set."""
        return RangePolicy(
            allow_public_ranges=self.allow_public_ranges,
            allow_broad_ranges=self.allow_broad_ranges,
            max_prefix_v4=self.max_prefix,
            max_prefix_v6=self.max_prefix_v6,
        )

    def desired_ranges(self) -> AddressSet:
        """Return the requested remote ranges as one address set."""
        return AddressSet.of(self.remote_ip_ranges or [])

    def desired_texts(self) -> list[str]:
        """Return the requested ranges as sent to Exchange, in order and without repeats.

        ``address(mask)`` becomes CIDR, so Exchange never has to parse that form.
        """
        texts = [parse_ip_range(value).canonical() for value in self.remote_ip_ranges or []]
        return list(dict.fromkeys(texts))


@dataclass
class RelayState:
    """The server, its receive connectors and the relay connector's anonymous permissions."""

    server: ExchangeServerInfo
    connectors: list[ExObject]
    connector: ExObject | None
    anonymous_rights: set[str] = field(default_factory=set)


def connector_view(connector: ExObject) -> ConnectorView:
    """Build the overlap-detection view of a connector read with ``Get-ReceiveConnector``.

    Raises:
        TaskError: A binding or range Exchange returned cannot be parsed.
    """
    identity = str(connector.get("Identity", ""))
    try:
        bindings = tuple(parse_binding(str(b)) for b in connector.get("Bindings") or [])
        ranges = AddressSet.of([str(r) for r in connector.get("RemoteIPRanges") or []])
    except (ValueError, RemoteIPRangeError) as error:
        raise TaskError(f"cannot read the bindings or ranges of {identity}: {error}") from None
    role = connector.get("TransportRole")
    return ConnectorView(identity, bindings, ranges, str(role) if role else None)


def list_connectors(ctx: TaskContext, server: str) -> list[ExObject]:
    """List the receive connectors of ``server`` with ``Get-ReceiveConnector -Server``."""
    result = ctx.session("exchange").invoke(Command("Get-ReceiveConnector", {"Server": server}))
    if not result.ok:
        raise CommandError(result.errors, host=ctx.host, endpoint="exchange")
    return list(result.output)


def anonymous_relay_rights(ctx: TaskContext, identity: str) -> set[str]:
    """Return the extended rights allowed (not denied, not inherited) to ANONYMOUS LOGON."""
    result = ctx.session("exchange").invoke(
        Command("Get-ADPermission", {"Identity": identity, "User": ANONYMOUS_LOGON})
    )
    if not result.ok:
        raise CommandError(result.errors, host=ctx.host, endpoint="exchange")
    rights: set[str] = set()
    for row in result.output:
        if row.get("Deny") or row.get("IsInherited"):
            continue
        rights.update(str(right).casefold() for right in row.get("ExtendedRights") or [])
    return rights


@register
class RelayConnectorTask(StateTask[RelayConnectorArgs, RelayState]):
    """Ensure a receive connector that lets named devices relay mail without authentication.

    The connector is created in the front-end transport service on Exchange 2013 and later,
    because that service owns port 25 there, and without a role on Exchange 2010. It binds
    port 25 by default and accepts only the given remote ranges. It gets the
    ``AnonymousUsers`` permission group, and ``NT AUTHORITY\\ANONYMOUS LOGON`` gets the
    ``ms-Exch-SMTP-Accept-Any-Recipient`` extended right, the method of Microsoft's "Allow
    anonymous relay on Exchange servers" procedure. Ranges are compared as address sets, so
    ``10.0.5.0/24`` and ``10.0.5.0-10.0.5.255`` are the same. Public ranges, ranges wider than
    /24 (IPv4) or /64 (IPv6), and every address (``0.0.0.0/0``, ``::/0``) are rejected before
    anything is sent; the first two have overrides, the last has none.

    Example:
        .. code-block:: yaml

            - name: Printers may relay
              relay_connector:
                server: EX01
                name: Relay Printers
                remote_ip_ranges: [10.0.5.20, 10.0.5.21, 10.0.6.0/24]
    """

    name = "relay_connector"
    args_model = RelayConnectorArgs
    endpoints = ("exchange",)

    @property
    def identity(self) -> str:
        """``SERVER\\Name`` of the connector."""
        return f"{self.args.server}\\{self.args.name}"

    def gather(self, ctx: TaskContext) -> RelayState:
        """Read the server version, list its connectors and read the relay permission."""
        server = get_server(ctx, self.args.server)
        connectors = list_connectors(ctx, server.name)
        mine = _find(connectors, self.identity)
        rights = anonymous_relay_rights(ctx, self.identity) if mine is not None else set()
        return RelayState(server, connectors, mine, rights)

    def plan(self, state: RelayState) -> Plan:
        """Create the connector or correct its ranges, bindings, groups and permission."""
        if state.connector is None:
            plan = self._plan_create(state)
        else:
            plan = self._plan_update(state, state.connector)
        plan.warnings.extend(self._warnings(state))
        return plan

    def _role(self, server: ExchangeServerInfo) -> str | None:
        # Exchange 2010 has no TransportRole parameter; on 2013 and later port 25 belongs to
        # the front-end transport service.
        return "FrontendTransport" if server.major_version >= 15 else None

    def _plan_create(self, state: RelayState) -> Plan:
        args = self.args
        ranges = args.desired_texts()
        parameters: dict[str, Any] = {"Name": args.name, "Server": state.server.name}
        role = self._role(state.server)
        if role is not None:
            parameters["TransportRole"] = role
        parameters |= {
            "Custom": Switch(True),
            "Bindings": list(args.bindings),
            "RemoteIPRanges": ranges,
            "PermissionGroups": ["AnonymousUsers"],
        }
        if args.auth_mechanism:
            parameters["AuthMechanism"] = list(args.auth_mechanism)
        create = Command("New-ReceiveConnector", parameters)
        return Plan(
            changes=[
                Change(self.identity, "Ensure", "absent", "present"),
                Change(self.identity, "RemoteIPRanges", [], ranges),
                Change(self.identity, "ExtendedRights", [], [ACCEPT_ANY_RECIPIENT]),
            ],
            commands=[create, self._grant()],
        )

    def _grant(self) -> Command:
        return Command(
            "Add-ADPermission",
            {
                "Identity": self.identity,
                "User": ANONYMOUS_LOGON,
                "ExtendedRights": [ACCEPT_ANY_RECIPIENT],
            },
        )

    def _plan_update(self, state: RelayState, connector: ExObject) -> Plan:
        args = self.args
        changes: list[Change] = []
        parameters: dict[str, Any] = {}
        current = connector_view(connector)

        desired = args.desired_ranges()
        if current.ranges != desired:
            before = current.ranges.texts()
            changes.append(Change(self.identity, "RemoteIPRanges", before, args.desired_texts()))
            parameters["RemoteIPRanges"] = args.desired_texts()

        requested_bindings = {parse_binding(b) for b in args.bindings}
        if set(current.bindings) != requested_bindings:
            before = sorted(str(b) for b in current.bindings)
            changes.append(Change(self.identity, "Bindings", before, sorted(args.bindings)))
            parameters["Bindings"] = list(args.bindings)

        groups = parse_flags(connector.get("PermissionGroups")) - {"Custom", "None"}
        if "AnonymousUsers" not in groups:
            after = sorted(groups | {"AnonymousUsers"})
            changes.append(Change(self.identity, "PermissionGroups", sorted(groups), after))
            parameters["PermissionGroups"] = after

        if args.auth_mechanism is not None:
            current_auth = parse_flags(connector.get("AuthMechanism"))
            if {m.casefold() for m in current_auth} != {m.casefold() for m in args.auth_mechanism}:
                before = sorted(current_auth)
                changes.append(Change(self.identity, "AuthMechanism", before, args.auth_mechanism))
                parameters["AuthMechanism"] = list(args.auth_mechanism)

        commands: list[Command] = []
        if parameters:
            parameters = {"Identity": self.identity, **parameters, "Confirm": Switch(False)}
            commands.append(Command("Set-ReceiveConnector", parameters))
        if ACCEPT_ANY_RECIPIENT.casefold() not in state.anonymous_rights:
            changes.append(Change(self.identity, "ExtendedRights", [], [ACCEPT_ANY_RECIPIENT]))
            commands.append(self._grant())
        if not changes:
            return Plan(reason=f"{self.identity} already relays for {desired.describe()} only")
        return Plan(changes=changes, commands=list(commands))

    def apply(self, ctx: TaskContext, plan: Plan) -> list[str]:
        """Record the previous connector settings in the journal, then send the plan."""
        if ctx.journal is not None:
            ctx.journal.record(
                task=self.name,
                target=self.identity,
                undo=self._undo(plan),
                before={change.property: change.before for change in plan.changes},
            )
        return super().apply(ctx, plan)

    def _undo(self, plan: Plan) -> list[Statement]:
        before = {change.property: change.before for change in plan.changes}
        if before.get("Ensure") == "absent":
            remove: dict[str, ParameterValue] = {
                "Identity": self.identity,
                "Confirm": Switch(False),
            }
            return [Command("Remove-ReceiveConnector", remove)]
        undo: list[Statement] = []
        restore: dict[str, Any] = {
            name: before[name]
            for name in ("RemoteIPRanges", "Bindings", "PermissionGroups", "AuthMechanism")
            if name in before
        }
        if restore:
            restore = {"Identity": self.identity, **restore, "Confirm": Switch(False)}
            undo.append(Command("Set-ReceiveConnector", restore))
        if "ExtendedRights" in before:
            revoke = self._grant().with_parameters(Confirm=Switch(False))
            undo.append(Command("Remove-ADPermission", revoke.parameters))
        return undo

    def _warnings(self, state: RelayState) -> list[str]:
        others = [connector_view(c) for c in state.connectors]
        others = [view for view in others if view.identity.casefold() != self.identity.casefold()]
        bindings = tuple(parse_binding(b) for b in self.args.bindings)
        role = self._role(state.server)
        if state.connector is not None:
            role = connector_view(state.connector).transport_role
        mine = ConnectorView(self.identity, bindings, self.args.desired_ranges(), role)
        warnings = [overlap.message() for overlap in find_overlaps(mine, others)]
        if role is not None and state.server.major_version >= 15 and role != "FrontendTransport":
            warnings.append(
                f"{self.identity} is in {role}; relay connectors on port 25 belong in "
                "FrontendTransport on Exchange 2013 and later. Recreate it to move it."
            )
        warnings.extend(conflict.message() for conflict in find_role_conflicts([mine, *others]))
        return warnings


def _find(connectors: list[ExObject], identity: str) -> ExObject | None:
    for connector in connectors:
        if str(connector.get("Identity", "")).casefold() == identity.casefold():
            return connector
    return None
