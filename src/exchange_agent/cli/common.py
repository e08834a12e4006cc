"""Helpers shared by commands: turning configuration errors into exit 5 with clear text."""

from __future__ import annotations

import sys

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
