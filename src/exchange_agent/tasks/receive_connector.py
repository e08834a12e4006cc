"""The ``receive_connector`` task: ensure properties of an existing receive connector."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from exchange_agent.errors import TaskError
from exchange_agent.remote.command import Command, Statement, Switch
from exchange_agent.remote.errors import CommandError
from exchange_agent.remote.result import ExObject
from exchange_agent.tasks import register
from exchange_agent.tasks.base import Change, Plan, StateTask, TaskArgs, TaskContext
from exchange_agent.tasks.exchange import ExchangeServerInfo, get_server, parse_flags
from exchange_agent.tasks.setops import SetSpec

# Names as Set-ReceiveConnector accepts them (Set-ReceiveConnector reference, Exchange 2019).
PERMISSION_GROUPS = (
    "None",
    "AnonymousUsers",
    "ExchangeUsers",
    "ExchangeServers",
    "ExchangeLegacyServers",
    "Partners",
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


def _canonical(allowed: tuple[str, ...], what: str) -> BeforeValidator:
    by_key = {name.lower(): name for name in allowed}

    def convert(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if value.strip().lower() == "custom" and what == "permission group":
            raise ValueError(
                "Custom cannot be set: Exchange reports it when the connector has permissions "
                "granted outside the groups; grant those with the ad_permission task"
            )
        name = by_key.get(value.strip().lower())
        if name is None:
            raise ValueError(f"unknown {what} {value!r}; expected one of {', '.join(allowed)}")
        return name

    return BeforeValidator(convert)


PermissionGroup = Annotated[str, _canonical(PERMISSION_GROUPS, "permission group")]
AuthMechanism = Annotated[str, _canonical(AUTH_MECHANISMS, "authentication mechanism")]


def _check_range(value: Any) -> Any:
    if isinstance(value, str):
        normalise_range(value)
    return value


RemoteRange = Annotated[str, BeforeValidator(_check_range)]


class ReceiveConnectorArgs(TaskArgs):
    """Arguments of :class:`ReceiveConnectorTask`."""

    identity: str | None = Field(None, description="SERVER\\Name of the connector.")
    name: str | None = Field(None, description="Connector name on ``server``.")
    server: str | None = Field(None, description="Exchange server; default: the host's server.")
    well_known: Literal["default-frontend", "client-frontend"] | None = Field(
        None,
        description=(
            "A default connector found by its role: default-frontend is 'Default Frontend "
            "<SERVER>' (port 25) on 2013 and later and 'Default <SERVER>' on 2010; "
            "client-frontend is 'Client Frontend <SERVER>' (587), 'Client <SERVER>' on 2010."
        ),
    )
    permission_groups: SetSpec[PermissionGroup] | None = None
    auth_mechanism: SetSpec[AuthMechanism] | None = None
    remote_ip_ranges: SetSpec[RemoteRange] | None = None
    enabled: bool | None = None
    state: Literal["present", "absent"] = Field(
        "present", description="absent removes the connector, journaling it first."
    )

    @model_validator(mode="after")
    def _check_target(self) -> ReceiveConnectorArgs:
        given = [n for n in ("identity", "name", "well_known") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("name the connector with exactly one of identity, name, well_known")
        if self.identity is not None and "\\" not in self.identity:
            raise ValueError(
                f"identity {self.identity!r} must be SERVER\\Name; a bare name is ambiguous "
                "when several servers have a connector of that name"
            )
        wanted = ("permission_groups", "auth_mechanism", "remote_ip_ranges", "enabled")
        if self.state == "absent":
            if any(getattr(self, n) is not None for n in wanted):
                raise ValueError(f"state: absent takes none of {', '.join(wanted)}")
            return self
        if all(getattr(self, n) is None for n in wanted):
            raise ValueError(f"nothing to ensure: give at least one of {', '.join(wanted)}")
        return self


@dataclass
class ConnectorState:
    """The connector as read from Exchange, with the server it lives on."""

    server: ExchangeServerInfo
    identity: str
    connector: ExObject | None


@register
class ReceiveConnectorTask(StateTask[ReceiveConnectorArgs, ConnectorState]):
    """Ensure permission groups, authentication, remote ranges and state of a receive connector.

    Exchange replaces the whole permission-group set on every write. So the task reads the
    current groups, applies ``add``/``remove`` (or ``exact``) and writes the full result, which
    keeps the groups already there. ``Custom`` appears when other permissions exist and is
    never written.

    Example:
        .. code-block:: yaml

            - name: Allow authenticated SMTP on port 25
              receive_connector:
                well_known: default-frontend
                permission_groups: {add: [ExchangeUsers]}
              notify: restart frontend transport
    """

    name = "receive_connector"
    args_model = ReceiveConnectorArgs
    endpoints = ("exchange",)

    def gather(self, ctx: TaskContext) -> ConnectorState:
        """Read the server and list its connectors, matching the one asked for in Python.

        Listing by server instead of ``Get-ReceiveConnector -Identity`` keeps an absent
        connector from logging a failed cmdlet on the server at every run.
        """
        args = self.args
        server_name = _server_of(args, ctx)
        server = get_server(ctx, server_name)
        identity = self._identity(server)

        result = ctx.session("exchange").invoke(
            Command("Get-ReceiveConnector", {"Server": server.name})
        )
        if not result.ok:
            raise CommandError(result.errors, host=ctx.host, endpoint="exchange")

        for connector in result.output:
            if str(connector.get("Identity", "")).lower() == identity.lower():
                if str(connector.get("Server", server.name)).lower() != server.name.lower():
                    raise TaskError(
                        f"Exchange answered for server {connector.get('Server')}, not {server.name}"
                    )
                return ConnectorState(server, identity, connector)
        if args.state == "absent":
            return ConnectorState(server, identity, None)
        names = ", ".join(sorted(str(c.get("Identity")) for c in result.output)) or "none"
        raise TaskError(f"receive connector {identity!r} not found; {server.name} has: {names}")

    def plan(self, state: ConnectorState) -> Plan:
        """Compare each requested property with the connector and build one Set command."""
        args = self.args
        connector = state.connector
        if args.state == "absent":
            return _plan_removal(state)
        assert connector is not None
        changes: list[Change] = []
        parameters: dict[str, Any] = {}

        if args.permission_groups is not None:
            current = _ordered(
                list(parse_flags(connector.get("PermissionGroups")) - {"Custom"}),
                PERMISSION_GROUPS,
            )
            desired = _ordered(args.permission_groups.apply(current), PERMISSION_GROUPS)
            _check_exclusive_none(desired, "permission_groups")
            if set(desired) != set(current):
                changes.append(Change(state.identity, "PermissionGroups", current, desired))
                parameters["PermissionGroups"] = desired

        if args.auth_mechanism is not None:
            current = _ordered(list(parse_flags(connector.get("AuthMechanism"))), AUTH_MECHANISMS)
            desired = _ordered(args.auth_mechanism.apply(current), AUTH_MECHANISMS)
            _check_auth_combination(desired, parameters.get("PermissionGroups"), connector)
            if set(desired) != set(current):
                changes.append(Change(state.identity, "AuthMechanism", current, desired))
                parameters["AuthMechanism"] = desired

        if args.remote_ip_ranges is not None:
            current = [str(item) for item in connector.get("RemoteIPRanges") or []]
            desired = args.remote_ip_ranges.apply(current, key=normalise_range)
            if {normalise_range(r) for r in desired} != {normalise_range(r) for r in current}:
                if not desired:
                    raise TaskError("remote_ip_ranges would become empty; Exchange requires one")
                changes.append(Change(state.identity, "RemoteIPRanges", current, desired))
                parameters["RemoteIPRanges"] = desired

        if args.enabled is not None and bool(connector.get("Enabled")) != args.enabled:
            changes.append(
                Change(state.identity, "Enabled", bool(connector.get("Enabled")), args.enabled)
            )
            parameters["Enabled"] = args.enabled

        if not changes:
            return Plan(reason=f"{state.identity} already has the requested settings")
        command = Command(
            "Set-ReceiveConnector",
            {"Identity": state.identity, **parameters, "Confirm": Switch(False)},
        )
        return Plan(changes=changes, commands=[command])

    def apply(self, ctx: TaskContext, plan: Plan) -> list[str]:
        """Journal the properties about to be replaced, then send the plan's command."""
        if self.args.state == "absent":
            self._journal_removal(ctx)
            return super().apply(ctx, plan)
        if ctx.journal is not None and plan.changes:
            target = plan.changes[0].target
            previous: dict[str, Any] = {change.property: change.before for change in plan.changes}
            undo = Command(
                "Set-ReceiveConnector", {"Identity": target, **previous, "Confirm": Switch(False)}
            )
            ctx.journal.record(task=self.name, target=target, undo=[undo], before=previous)
        return super().apply(ctx, plan)

    def _journal_removal(self, ctx: TaskContext) -> None:
        """Record the statements that re-create the connector, read fresh before removal."""
        state = self.gather(ctx)
        connector = state.connector
        if connector is None:
            return
        if ctx.journal is None:
            raise TaskError("removing a connector needs a journal to record it, and none is open")

        name = state.identity.split("\\", 1)[1]
        create: dict[str, Any] = {
            "Name": name,
            "Server": state.server.name,
            "Custom": Switch(),
            "Bindings": [str(item) for item in connector.get("Bindings") or []],
            "RemoteIPRanges": [str(item) for item in connector.get("RemoteIPRanges") or []],
        }
        if state.server.major_version >= 15 and connector.get("TransportRole"):
            create["TransportRole"] = str(connector.get("TransportRole"))

        settings: dict[str, Any] = {
            "Identity": state.identity,
            "PermissionGroups": sorted(parse_flags(connector.get("PermissionGroups")) - {"Custom"}),
            "AuthMechanism": sorted(parse_flags(connector.get("AuthMechanism"))),
            "Enabled": bool(connector.get("Enabled")),
            "Confirm": Switch(False),
        }
        undo: list[Statement] = [
            Command("New-ReceiveConnector", create),
            Command("Set-ReceiveConnector", settings),
        ]

        before = {key: value for key, value in {**create, **settings}.items() if key != "Confirm"}
        before.pop("Custom", None)
        ctx.journal.record(task=self.name, target=state.identity, undo=undo, before=before)

    def _identity(self, server: ExchangeServerInfo) -> str:
        args = self.args
        if args.identity is not None:
            return args.identity
        if args.name is not None:
            return f"{server.name}\\{args.name}"
        if args.well_known == "client-frontend":
            label = "Client" if server.major_version < 15 else "Client Frontend"
        else:
            label = "Default" if server.major_version < 15 else "Default Frontend"
        return f"{server.name}\\{label} {server.name}"


def _plan_removal(state: ConnectorState) -> Plan:
    if state.connector is None:
        return Plan(reason=f"{state.identity} is already absent")
    command = Command(
        "Remove-ReceiveConnector", {"Identity": state.identity, "Confirm": Switch(False)}
    )
    return Plan(changes=[Change(state.identity, "State", "present", "absent")], commands=[command])


def _server_of(args: ReceiveConnectorArgs, ctx: TaskContext) -> str:
    if args.identity is not None:
        return args.identity.split("\\", 1)[0]
    if args.server:
        return args.server
    server = ctx.vars.get("exchange_server")
    if not server:
        raise TaskError("no server named: set server in the task or exchange_server for the host")
    return str(server)


def _ordered(names: list[str], order: tuple[str, ...]) -> list[str]:
    # Exchange's own order, so before and after line up in diffs; unknown names go last.
    return sorted(
        set(names), key=lambda name: (order.index(name) if name in order else len(order), name)
    )


def _check_exclusive_none(names: list[str], field: str) -> None:
    if "None" in names and len(names) > 1:
        raise TaskError(f"{field}: None cannot be combined with other values ({names})")


def _check_auth_combination(
    mechanisms: list[str], new_groups: list[str] | None, connector: ExObject
) -> None:
    # Rules from the Set-ReceiveConnector reference: BasicAuthRequireTLS needs BasicAuth and
    # Tls; ExternalAuthoritative needs the ExchangeServers permission group.
    _check_exclusive_none(mechanisms, "auth_mechanism")
    if "BasicAuthRequireTLS" in mechanisms and not {"BasicAuth", "Tls"} <= set(mechanisms):
        raise TaskError("auth_mechanism: BasicAuthRequireTLS also needs BasicAuth and Tls")
    groups = (
        new_groups if new_groups is not None else parse_flags(connector.get("PermissionGroups"))
    )
    if "ExternalAuthoritative" in mechanisms and "ExchangeServers" not in groups:
        raise TaskError(
            "auth_mechanism: ExternalAuthoritative needs permission group ExchangeServers"
        )


def normalise_range(text: str) -> str:
    """Return a canonical text for one remote IP range, for comparing ranges as sets.

    Accepts a single address, CIDR (``10.0.0.0/24``) or ``first-last``; the result is the
    ``first-last`` form, or the single address.

    Raises:
        ValueError: ``text`` has none of those forms.
    """
    value = text.strip()
    try:
        if "-" in value:
            first_text, last_text = (part.strip() for part in value.split("-", 1))
            first, last = ipaddress.ip_address(first_text), ipaddress.ip_address(last_text)
            if first.version != last.version or int(first) > int(last):
                raise ValueError("first address must not be after the last")
        elif "/" in value:
            network = ipaddress.ip_network(value, strict=False)
            first, last = network[0], network[-1]
        else:
            first = last = ipaddress.ip_address(value)
    except ValueError as error:
        raise ValueError(
            f"invalid remote IP range {text!r}: expected an address, CIDR or first-last ({error})"
        ) from None
    return str(first) if first == last else f"{first}-{last}"
