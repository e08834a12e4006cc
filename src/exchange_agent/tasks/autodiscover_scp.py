"""The ``autodiscover_scp`` task: set the Autodiscover SCP of each Client Access server."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field, field_validator

from exchange_agent.autodiscover.gather import check_server, read, server_version
from exchange_agent.autodiscover.hostnames import normalise_host
from exchange_agent.autodiscover.urls import ExchangeVersion
from exchange_agent.remote.command import Command, Switch
from exchange_agent.tasks import register
from exchange_agent.tasks.base import (
    Change,
    Plan,
    StateTask,
    TaskArgs,
    TaskContext,
    UndoStep,
)


class AutodiscoverScpArgs(TaskArgs):
    """Arguments of :class:`AutodiscoverScpTask`."""

    servers: list[str] = Field(min_length=1, description="Server names, such as EX01.")
    uri: str | None = Field(
        description="AutoDiscoverServiceInternalUri to publish; null removes it."
    )

    @field_validator("uri")
    @classmethod
    def _https_uri(cls, value: str | None) -> str | None:
        if value is None:
            return None
        scheme, separator, rest = value.partition("://")
        if scheme.lower() != "https" or not separator or not rest.split("/", 1)[0]:
            raise ValueError(
                f"expected an https:// URL such as "
                f"https://autodiscover.contoso.com/Autodiscover/Autodiscover.xml, found {value!r}"
            )
        normalise_host(rest.split("/", 1)[0].split(":", 1)[0])
        return value


@dataclass(frozen=True)
class ScpState:
    """One server's version and current SCP URI."""

    server: str
    version: ExchangeVersion
    uri: str | None


@register
class AutodiscoverScpTask(StateTask[AutodiscoverScpArgs, list[ScpState]]):
    """Set ``AutoDiscoverServiceInternalUri``, the SCP domain-joined Outlook reads first.

    The cmdlet follows each server's version as ``Get-ExchangeServer`` reports it:
    ``Set-ClientAccessService`` on 2016 and later, ``Set-ClientAccessServer`` on 2010/2013.
    Every command names its server with ``-Identity``, and an object returned for another
    server fails the task. A newly installed server publishes an SCP pointing at itself behind a
    self-signed certificate, so run this right after setup.

    Example:
        .. code-block:: yaml

            - autodiscover_scp:
                servers: [EX01, EX03]
                uri: https://autodiscover.contoso.com/Autodiscover/Autodiscover.xml
    """

    name = "autodiscover_scp"
    args_model = AutodiscoverScpArgs

    def gather(self, ctx: TaskContext) -> list[ScpState]:
        """Read each server's version and SCP URI."""
        # NOTE: the cmdlet set is that of the server the session reaches, so a session on a
        # 2013 server cannot run Set-ClientAccessService for a 2016 server. Connect to the
        # newest version in a mixed organization.
        session = ctx.session("exchange")
        states = []
        for server in self.args.servers:
            version = server_version(session, ctx.host, server)
            command = Command(f"Get-{version.scp_cmdlet_noun}", {"Identity": server})
            items = read(session, ctx.host, command)
            check_server(ctx.host, server, items)
            uri = items[0].get("AutoDiscoverServiceInternalUri") if items else None
            states.append(ScpState(server, version, None if uri is None else str(uri)))
        return states

    def plan(self, state: list[ScpState]) -> Plan:
        """Plan one Set command per server whose URI differs (case-insensitive)."""
        plan = Plan(reason="every server already publishes the requested SCP URI")
        wanted = self.args.uri
        for entry in state:
            same = (entry.uri or "").casefold() == (wanted or "").casefold()
            if same and (entry.uri is None) == (wanted is None):
                continue
            plan.changes.append(
                Change(entry.server, "AutoDiscoverServiceInternalUri", entry.uri, wanted)
            )
            cmdlet = f"Set-{entry.version.scp_cmdlet_noun}"
            parameters = {
                "Identity": entry.server,
                "AutoDiscoverServiceInternalUri": wanted,
                "Confirm": Switch(False),
            }
            plan.commands.append(Command(cmdlet, parameters))
            previous = {"AutoDiscoverServiceInternalUri": entry.uri}
            restore = Command(cmdlet, {**parameters, **previous})
            plan.undo.append(UndoStep(entry.server, [restore], previous))
        return plan
