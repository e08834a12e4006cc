"""Build error records shaped like the ones Exchange's management cmdlets write.

Exchange's management cmdlets prefix the error id with the server, request and time, and name the
failing exception as ``FailureCategory=Cmdlet-<Exception>``, in this form::

    [Server=EX01,RequestId=5b0e...,TimeStamp=12/4/2026 1:02:03 PM]
    [FailureCategory=Cmdlet-ManagementObjectNotFoundException] 8D2D6DAC,
    Microsoft.Exchange.Management.RecipientTasks.GetMailbox

(one line on the wire). Callers match on the failure category, so every helper here sets it.
"""

from __future__ import annotations

import uuid
import zlib

from exchange_agent.lab.cmdlets.registry import CmdletContext
from exchange_agent.lab.contract import LabErrorRecord

__all__ = [
    "ambiguous",
    "duplicate",
    "exchange_error",
    "invalid_parameter",
    "not_found",
    "rejected",
]


def exchange_error(
    ctx: CmdletContext,
    message: str,
    exception: str,
    *,
    category: str = "NotSpecified",
    target: str | None = None,
    exception_namespace: str = "Microsoft.Exchange.Configuration.Tasks",
) -> LabErrorRecord:
    """Build an Exchange error record for the running cmdlet.

    Args:
        ctx: Context of the running cmdlet; supplies server, clock and cmdlet class.
        message: The error message.
        exception: Short exception class name, such as ``ManagementObjectNotFoundException``.
        category: PowerShell error category name.
        target: The target object, usually the identity the caller gave.
        exception_namespace: Namespace of the exception class, for the full type name.
    """
    stamp = ctx.clock.now()
    hour = stamp.hour % 12 or 12
    timestamp = (
        f"{stamp.month}/{stamp.day}/{stamp.year} {hour}:{stamp.minute:02d}:{stamp.second:02d} "
        f"{'PM' if stamp.hour >= 12 else 'AM'}"
    )
    # The 8-digit hex before the class name identifies the call site that threw. A hash of the
    # cmdlet and exception keeps the id of the same failure stable across runs.
    site = zlib.crc32(f"{ctx.spec.name}/{exception}".encode()) & 0xFFFFFFFF
    fqid = (
        f"[Server={ctx.server},RequestId={uuid.uuid4()},TimeStamp={timestamp}] "
        f"[FailureCategory=Cmdlet-{exception}] {site:08X},{ctx.spec.task_id}"
    )
    return LabErrorRecord(
        message=message,
        fully_qualified_error_id=fqid,
        category=category,
        reason=exception,
        target=target,
        exception_type=f"{exception_namespace}.{exception}",
        command=ctx.spec.name,
    )


def not_found(ctx: CmdletContext, identity: str) -> LabErrorRecord:
    """Build the record for an identity that matches no object."""
    return exchange_error(
        ctx,
        f"The operation couldn't be performed because object '{identity}' couldn't be found on "
        f"'{ctx.org.domain_controller}'.",
        "ManagementObjectNotFoundException",
        target=identity,
    )


def ambiguous(ctx: CmdletContext, identity: str) -> LabErrorRecord:
    """Build the record for an identity that matches several objects."""
    return exchange_error(
        ctx,
        f"The operation couldn't be performed because '{identity}' matches multiple entries.",
        "ManagementObjectAmbiguousException",
        target=identity,
    )


def invalid_parameter(ctx: CmdletContext, message: str, target: str | None) -> LabErrorRecord:
    """Build the record for parameter values Exchange's validation rejects."""
    return exchange_error(
        ctx,
        message,
        "DataValidationException",
        category="InvalidArgument",
        target=target,
        exception_namespace="Microsoft.Exchange.Data",
    )


def duplicate(ctx: CmdletContext, name: str, where: str) -> LabErrorRecord:
    """Build the record for creating an object whose name already exists in ``where``."""
    return exchange_error(
        ctx,
        f"Active Directory operation failed on {ctx.org.domain_controller}. The object "
        f"'{where}' already exists.",
        "ADObjectAlreadyExistsException",
        category="NotSpecified",
        target=name,
        exception_namespace="Microsoft.Exchange.Data.Directory",
    )


def rejected(ctx: CmdletContext, message: str, target: str | None) -> LabErrorRecord:
    """Build the record for an operation Exchange rejects in the object's current state."""
    return exchange_error(
        ctx,
        message,
        "InvalidOperationException",
        category="InvalidOperation",
        target=target,
        exception_namespace="System",
    )
