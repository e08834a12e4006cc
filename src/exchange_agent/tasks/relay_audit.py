"""The ``relay_audit`` task: find receive connectors that relay for too many senders."""

from __future__ import annotations

import ipaddress
from typing import Any

from pydantic import Field, field_validator

from exchange_agent.errors import ConfigErrors, TaskError
from exchange_agent.relay.guards import RangePolicy, check_relay_ranges
from exchange_agent.relay.overlap import ConnectorView, find_role_conflicts
from exchange_agent.remote.result import ExObject
from exchange_agent.tasks import register
from exchange_agent.tasks.base import Status, Task, TaskArgs, TaskContext, TaskResult
from exchange_agent.tasks.exchange import parse_flags
from exchange_agent.tasks.relay_connector import (
    ACCEPT_ANY_RECIPIENT,
    anonymous_relay_rights,
    connector_view,
    list_connectors,
)


class RelayAuditArgs(TaskArgs):
    """Arguments of :class:`RelayAuditTask`."""

    servers: list[str] | None = Field(
        None, description="Servers to audit; default: the host's exchange_server variable."
    )
    snat_addresses: list[str] = Field(
        default_factory=list,
        description="Inside addresses a load balancer source-NATs internet SMTP to.",
    )
    allow_public_ranges: bool = False
    allow_broad_ranges: bool = False
    max_prefix: int = 24
    max_prefix_v6: int = 64
    fail_on_drift: bool = Field(True, description="Fail the task when an error is found.")

    @field_validator("snat_addresses")
    @classmethod
    def _check_addresses(cls, values: list[str]) -> list[str]:
        for value in values:
            ipaddress.ip_address(value)
        return values

    def policy(self) -> RangePolicy:
        """The range limits a relay connector is held to."""
        return RangePolicy(
            self.allow_public_ranges, self.allow_broad_ranges, self.max_prefix, self.max_prefix_v6
        )


def _relay_reason(connector: ExObject, rights: set[str]) -> str | None:
    if ACCEPT_ANY_RECIPIENT.casefold() in rights:
        return f"ANONYMOUS LOGON has {ACCEPT_ANY_RECIPIENT}"
    if "ExternalAuthoritative" in parse_flags(connector.get("AuthMechanism")):
        return "AuthMechanism includes ExternalAuthoritative"
    return None


@register
class RelayAuditTask(Task[RelayAuditArgs]):
    """Report connectors that relay for broad or public ranges, and transport-role conflicts.

    A connector relays when ``NT AUTHORITY\\ANONYMOUS LOGON`` has
    ``ms-Exch-SMTP-Accept-Any-Recipient`` on it or its authentication includes
    ``ExternalAuthoritative``. Its ranges are held to the same limits as ``relay_connector``.
    A load balancer's source-NAT address inside a relay range, and two connectors of different
    transport roles on one binding, are errors too. Connectors of the same name whose ranges
    differ between servers are reported as warnings. Changes nothing.

    Example:
        .. code-block:: yaml

            - name: No open relay
              relay_audit:
                servers: [EX01, EX02]
                snat_addresses: [10.0.5.10]
    """

    name = "relay_audit"
    args_model = RelayAuditArgs
    endpoints = ("exchange",)

    def run(self, ctx: TaskContext) -> TaskResult:
        """List each server's connectors and permissions and check them."""
        args = self.args
        servers = args.servers or [str(ctx.vars.get("exchange_server") or "")]
        if not all(servers):
            raise TaskError("no server named: set servers or exchange_server for the host")
        errors: list[str] = []
        views: list[ConnectorView] = []
        relays: list[dict[str, Any]] = []
        for server in servers:
            connectors = list_connectors(ctx, server)
            server_views = [connector_view(c) for c in connectors]
            views.extend(server_views)
            errors.extend(c.message() for c in find_role_conflicts(server_views))
            for connector, view in zip(connectors, server_views, strict=True):
                rights = anonymous_relay_rights(ctx, view.identity)
                reason = _relay_reason(connector, rights)
                if reason is None:
                    continue
                relays.append({"identity": view.identity, "reason": reason})
                errors.extend(self._check_relay(view, reason))
        warnings = _drift(views)
        data = {"relay_connectors": relays, "errors": errors}
        if not errors:
            return TaskResult(
                "ok", f"{len(relays)} relay connector(s), none too broad", [], [], warnings, data
            )
        status: Status = "failed" if args.fail_on_drift else "ok"
        return TaskResult(status, "; ".join(errors), [], [], warnings, data)

    def _check_relay(self, view: ConnectorView, reason: str) -> list[str]:
        found: list[str] = []
        try:
            check_relay_ranges(view.ranges.texts(), self.args.policy())
        except ConfigErrors as problems:
            found.extend(f"{view.identity} relays ({reason}): {e.message}" for e in problems.errors)
        for address in self.args.snat_addresses:
            if address in view.ranges:
                found.append(
                    f"{address} (load balancer source NAT) is inside {view.identity}: internet "
                    "mail through the load balancer is treated as a relay device."
                )
        return found


def _drift(views: list[ConnectorView]) -> list[str]:
    by_name: dict[str, list[ConnectorView]] = {}
    for view in views:
        by_name.setdefault(view.name.casefold(), []).append(view)
    warnings = []
    for group in by_name.values():
        first = group[0]
        for other in group[1:]:
            if other.server.casefold() != first.server.casefold() and other.ranges != first.ranges:
                warnings.append(
                    f"{first.identity} and {other.identity} have different remote ranges: "
                    f"only on {first.server}: {(first.ranges - other.ranges).describe()}; "
                    f"only on {other.server}: {(other.ranges - first.ranges).describe()}"
                )
    return warnings
