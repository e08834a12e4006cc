"""Run cmdlet pipelines against a simulated organization.

:class:`LabEngine` implements :class:`~exchange_agent.lab.contract.Engine`. The WinRM server
calls it from many threads, so one lock guards the organization for each whole statement:
statements run one at a time, like a single Exchange server processing them in order.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from exchange_agent.lab.clock import Clock
from exchange_agent.lab.cmdlets.core import load_cmdlets
from exchange_agent.lab.cmdlets.registry import CmdletContext, CmdletSpec, bind, lookup
from exchange_agent.lab.contract import (
    CmdletCall,
    EndpointName,
    LabErrorRecord,
    LabEvent,
    LabObject,
    LabTerminatingError,
)
from exchange_agent.lab.org import Organization

__all__ = ["LabEngine", "command_not_found"]


class LabEngine:
    """An :class:`~exchange_agent.lab.contract.Engine` over one organization.

    Args:
        org: The organization the cmdlets read and change.
        clock: Simulated time; defaults to a real-time :class:`Clock`.
        server: Short name of the server sessions are connected to; defaults to the first
            server of ``org``.

    Create one engine per organization and use :meth:`for_server` for sessions to other
    servers, so that all of them share the lock.
    """

    def __init__(
        self,
        org: Organization,
        *,
        clock: Clock | None = None,
        server: str | None = None,
        lock: threading.RLock | None = None,
    ) -> None:
        load_cmdlets()
        self.org = org
        self.clock = clock or Clock()
        self.lock = lock or threading.RLock()
        if server is None:
            server = org.servers[0].name if org.servers else "EX01"
        self.server = server

    def for_server(self, server: str) -> LabEngine:
        """Return an engine on the same organization, lock and clock for sessions to ``server``."""
        return LabEngine(self.org, clock=self.clock, server=server, lock=self.lock)

    def invoke(
        self,
        pipeline: list[CmdletCall],
        *,
        endpoint: EndpointName,
        user: str,
        server: str | None = None,
    ) -> Iterator[LabEvent]:
        """Run one statement, yielding output, non-terminating errors and warnings in order.

        ``server`` is the short name of the server the session is connected to; it defaults
        to the engine's ``server``. Windows service cmdlets act on that server's services, and
        Exchange error ids name it.

        Events are collected while the lock is held and yielded after it is released, so a
        slow consumer does not hold the lock.

        Raises:
            LabTerminatingError: An unknown cmdlet, a parameter binding failure, or a cmdlet
                that stopped the pipeline; the events written before it are yielded first.
        """
        specs = [self._resolve(call, endpoint) for call in pipeline]
        events: list[LabEvent] = []
        failure: LabTerminatingError | None = None
        with self.lock:
            try:
                stages = list(zip(specs, pipeline, strict=True))
                self._run(stages, user, server or self.server, events)
            except LabTerminatingError as error:
                failure = error
        yield from events
        if failure is not None:
            raise failure

    def _resolve(self, call: CmdletCall, endpoint: EndpointName) -> CmdletSpec:
        spec = lookup(call.name, endpoint)
        if spec is None:
            raise LabTerminatingError(command_not_found(call.name))
        return spec

    def _run(
        self,
        stages: list[tuple[CmdletSpec, CmdletCall]],
        user: str,
        server: str,
        events: list[LabEvent],
    ) -> None:
        inputs: list[LabObject | None] = [None]
        for spec, call in stages:
            outputs: list[LabObject | None] = []
            for piped in inputs:
                self._invoke_one(
                    spec, call, piped, user, server=server, events=events, outputs=outputs
                )
            inputs = outputs
        events.extend(obj for obj in inputs if obj is not None)

    def _invoke_one(
        self,
        spec: CmdletSpec,
        call: CmdletCall,
        piped: LabObject | None,
        user: str,
        *,
        server: str,
        events: list[LabEvent],
        outputs: list[LabObject | None],
    ) -> None:
        # NOTE: every piped object is bound separately, including the named parameters, so a
        # binding error on pipeline input is terminating here although PowerShell writes it as a
        # non-terminating error and continues with the next object.
        bound = bind(spec, call.parameters, piped)
        ctx = CmdletContext(
            org=self.org, server=server, user=user, clock=self.clock, spec=spec, input=piped
        )
        try:
            returned = spec.function(ctx, **bound)
            if returned is not None:
                ctx.events.extend(returned)
        finally:
            # Whatever the cmdlet wrote before a terminating error still reaches the caller.
            for event in ctx.events:
                if isinstance(event, LabObject):
                    outputs.append(event)
                else:
                    events.append(event)


def command_not_found(name: str) -> LabErrorRecord:
    """Build PowerShell's record for a command name that no cmdlet on the endpoint has."""
    return LabErrorRecord(
        message=(
            f"The term '{name}' is not recognized as the name of a cmdlet, function, script "
            "file, or operable program. Check the spelling of the name, or if a path was "
            "included, verify that the path is correct and try again."
        ),
        fully_qualified_error_id="CommandNotFoundException",
        category="ObjectNotFound",
        reason="CommandNotFoundException",
        target=name,
        exception_type="System.Management.Automation.CommandNotFoundException",
        command=None,
    )
