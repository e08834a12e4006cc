"""The human-readable report: one line per task, diffs on request, a recap per host."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from exchange_agent.runner.results import STATUSES, RunReport, TaskRecord

_STYLES = {
    "ok": "green",
    "changed": "yellow",
    "failed": "bold red",
    "skipped": "cyan",
    "unreachable": "bold magenta",
}


def print_report(report: RunReport, console: Console, *, diff: bool) -> None:
    """Print every task record, the warnings and the recap table."""
    for warning in report.warnings:
        console.print(f"[bold yellow]WARNING[/] {escape(warning)}")
    for record in report.records:
        _print_record(record, console, diff=diff, check=report.check_mode)
    if report.journal:
        inventory = report.inventory or "INVENTORY"
        console.print(f"journal: {escape(report.journal)}")
        console.print(
            f"  undo with: exchange-agent undo {escape(report.journal)} -i {escape(inventory)}"
        )
    if report.interrupted:
        console.print("[bold red]interrupted[/]: no new tasks were started; sessions are closed")
    console.print(_recap(report))


def _print_record(record: TaskRecord, console: Console, *, diff: bool, check: bool) -> None:
    style = _STYLES[record.status]
    kind = "HANDLER" if record.handler else "TASK"
    label: str = record.status
    if check and record.status == "changed":
        label = "changed (check mode: nothing was sent)"
    line = f"[{style}]{label}[/]: [bold]{escape(record.host)}[/] {kind} {escape(record.task)}"
    if record.message:
        line += f" - {escape(record.message)}"
    console.print(line)
    for warning, count in _counted(record.warnings):
        repeat = f" (x{count})" if count > 1 else ""
        console.print(f"    [yellow]warning:[/] {escape(warning)}{repeat}")
    if record.status == "changed" and (diff or check):
        for command in record.commands:
            console.print(f"    [dim]{'would run' if check else 'ran'}:[/] {escape(command)}")
    if diff:
        for change in record.changes:
            console.print(f"    [bold]{escape(change.target)}[/] {escape(change.property)}")
            console.print(f"      [red]- {escape(_show(change.before))}[/]")
            console.print(f"      [green]+ {escape(_show(change.after))}[/]")


def _counted(warnings: list[str]) -> list[tuple[str, int]]:
    """Collapse repeated warnings (a service stop repeats "Waiting for service ...")."""
    counts: dict[str, int] = {}
    for warning in warnings:
        counts[warning] = counts.get(warning, 0) + 1
    return list(counts.items())


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(str(item) for item in value) or "(empty)"
    if isinstance(value, dict):
        return json.dumps(value, default=str)
    return str(value)


def _recap(report: RunReport) -> Table:
    table = Table(title="recap", title_justify="left", show_edge=False)
    table.add_column("host")
    for status in STATUSES:
        table.add_column(status, justify="right")
    for host, counts in report.stats().items():
        table.add_row(host, *(str(counts[status]) for status in STATUSES))
    return table
