"""Helpers shared by commands: configuration errors as exit 5, and the --output option."""

from __future__ import annotations

import sys

import click
from rich.console import Console
from rich.markup import escape

from exchange_agent.errors import ConfigError, ConfigErrors
from exchange_agent.output.exitcodes import ExitCode


def fail_config(error: ConfigError) -> int:
    """Print every configuration error on stderr and return the invalid-input exit code."""
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    errors = error.errors if isinstance(error, ConfigErrors) else [error]
    for item in errors:
        console.print(f"[bold red]ERROR[/] {escape(str(item))}")
    console.print("nothing was applied", style="dim")
    sys.stderr.flush()
    return ExitCode.INVALID_INPUT


#: The report format of ``run`` and ``undo``: text for people, JSON for runbook platforms.
OUTPUT_OPTION = click.option(
    "--output",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    envvar="EXCHANGE_AGENT_OUTPUT",
    help="Report format on stdout.",
)
