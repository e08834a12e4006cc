"""One call from the CLI to a finished run: load, validate, connect, run, persist."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exchange_agent.config import HostConfig, Inventory, load_inventory, load_playbook
from exchange_agent.errors import ConfigError, ConfigErrors
from exchange_agent.journal import Journal
from exchange_agent.lab.state import state_dir
from exchange_agent.remote.connections import HostConnections
from exchange_agent.remote.session import EndpointKind
from exchange_agent.remote.settings import EndpointSettings
from exchange_agent.runner.lab import (
    EmbeddedLab,
    LabTransport,
    host_connections,
    server_available,
)
from exchange_agent.runner.pending import PendingHandlers
from exchange_agent.runner.prepare import HostPlan, prepare
from exchange_agent.runner.results import RunReport
from exchange_agent.runner.run import Runner, RunOptions
from exchange_agent.tasks import registry


@dataclass
class RunRequest:
    """Everything ``exchange-agent run`` was asked to do."""

    playbook: Path
    inventory: Path
    limit: str | None = None
    extra_vars: dict[str, Any] | None = None
    tags: frozenset[str] = frozenset()
    skip_tags: frozenset[str] = frozenset()
    lab_transport: LabTransport | None = None


def run_playbook(request: RunRequest, options: RunOptions) -> RunReport:
    """Validate everything, then run it.

    Raises:
        ConfigError: The inventory, playbook, variables or secrets are invalid; nothing ran.
    """
    inventory = load_inventory(request.inventory)
    playbook = load_playbook(request.playbook, known_actions=sorted(registry()))
    plans = prepare(
        inventory,
        playbook,
        limit=request.limit,
        extra_vars=request.extra_vars or {},
        tags=request.tags,
        skip_tags=request.skip_tags,
    )
    settings = _resolve_settings(plans)
    transport = request.lab_transport or ("wsman" if server_available() else "inprocess")
    lab_hosts = [plan.host for plan in plans.values() if plan.host.lab is not None]
    lab = EmbeddedLab(lab_hosts, transport) if lab_hosts else None

    directory = state_dir()
    journal = (
        None
        if options.check
        else Journal(directory / "journals" / f"{options.run_id}.jsonl", options.run_id)
    )
    pending = PendingHandlers(directory, inventory.path)

    def connect(host: HostConfig) -> HostConnections:
        return host_connections(host, lab, settings[host.name])

    if lab is not None:
        lab.start()
    try:
        report = Runner(plans, options, connect, journal, pending).run()
    finally:
        if lab is not None:
            lab.stop()
    report.warnings[:0] = inventory.warnings
    report.inventory = str(request.inventory)
    return report


def _resolve_settings(
    plans: dict[str, HostPlan],
) -> dict[str, dict[EndpointKind, EndpointSettings]]:
    """Read every secret the run needs and build endpoint settings, before connecting."""
    errors: list[ConfigError] = []
    result: dict[str, dict[EndpointKind, EndpointSettings]] = {}
    for name, plan in plans.items():
        host = plan.host
        result[name] = {}
        if host.lab is not None:
            continue
        kinds = _endpoints_used(plan)
        for kind in kinds:
            endpoint = host.endpoint(kind)
            if endpoint is None:
                continue
            try:
                password = endpoint.resolve_password()
                result[name][kind] = endpoint.to_settings(password)
            except ConfigError as error:
                errors.append(ConfigError(f"{name}.{kind}: {error.message}", endpoint.location))
            except ValueError as error:
                errors.append(ConfigError(f"{name}.{kind}: {error}", endpoint.location))
    if errors:
        raise ConfigErrors(errors)
    return result


def _endpoints_used(plan: HostPlan) -> list[EndpointKind]:
    used: list[EndpointKind] = []
    for prepared in [*plan.tasks, *plan.handlers.values()]:
        for kind in prepared.task.endpoints:
            if kind not in used:
                used.append(kind)
    return used


def inventory_hosts(inventory: Inventory) -> list[str]:
    """Return the inventory's host names in file order."""
    return list(inventory.hosts)
