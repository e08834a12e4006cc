"""The ``virtual_directories`` task: client access URLs of each server from one namespace."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field, field_validator

from exchange_agent.autodiscover.gather import check_server, read, server_version
from exchange_agent.autodiscover.hostnames import normalise_host
from exchange_agent.autodiscover.urls import UrlPlan, plan_urls
from exchange_agent.remote.command import Command, ParameterValue, Switch
from exchange_agent.tasks import register
from exchange_agent.tasks.base import (
    Change,
    Plan,
    StateTask,
    TaskArgs,
    TaskContext,
    UndoStep,
)


class VirtualDirectoriesArgs(TaskArgs):
    """Arguments of :class:`VirtualDirectoriesTask`."""

    servers: list[str] = Field(min_length=1, description="Server names, such as EX01.")
    namespace: str = Field(min_length=1, description="External host name: mail.contoso.com.")
    internal_namespace: str | None = Field(
        None, description="Internal host name; the external namespace when not set."
    )
    external: bool = Field(True, description="False clears the external URLs and host name.")

    @field_validator("namespace", "internal_namespace")
    @classmethod
    def _host_name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        host = normalise_host(value)
        if host.startswith("*."):
            raise ValueError(f"expected a host name such as mail.contoso.com, found {value!r}")
        return host


@dataclass(frozen=True)
class ServerUrls:
    """One server's desired plan and the values it has now, keyed by (identity, property)."""

    server: str
    plan: UrlPlan
    current: dict[tuple[str, str], str | None]


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _undo_step(
    cmdlet: str,
    identity: str,
    entry: ServerUrls,
    key: str,
    parameters: dict[str, ParameterValue],
) -> UndoStep:
    """Return the step that sets the URLs or host names in ``parameters`` back as read."""
    before: dict[str, ParameterValue] = {
        name: entry.current.get((key, name))
        for name in parameters
        if not name.endswith("ClientsRequireSsl")
    }
    restore = Command(cmdlet, {"Identity": identity, **before, "Confirm": Switch(False)})
    return UndoStep(identity, [restore], dict(before))


def _same(before: str | None, after: str | None) -> bool:
    # Exchange stores URLs as System.Uri, whose host part is case-insensitive; ExchangeDsc
    # also compares AbsoluteUri without case.
    if before is None or after is None:
        return before is after
    return before.rstrip("/").casefold() == after.rstrip("/").casefold()


@register
class VirtualDirectoriesTask(StateTask[VirtualDirectoriesArgs, list[ServerUrls]]):
    """Set internal and external URLs of every client access virtual directory.

    From one namespace it sets OWA, ECP, EWS, ActiveSync and OAB, MAPI where the version has
    it (2013 SP1 and later), the Autodiscover directory's URLs on 2010 only (later versions
    ignore them), and the Outlook Anywhere host names. The version of each server is read from
    ``Get-ExchangeServer``. Every command names its server, and a directory of another server
    in an answer fails the task.

    Example:
        .. code-block:: yaml

            - virtual_directories:
                servers: [EX01, EX02]
                namespace: mail.contoso.com
    """

    name = "virtual_directories"
    args_model = VirtualDirectoriesArgs

    def gather(self, ctx: TaskContext) -> list[ServerUrls]:
        """Read each server's version, directory URLs and Outlook Anywhere host names."""
        session = ctx.session("exchange")
        states = []
        for server in self.args.servers:
            version = server_version(session, ctx.host, server)
            plan = plan_urls(
                version,
                self.args.namespace,
                internal_namespace=self.args.internal_namespace,
                external=self.args.external,
            )
            current: dict[tuple[str, str], str | None] = {}
            for directory in plan.virtual_directories:
                command = Command(f"Get-{directory.kind}VirtualDirectory", {"Server": server})
                items = read(session, ctx.host, command)
                check_server(ctx.host, server, items)
                identity = directory.identity(server)
                for item in items:
                    for name in ("InternalUrl", "ExternalUrl"):
                        current[(identity, name)] = _text(item.get(name))
            items = read(session, ctx.host, Command("Get-OutlookAnywhere", {"Server": server}))
            check_server(ctx.host, server, items)
            for item in items:
                for name in ("InternalHostname", "ExternalHostname"):
                    current[(server, name)] = _text(item.get(name))
            states.append(ServerUrls(server, plan, current))
        return states

    def plan(self, state: list[ServerUrls]) -> Plan:
        """Plan one Set command per directory whose URLs differ."""
        plan = Plan(reason="every virtual directory already has the planned URLs")
        for entry in state:
            for directory in entry.plan.virtual_directories:
                identity = directory.identity(entry.server)
                wanted: dict[str, str | None] = {
                    "InternalUrl": directory.internal_url,
                    "ExternalUrl": directory.external_url,
                }
                parameters = self._differences(plan, entry, identity, wanted)
                if parameters:
                    cmdlet = f"Set-{directory.kind}VirtualDirectory"
                    plan.commands.append(
                        Command(
                            cmdlet, {"Identity": identity, **parameters, "Confirm": Switch(False)}
                        )
                    )
                    plan.undo.append(_undo_step(cmdlet, identity, entry, identity, parameters))
            self._plan_outlook_anywhere(plan, entry)
        return plan

    def _plan_outlook_anywhere(self, plan: Plan, entry: ServerUrls) -> None:
        anywhere = entry.plan.outlook_anywhere
        wanted: dict[str, str | None] = {"ExternalHostname": anywhere.external_hostname}
        if anywhere.internal_hostname is not None:
            wanted["InternalHostname"] = anywhere.internal_hostname
        parameters = self._differences(plan, entry, entry.server, wanted)
        if not parameters:
            return
        # Set-OutlookAnywhere (2013 and later) wants the SSL requirement with each host name.
        if "ExternalHostname" in parameters and parameters["ExternalHostname"] is not None:
            parameters["ExternalClientsRequireSsl"] = True
        if "InternalHostname" in parameters:
            parameters["InternalClientsRequireSsl"] = True
        identity = f"{entry.server}\\Rpc (Default Web Site)"
        # NOTE: undo puts back the host names only, not the previous ClientsRequireSsl values,
        # which gather does not read.
        plan.undo.append(
            _undo_step("Set-OutlookAnywhere", identity, entry, entry.server, parameters)
        )
        parameters = {"Identity": identity, **parameters, "Confirm": Switch(False)}
        plan.commands.append(Command("Set-OutlookAnywhere", parameters))

    @staticmethod
    def _differences(
        plan: Plan, entry: ServerUrls, key: str, wanted: dict[str, str | None]
    ) -> dict[str, ParameterValue]:
        parameters: dict[str, ParameterValue] = {}
        for name, after in wanted.items():
            before = entry.current.get((key, name))
            if _same(before, after):
                continue
            plan.changes.append(Change(key, name, before, after))
            parameters[name] = after
        return parameters
