"""``exchange-agent advise relay``: how a device or application should send mail.

Register with the main group as ``cli.add_command(advise)``.
"""

from __future__ import annotations

import json
import sys

import click

from exchange_agent.output.exitcodes import ExitCode
from exchange_agent.relay.advisor import Advice, SenderFacts
from exchange_agent.relay.advisor import advise as advise_sender
from exchange_agent.spf import check_direct_send

__all__ = ["advise", "render_text"]

_QUESTIONS = {
    "port_fixed": "Is the sender's SMTP port fixed at 25 (no port setting)?",
    "can_authenticate": "Can the sender authenticate (has username and password settings)?",
    "external_recipients": "Must it reach recipients outside the organization's domains?",
}


_FLAGS = {
    "port_fixed": "--port-fixed or --port-changeable",
    "can_authenticate": "--can-authenticate or --cannot-authenticate",
    "external_recipients": "--external-recipients or --internal-only",
}


def _resolve(name: str, value: bool | None, interactive: bool) -> bool:
    if value is not None:
        return value
    if not interactive:
        raise click.UsageError(f"missing fact: give {_FLAGS[name]} (stdin is not a terminal)")
    return click.confirm(_QUESTIONS[name], err=True)


def render_text(advice: Advice) -> str:
    """Format advice for a terminal."""
    lines = [f"Method: {advice.method}", "", f"Why: {advice.why}"]
    if advice.alternatives:
        lines += ["", "Alternatives:", *(f"  - {item}" for item in advice.alternatives)]
    if advice.device_settings:
        settings = advice.device_settings.items()
        lines += ["", "Device settings:", *(f"  {k}: {v}" for k, v in settings)]
    if advice.playbook:
        lines += ["", f"Playbook: {advice.playbook}"]
    if advice.variables:
        lines += [
            "",
            "Playbook variables (as JSON, which keeps spaces and lists: "
            '-e \'{"name": "value", "list": ["a", "b"]}\'):',
            *(f"  {k}: {v}" for k, v in advice.variables.items()),
        ]
    if advice.caveats:
        lines += ["", "Caveats:", *(f"  - {item}" for item in advice.caveats)]
    return "\n".join(lines)


@click.group()
def advise() -> None:
    """Recommend a configuration from facts about what needs to be done."""


@advise.command("relay")
@click.option(
    "--port-fixed/--port-changeable",
    default=None,
    help="Whether the sender's SMTP port is fixed at 25.",
)
@click.option(
    "--can-authenticate/--cannot-authenticate",
    default=None,
    help="Whether the sender can log in with a username and password.",
)
@click.option(
    "--external-recipients/--internal-only",
    default=None,
    help="Whether the sender mails recipients outside the organization's accepted domains.",
)
@click.option(
    "--output",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format on stdout.",
)
@click.option(
    "--check-spf",
    "spf_domain",
    metavar="DOMAIN",
    help="Evaluate DOMAIN's SPF policy for each --device-address (for direct send).",
)
@click.option(
    "--device-address",
    "device_addresses",
    multiple=True,
    help="IPv4 or IPv6 address a device sends from; repeat for several.",
)
@click.option(
    "--nameserver",
    "nameservers",
    multiple=True,
    help="IP address of a DNS server to query for --check-spf; repeat for several.",
)
@click.option(
    "--dns-port",
    type=click.IntRange(1, 65535),
    default=53,
    show_default=True,
    help="UDP/TCP port of the nameservers.",
)
def relay(  # noqa: PLR0917  (click passes every option by name)
    port_fixed: bool | None,
    can_authenticate: bool | None,
    external_recipients: bool | None,
    output: str,
    spf_domain: str | None,
    device_addresses: tuple[str, ...],
    nameservers: tuple[str, ...],
    dns_port: int,
) -> None:
    """Recommend how a printer, scanner or application should send mail through Exchange.

    Facts not given as options are asked for, only when stdin is a terminal.
    """
    interactive = sys.stdin.isatty()
    given = {
        "port_fixed": port_fixed,
        "can_authenticate": can_authenticate,
        "external_recipients": external_recipients,
    }
    missing = [_FLAGS[name] for name, value in given.items() if value is None]
    if missing and not interactive:
        click.echo(
            f"Error: missing facts (stdin is not a terminal): give {'; '.join(missing)}",
            err=True,
        )
        sys.exit(ExitCode.INVALID_INPUT)
    facts = SenderFacts(
        port_fixed=_resolve("port_fixed", port_fixed, interactive),
        can_authenticate=_resolve("can_authenticate", can_authenticate, interactive),
        external_recipients=_resolve("external_recipients", external_recipients, interactive),
    )
    result = advise_sender(facts)
    spf_report = None
    spf_lines: list[str] = []
    if spf_domain:
        if not device_addresses or not nameservers:
            raise click.UsageError("--check-spf needs --device-address and --nameserver")
        try:
            spf_report, spf_lines = check_direct_send(
                spf_domain, list(device_addresses), list(nameservers), port=dns_port
            )
        except ValueError as error:
            raise click.BadParameter(str(error)) from None

    if output == "json":
        data = result.to_dict()
        if spf_report is not None:
            data["spf"] = spf_report.to_dict()
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(render_text(result))
        if spf_report is not None:
            click.echo("")
            if spf_report.passed:
                click.echo(f"SPF {spf_domain}: every device address passes")
            else:
                for line in spf_lines:
                    click.echo(f"SPF {line}")
                click.echo(f"SPF proposed record: {spf_report.proposed_record}")
    if spf_report is not None and not spf_report.passed:
        sys.exit(1)
