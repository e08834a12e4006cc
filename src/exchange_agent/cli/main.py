"""The ``exchange-agent`` command group; each subcommand lives in its own module."""

from __future__ import annotations

import sys
from typing import Any

import click

from exchange_agent import __version__
from exchange_agent.cli.advise import advise
from exchange_agent.cli.lab import lab
from exchange_agent.cli.run import run
from exchange_agent.cli.undo import undo
from exchange_agent.output.exitcodes import ExitCode


class _Group(click.Group):
    """A command group whose usage errors exit with 5, the code for invalid options.

    click exits with 2 for usage errors, which this tool uses for a failed task.
    """

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except click.UsageError as error:
            error.show()
            sys.exit(ExitCode.INVALID_INPUT)
        except click.Abort:
            click.echo("interrupted", err=True)
            sys.exit(ExitCode.INTERRUPTED)
        except click.ClickException as error:
            error.show()
            sys.exit(error.exit_code)
        sys.exit(code if isinstance(code, int) else 0)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="exchange-agent")
def cli() -> None:
    """Manage on-premises Microsoft Exchange over PowerShell remoting, idempotently."""


cli.add_command(run)
cli.add_command(undo)
cli.add_command(lab)
cli.add_command(advise)


def main() -> None:
    """Run the CLI; options may also come from EXCHANGE_AGENT_* environment variables."""
    cli.main(auto_envvar_prefix="EXCHANGE_AGENT")
