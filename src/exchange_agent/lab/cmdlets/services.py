"""Windows service cmdlets of the Windows PowerShell endpoint, with simulated timing.

``Stop-Service``, ``Start-Service`` and ``Restart-Service`` wait for the new status in
two-second steps, for as long as the service stays pending. After each step that ends with the
service still pending they write "Waiting for service '<display name> (<name>)' to stop..."
(or "to start..."), as ``ServiceOperationBaseCommand.DoWaitForStatus`` in PowerShell's
``Service.cs`` does. The lab takes ``stop_seconds`` / ``start_seconds`` of simulated time from
the clock, so a fast clock makes a 95-second stop take milliseconds with the same warnings.
"""

from __future__ import annotations

import fnmatch
from typing import Any

from exchange_agent.lab.cmdlets.registry import CmdletContext, Param, cmdlet
from exchange_agent.lab.contract import LabErrorRecord, LabObject
from exchange_agent.lab.org import WindowsService

__all__ = ["HANG_LIMIT_SECONDS", "WAIT_STEP_SECONDS", "render_service"]

WAIT_STEP_SECONDS = 2.0
# NOTE: Start-Service waits for ever on a service stuck in StartPending. The lab gives up after
# this many simulated seconds with a StartServiceFailed error, because the engine holds the
# organization lock for the whole statement.
HANG_LIMIT_SECONDS = 600.0

_TYPE_NAMES = (
    "System.ServiceProcess.ServiceController",
    "System.ComponentModel.Component",
    "System.MarshalByRefObject",
    "System.Object",
)


def render_service(service: WindowsService) -> LabObject:
    """Render a service as ``Get-Service`` outputs a ServiceController."""
    return LabObject(
        type_names=_TYPE_NAMES,
        to_string="System.ServiceProcess.ServiceController",
        properties={
            "Name": service.name,
            "CanPauseAndContinue": False,
            "CanShutdown": service.status == "Running",
            "CanStop": service.status == "Running",
            "DisplayName": service.display_name,
            "MachineName": ".",
            "ServiceName": service.name,
            "Status": service.status,
            "ServiceType": "Win32OwnProcess",
            "StartType": service.start_type,
        },
    )


def _task_id(ctx: CmdletContext) -> str:
    return ctx.spec.task_id


def _service_error(
    ctx: CmdletContext, error_id: str, message: str, target: str, category: str
) -> LabErrorRecord:
    return LabErrorRecord(
        message=message,
        fully_qualified_error_id=f"{error_id},{_task_id(ctx)}",
        category=category,
        reason="ServiceCommandException",
        target=target,
        exception_type="Microsoft.PowerShell.Commands.ServiceCommandException",
        command=ctx.spec.name,
    )


def _select(ctx: CmdletContext, names: list[str] | None) -> list[WindowsService]:
    """Return services matching ``names`` (wildcards allowed), writing not-found errors."""
    services = ctx.org.services.get(ctx.server, [])
    if names is None:
        return sorted(services, key=lambda s: s.name.casefold())
    selected: list[WindowsService] = []
    for name in names:
        matched = [s for s in services if fnmatch.fnmatchcase(s.name.casefold(), name.casefold())]
        if not matched and not any(ch in name for ch in "*?["):
            ctx.error(
                _service_error(
                    ctx,
                    "NoServiceFoundForGivenName",
                    f"Cannot find any service with service name '{name}'.",
                    name,
                    "ObjectNotFound",
                )
            )
        selected.extend(s for s in matched if s not in selected)
    return selected


def _wait(ctx: CmdletContext, service: WindowsService, seconds: float, verb: str) -> None:
    remaining = seconds
    while remaining > WAIT_STEP_SECONDS:
        ctx.clock.sleep(WAIT_STEP_SECONDS)
        remaining -= WAIT_STEP_SECONDS
        ctx.warn(f"Waiting for service '{service.display_name} ({service.name})' to {verb}...")
    ctx.clock.sleep(remaining)


def _stop(ctx: CmdletContext, service: WindowsService) -> None:
    # TODO: dependent services are not modelled, so Stop-Service never writes
    # ServiceHasDependentServices and -Force changes nothing.
    if service.status == "Stopped":
        return
    service.status = "StopPending"
    _wait(ctx, service, service.stop_seconds, "stop")
    service.status = "Stopped"


def _start(ctx: CmdletContext, service: WindowsService) -> bool:
    if service.status == "Running":
        return True
    if service.start_type == "Disabled":
        ctx.error(
            _service_error(
                ctx,
                "CouldNotStartService",
                f"Service '{service.display_name} ({service.name})' cannot be started due to the "
                "following error: Cannot start service "
                f"{service.name} on computer '.'.",
                service.name,
                "OpenError",
            )
        )
        return False
    service.status = "StartPending"
    if service.hang:
        _wait(ctx, service, HANG_LIMIT_SECONDS, "start")
        ctx.error(
            _service_error(
                ctx,
                "StartServiceFailed",
                f"Service '{service.display_name} ({service.name})' start failed.",
                service.name,
                "OpenError",
            )
        )
        return False
    _wait(ctx, service, service.start_seconds, "start")
    service.status = "Running"
    return True


_NAME = Param(
    "Name",
    "string[]",
    position=0,
    pipeline_by_property="Name",
    aliases=("ServiceName",),
)
_CHANGE_PARAMS = [
    Param(
        "Name",
        "string[]",
        mandatory=True,
        position=0,
        pipeline_by_property="Name",
        aliases=("ServiceName",),
    ),
    Param("Force", "switch"),
    Param("PassThru", "switch"),
    Param("WhatIf", "switch"),
    Param("Confirm", "switch"),
]


@cmdlet("Get-Service", endpoint="windows", params=[_NAME, Param("ComputerName", "string[]")])
def get_service(ctx: CmdletContext, **bound: Any) -> None:
    """List the services of the session's server, or those ``-Name`` matches."""
    for service in _select(ctx, bound.get("Name")):
        ctx.output(render_service(service))


@cmdlet("Stop-Service", endpoint="windows", params=_CHANGE_PARAMS)
def stop_service(ctx: CmdletContext, **bound: Any) -> None:
    """Stop services, taking each one's ``stop_seconds`` of simulated time."""
    for service in _select(ctx, bound["Name"]):
        if bound.get("WhatIf"):
            continue
        _stop(ctx, service)
        if bound.get("PassThru"):
            ctx.output(render_service(service))


@cmdlet("Start-Service", endpoint="windows", params=_CHANGE_PARAMS)
def start_service(ctx: CmdletContext, **bound: Any) -> None:
    """Start services, taking each one's ``start_seconds`` of simulated time."""
    for service in _select(ctx, bound["Name"]):
        if bound.get("WhatIf"):
            continue
        _start(ctx, service)
        if bound.get("PassThru"):
            ctx.output(render_service(service))


@cmdlet("Restart-Service", endpoint="windows", params=_CHANGE_PARAMS)
def restart_service(ctx: CmdletContext, **bound: Any) -> None:
    """Stop then start services; a stopped service is only started, as PowerShell does."""
    for service in _select(ctx, bound["Name"]):
        if bound.get("WhatIf"):
            continue
        _stop(ctx, service)
        _start(ctx, service)
        if bound.get("PassThru"):
            ctx.output(render_service(service))
