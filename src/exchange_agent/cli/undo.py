"""``exchange-agent undo``: put back what a run's journal recorded."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from exchange_agent.cli.common import OUTPUT_OPTION, fail_config
from exchange_agent.errors import ConfigError
from exchange_agent.output import configure_logging
from exchange_agent.output.exitcodes import ExitCode
from exchange_agent.runner.undo import undo_journal


@click.command()
@click.argument("journal", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option(
    "-i",
    "--inventory",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="Inventory that names the journal's hosts.",
)
@click.option("-C", "--check", is_flag=True, help="Show the statements; send nothing.")
@click.option("-v", "--verbose", count=True, help="More log detail on stderr.")
@OUTPUT_OPTION
@click.option(
    "--lab-transport", type=click.Choice(["wsman", "inprocess"]), help="How lab hosts are reached."
)
def undo(  # noqa: PLR0917  (click passes every option positionally by name)
    journal: Path,
    inventory: Path,
    check: bool,
    verbose: int,
    output_format: str,
    lab_transport: str | None,
) -> None:
    """Replay JOURNAL's undo statements, newest first.

    Each entry restores absolute state, so undo may run twice, or after a run that stopped
    half-way (its incomplete last line is skipped).
    """
    configure_logging(verbose)
    try:
        outcome = undo_journal(journal, inventory, check=check, lab_transport=lab_transport)  # type: ignore[arg-type]
    except ConfigError as error:
        sys.exit(fail_config(error))
    for warning in outcome.warnings:
        click.echo(f"WARNING {warning}", err=True)
    if output_format == "json":
        report = {
            "journal": str(journal),
            "check_mode": check,
            "planned": outcome.planned,
            "restored": outcome.restored,
            "failed": outcome.failed,
            "lines": outcome.lines,
            "warnings": outcome.warnings,
        }
        click.echo(json.dumps(report, indent=2))
    else:
        for line in outcome.lines:
            click.echo(line)
        if check:
            click.echo(
                f"undo: {outcome.planned} statement(s) would be sent (check mode: nothing sent)"
            )
        else:
            click.echo(f"undo: {outcome.restored} restored, {outcome.failed} failed")
    sys.exit(ExitCode.TASK_FAILED if outcome.failed else ExitCode.OK)
