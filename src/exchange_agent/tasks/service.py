"""The ``service`` task: restart, start or stop a Windows service on the Exchange server."""

from __future__ import annotations

import time
from typing import Literal

import structlog
from pydantic import Field
from tenacity import (
    RetryError,
    Retrying,
    retry_if_result,
    stop_after_delay,
    wait_random_exponential,
)

from exchange_agent.errors import TaskError
from exchange_agent.remote.command import Command, ParameterValue, Switch
from exchange_agent.remote.errors import CommandError, OperationTimeoutError
from exchange_agent.remote.session import Session
from exchange_agent.tasks import register
from exchange_agent.tasks.base import Change, Task, TaskArgs, TaskContext, TaskResult

log = structlog.get_logger(__name__)


class ServiceArgs(TaskArgs):
    """Arguments of :class:`ServiceTask`."""

    name: str = Field(min_length=1, description="Service name, such as MSExchangeTransport.")
    state: Literal["restarted", "started", "stopped"] = "restarted"
    timeout: float = Field(
        300.0, gt=0, le=3600, description="Seconds to wait for the service to settle."
    )
    force: bool = Field(False, description="Pass -Force: also stop services that depend on it.")


@register
class ServiceTask(Task[ServiceArgs]):
    """Restart, start or stop a service through the server's Windows endpoint.

    Exchange's remote PowerShell endpoint has no service cmdlets, so this task needs the host's
    ``windows`` endpoint (WinRM). After the command returns, the task polls ``Get-Service``
    until the service reaches its target status or ``timeout`` passes. Stopping transport can
    take minutes and writes "Waiting for service ..." warnings, which are recorded, not
    treated as failures. A restart is never sent twice by the task itself.

    Example:
        .. code-block:: yaml

            handlers:
              - name: restart frontend transport
                service: {name: MSExchangeFrontEndTransport, state: restarted, timeout: 300}
    """

    name = "service"
    args_model = ServiceArgs
    endpoints = ("windows",)

    def run(self, ctx: TaskContext) -> TaskResult:
        """Send the state change unless already there, then wait for the target status."""
        args = self.args
        session = ctx.session("windows")
        status = _status(session, args.name, ctx.host)
        target = "Stopped" if args.state == "stopped" else "Running"

        if args.state != "restarted" and status == target:
            return TaskResult("ok", f"{args.name} is already {status}")
        verb = {"restarted": "Restart", "started": "Start", "stopped": "Stop"}[args.state]
        parameters: dict[str, ParameterValue] = {"Name": args.name}
        if args.force:
            parameters["Force"] = Switch()
        command = Command(f"{verb}-Service", parameters)
        after = f"{target} (restarted)" if args.state == "restarted" else target
        change = Change(args.name, "Status", status, after)
        if ctx.check_mode:
            return TaskResult(
                "changed", f"would {verb.lower()} {args.name}", [change], [str(command)]
            )

        started = time.monotonic()
        warnings: list[str] = []
        try:
            result = session.invoke(command, timeout=args.timeout)
        except OperationTimeoutError:
            # The service may still settle: fall through to polling for the remaining time.
            log.warning(
                "service command timed out; polling status", host=ctx.host, service=args.name
            )
        else:
            warnings.extend(result.warnings)
            if not result.ok:
                # The service may have settled anyway; the status decides, the error explains.
                detail = f" ({result.errors[0].message})"
                final = _status(session, args.name, ctx.host)
                if final != target:
                    raise TaskError(
                        f"{args.name} is {final} after {verb}-Service failed{detail}; not "
                        "retried. Check the server's Application log."
                    )

        remaining = max(1.0, args.timeout - (time.monotonic() - started))
        final = _wait_for(session, args.name, target, remaining, ctx.host)
        elapsed = time.monotonic() - started
        if final != target:
            raise TaskError(
                f"{args.name} still {final} after {args.timeout:.0f} s; not retried. "
                "Check the server's Application log."
            )
        message = f"{args.name} {args.state} in {elapsed:.0f} s"
        return TaskResult("changed", message, [change], [str(command)], warnings)


def _status(session: Session, name: str, host: str) -> str:
    result = session.invoke(Command("Get-Service", {"Name": name}))
    if not result.ok:
        raise CommandError(result.errors, host=host, endpoint="windows")
    if not result.output:
        raise TaskError(f"service {name!r} not found")
    return str(result.output[0].get("Status"))


def _wait_for(session: Session, name: str, target: str, timeout: float, host: str) -> str:
    retrying = Retrying(
        retry=retry_if_result(lambda status: status != target),
        stop=stop_after_delay(timeout),
        wait=wait_random_exponential(multiplier=0.2, max=5),
        reraise=True,
    )
    try:
        status: str = retrying(_status, session, name, host)
    except RetryError as error:
        status = str(error.last_attempt.result())
    return status
