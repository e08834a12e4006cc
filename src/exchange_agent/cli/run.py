"""``exchange-agent run``: apply a playbook to an inventory."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from types import FrameType

import click
from rich.console import Console

from exchange_agent.cli.common import OUTPUT_OPTION, fail_config
from exchange_agent.config import parse_extra_vars
from exchange_agent.errors import ConfigError
from exchange_agent.output import configure_logging, exit_code, print_report
from exchange_agent.output.exitcodes import ExitCode
from exchange_agent.runner import RunOptions, RunRequest, run_playbook


def _split(values: tuple[str, ...]) -> frozenset[str]:
    return frozenset(tag.strip() for value in values for tag in value.split(",") if tag.strip())


def _sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@click.command()
@click.argument("playbook", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "-i",
    "--inventory",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    envvar="EXCHANGE_AGENT_INVENTORY",
    help="Inventory file.",
)
@click.option(
    "-l",
    "--limit",
    envvar="EXCHANGE_AGENT_LIMIT",
    help="Further limit hosts: names, groups, globs, !excluded.",
)
@click.option(
    "-C",
    "--check",
    is_flag=True,
    envvar="EXCHANGE_AGENT_CHECK",
    help="Report what would change; change nothing.",
)
@click.option(
    "-D",
    "--diff",
    is_flag=True,
    envvar="EXCHANGE_AGENT_DIFF",
    help="Show before and after of each changed property.",
)
@click.option(
    "-f",
    "--forks",
    type=click.IntRange(1, 64),
    default=5,
    show_default=True,
    envvar="EXCHANGE_AGENT_FORKS",
    help="Hosts run in parallel.",
)
@click.option(
    "-t",
    "--tags",
    multiple=True,
    envvar="EXCHANGE_AGENT_TAGS",
    help="Run only tasks with these tags (comma list).",
)
@click.option(
    "--skip-tags",
    multiple=True,
    envvar="EXCHANGE_AGENT_SKIP_TAGS",
    help="Skip tasks with these tags (comma list).",
)
@click.option(
    "-e",
    "--extra-vars",
    multiple=True,
    envvar="EXCHANGE_AGENT_EXTRA_VARS",
    help="Variables: name=value, @file.yml or a JSON object; highest precedence.",
)
@click.option("-v", "--verbose", count=True, help="More log detail on stderr (-v to -vvvv).")
@OUTPUT_OPTION
@click.option(
    "--log-format",
    type=click.Choice(["console", "json"]),
    envvar="EXCHANGE_AGENT_LOG_FORMAT",
    help="Log format on stderr (default: console on a terminal, else json).",
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    envvar="EXCHANGE_AGENT_DETAILED_EXITCODE",
    help="Exit 0 without changes, 2 with changes present or pending, 1 on error.",
)
@click.option(
    "--force-handlers",
    is_flag=True,
    envvar="EXCHANGE_AGENT_FORCE_HANDLERS",
    help="Run notified handlers even after a failure.",
)
@click.option(
    "--lab-transport",
    type=click.Choice(["wsman", "inprocess"]),
    envvar="EXCHANGE_AGENT_LAB_TRANSPORT",
    help="How lab hosts are reached (default: wsman when available).",
)
def run(  # noqa: PLR0917  (click passes every option positionally by name)
    playbook: Path,
    inventory: Path,
    limit: str | None,
    check: bool,
    diff: bool,
    forks: int,
    tags: tuple[str, ...],
    skip_tags: tuple[str, ...],
    extra_vars: tuple[str, ...],
    verbose: int,
    output_format: str,
    log_format: str | None,
    detailed_exitcode: bool,
    force_handlers: bool,
    lab_transport: str | None,
) -> None:
    """Run PLAYBOOK against the hosts of an inventory.

    Everything is validated before the first connection; invalid input exits with 5 and
    nothing applied. Exit codes: 0 success, 1 unexpected error, 2 a task failed, 4 a host
    unreachable, 5 invalid input, 130 interrupted.
    """
    configure_logging(verbose, log_format)  # type: ignore[arg-type]
    signal.signal(signal.SIGTERM, _sigterm)
    options = RunOptions(
        check=check, diff=diff, forks=forks, force_handlers=force_handlers, verbosity=verbose
    )
    try:
        request = RunRequest(
            playbook=playbook,
            inventory=inventory,
            limit=limit,
            extra_vars=parse_extra_vars(list(extra_vars)),
            tags=_split(tags),
            skip_tags=_split(skip_tags),
            lab_transport=lab_transport,  # type: ignore[arg-type]
        )
        report = run_playbook(request, options)
    except ConfigError as error:
        sys.exit(fail_config(error))
    except KeyboardInterrupt:
        click.echo("interrupted before the run started; nothing was applied", err=True)
        sys.exit(ExitCode.INTERRUPTED)
    except Exception as error:
        click.echo(f"unexpected error: {type(error).__name__}: {error}", err=True)
        if verbose >= 3:
            raise
        sys.exit(ExitCode.ERROR)

    if output_format == "json":
        click.echo(json.dumps(report.to_dict(), indent=2, default=str, ensure_ascii=False))
    else:
        print_report(report, Console(highlight=False, soft_wrap=True), diff=diff)
    sys.exit(exit_code(report, detailed=detailed_exitcode))
