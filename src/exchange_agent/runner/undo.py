"""Replay a journal's undo statements against the hosts it names."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from exchange_agent.config import load_inventory
from exchange_agent.errors import ConfigError
from exchange_agent.journal import JournalEntry, iter_reversed, read_journal
from exchange_agent.remote.connections import HostConnections
from exchange_agent.remote.errors import RemoteError
from exchange_agent.runner.lab import (
    EmbeddedLab,
    LabTransport,
    host_connections,
    server_available,
)


@dataclass
class UndoOutcome:
    """Counts and per-entry lines of an undo."""

    restored: int = 0
    planned: int = 0
    failed: int = 0
    lines: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def undo_journal(
    path: Path, inventory_path: Path, *, check: bool, lab_transport: LabTransport | None = None
) -> UndoOutcome:
    """Replay every entry of the journal at ``path``, newest first.

    Raises:
        ConfigError: The journal or inventory is invalid, or names an unknown host.
    """
    entries, warnings = read_journal(path)
    inventory = load_inventory(inventory_path)
    outcome = UndoOutcome(warnings=warnings)
    unknown = sorted({entry.host for entry in entries} - set(inventory.hosts))
    if unknown:
        raise ConfigError(
            f"journal {path} names hosts not in {inventory_path}: {', '.join(unknown)}"
        )

    hosts = [inventory.hosts[name] for name in dict.fromkeys(entry.host for entry in entries)]
    lab_hosts = [host for host in hosts if host.lab is not None]
    transport = lab_transport or ("wsman" if server_available() else "inprocess")
    lab = EmbeddedLab(lab_hosts, transport) if lab_hosts else None
    if lab is not None and not check:
        lab.start()
    connections: dict[str, HostConnections] = {}
    try:
        for entry in iter_reversed(entries):
            for statement in entry.undo:
                prefix = f"{entry.host} {entry.task} {entry.target}"
                if check:
                    outcome.planned += 1
                    outcome.lines.append(f"would run on {prefix}: {statement}")
                    continue
                host = inventory.hosts[entry.host]
                if entry.host not in connections:
                    connections[entry.host] = host_connections(host, lab)
                session = connections[entry.host].get(entry.endpoint)  # type: ignore[arg-type]
                try:
                    result = session.invoke(statement)
                except RemoteError as error:
                    outcome.failed += 1
                    outcome.lines.append(f"failed on {prefix}: {error}")
                    continue
                outcome.warnings += [f"{prefix}: {warning}" for warning in result.warnings]
                if result.ok:
                    outcome.restored += 1
                    outcome.lines.append(f"restored {prefix}")
                else:
                    outcome.failed += 1
                    outcome.lines.append(f"failed on {prefix}: {result.errors[0].message}")
    finally:
        for item in connections.values():
            item.close_all()
        if lab is not None and not check:
            lab.stop()
    outcome.warnings += _restart_reminders(entries, check=check)
    return outcome


# Tasks whose changes the playbooks follow with a transport restart.
_CONNECTOR_TASKS = frozenset({"receive_connector", "relay_connector"})


def _restart_reminders(entries: list[JournalEntry], *, check: bool) -> list[str]:
    """Return one reminder per host whose receive connectors undo restores (or would)."""
    hosts = dict.fromkeys(entry.host for entry in entries if entry.task in _CONNECTOR_TASKS)
    verb = "would restore" if check else "restored"
    return [
        f"undo {verb} receive connector settings on {host}; restart the transport service "
        "that runs them (MSExchangeFrontEndTransport, or MSExchangeTransport on Exchange 2010) "
        "as the playbook's handler did, so that Exchange applies them"
        for host in hosts
    ]
