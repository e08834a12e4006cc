"""Run results: one record per task and host, and the per-host tally."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from exchange_agent.tasks.base import Change

HostStatus = Literal["ok", "changed", "failed", "skipped", "unreachable"]
STATUSES: tuple[HostStatus, ...] = ("ok", "changed", "failed", "skipped", "unreachable")


@dataclass
class TaskRecord:
    """The outcome of one task (or handler) on one host."""

    host: str
    task: str
    action: str
    status: HostStatus
    message: str = ""
    changes: list[Change] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    handler: bool = False
    location: str = ""
    duration_ms: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Return the record as JSON-ready data."""
        return {
            "host": self.host,
            "task": self.task,
            "action": self.action,
            "handler": self.handler,
            "status": self.status,
            "message": self.message,
            "changes": [
                {
                    "target": change.target,
                    "property": change.property,
                    "before": change.before,
                    "after": change.after,
                }
                for change in self.changes
            ],
            "commands": self.commands,
            "warnings": self.warnings,
            "data": self.data,
            "location": self.location,
            "duration_ms": self.duration_ms,
        }


@dataclass
class RunReport:
    """Everything a run did, for the console, JSON output and the exit code."""

    run_id: str
    check_mode: bool
    hosts: list[str]
    records: list[TaskRecord] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    journal: str | None = None
    inventory: str | None = None
    interrupted: bool = False
    unreachable: set[str] = field(default_factory=set)

    def stats(self) -> dict[str, dict[str, int]]:
        """Return per-host counts of each status."""
        table: dict[str, dict[str, int]] = {host: dict.fromkeys(STATUSES, 0) for host in self.hosts}
        for record in self.records:
            table.setdefault(record.host, dict.fromkeys(STATUSES, 0))[record.status] += 1
        return table

    @property
    def failed(self) -> bool:
        """True when any task failed."""
        return any(record.status == "failed" for record in self.records)

    @property
    def changed(self) -> bool:
        """True when any task changed something or would in check mode."""
        return any(record.status == "changed" for record in self.records)

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready data."""
        return {
            "run_id": self.run_id,
            "check_mode": self.check_mode,
            "interrupted": self.interrupted,
            "stats": self.stats(),
            "tasks": [record.to_dict() for record in self.records],
            "warnings": self.warnings,
            "journal": self.journal,
        }
