"""The ``exchange-agent`` command group; each subcommand lives in its own module."""

from __future__ import annotations

import sys

import click

from exchange_agent import __version__
from exchange_agent.cli.advise import advise
from exchange_agent.cli.lab import lab
from exchange_agent.cli.run import run
from exchange_agent.cli.undo import undo


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="exchange-agent")
def cli() -> None:
    """Manage on-premises Microsoft Exchange over PowerShell remoting, idempotently."""


cli.add_command(run)
cli.add_command(undo)
cli.add_command(lab)
cli.add_command(advise)


def main() -> None:
    """Run the CLI; options may also come from EXCHANGE_AGENT_* environment variables."""
    sys.exit(cli.main(auto_envvar_prefix="EXCHANGE_AGENT", standalone_mode=True))
