"""``exchange-agent lab``: serve the simulated organization on loopback, sign its requests."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Literal, cast

import click
from cryptography import x509

from exchange_agent.cli.common import fail_config
from exchange_agent.errors import ConfigError
from exchange_agent.lab.ca import LabAuthority, chain_bytes, issue
from exchange_agent.lab.clock import Clock
from exchange_agent.lab.engine import LabEngine
from exchange_agent.lab.state import StateLock, default_state_file, open_lab, save, state_dir
from exchange_agent.runner.lab import lab_clock_speed, lab_credentials, server_available


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@click.group()
def lab() -> None:
    """Serve the embedded lab, a simulated Exchange organization."""


@lab.command("serve")
@click.option(
    "--seed",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Seed file of the organization (default: the built-in one).",
)
@click.option(
    "--state",
    type=click.Path(path_type=Path, dir_okay=False),
    help="State file loaded at start and saved at exit.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="TCP port on 127.0.0.1 (0 picks a free one).",
)
@click.option("--tls", is_flag=True, help="Serve HTTPS with a generated self-signed certificate.")
@click.option(
    "--auth",
    type=click.Choice(["basic", "ntlm", "kerberos"]),
    default="basic",
    show_default=True,
    help="Authentication the endpoints accept.",
)
@click.option(
    "--keytab",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Keytab with the HTTP/<fqdn> service keys, for --auth kerberos.",
)
def serve(  # noqa: PLR0917
    seed: Path | None, state: Path | None, port: int, tls: bool, auth: str, keytab: Path | None
) -> None:
    """Serve the lab's Exchange and Windows endpoints on 127.0.0.1 until Ctrl-C.

    Credentials come from EXCHANGE_AGENT_LAB_USER and EXCHANGE_AGENT_LAB_PASSWORD
    (defaults: lab-admin / lab-password). With --auth kerberos the KDC checks the
    password, KRB5_CONFIG names the realm, and clients reach the server by a name
    that has an HTTP/<fqdn> key in the keytab.
    """
    if auth == "kerberos" and keytab is None:
        raise click.UsageError("--auth kerberos needs --keytab")
    if not server_available():
        click.echo("the lab's WinRM server is not part of this installation", err=True)
        sys.exit(1)
    state_file = state or default_state_file()
    lock = StateLock(state_file, owner="exchange-agent lab serve")
    try:
        lock.acquire()
    except ConfigError as error:
        sys.exit(fail_config(error))
    try:
        _serve(seed, state_file, port, tls, auth, keytab)
    finally:
        lock.release()


def _serve(  # noqa: PLR0917
    seed: Path | None, state_file: Path, port: int, tls: bool, auth: str, keytab: Path | None
) -> None:
    from exchange_agent.lab.server import LabServer  # noqa: PLC0415

    org = open_lab(seed, state_file)
    user, password = lab_credentials()
    try:
        server = LabServer(
            LabEngine(org, clock=Clock(speed=lab_clock_speed())),
            port=port,
            tls=tls,
            auth=cast(Literal["basic", "ntlm", "kerberos"], auth),
            users={user: password},
            keytab=keytab,
        )
    except ValueError as error:
        raise click.UsageError(str(error)) from error
    server.start()
    click.echo(f"Exchange endpoint: {server.exchange_url} (configuration Microsoft.Exchange)")
    click.echo(f"Windows endpoint:  {server.windows_url} (configuration Microsoft.PowerShell)")
    click.echo(
        "user: $EXCHANGE_AGENT_LAB_USER, password: $EXCHANGE_AGENT_LAB_PASSWORD "
        f"(defaults {user} / ****)"
    )
    if tls and getattr(server, "certificate_path", None):
        click.echo(f"certificate: {server.certificate_path}")
    click.echo(f"state: {state_file}; Ctrl-C stops the lab and saves it")
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        save(org, state_file)


@lab.command("sign")
@click.argument("request", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option(
    "-o",
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="File for the issued certificate and the CA: PKCS #7 for .p7b, else PEM.",
)
@click.option("--days", type=click.IntRange(1, 3650), default=365, show_default=True)
def sign(request: Path, out: Path, days: int) -> None:
    """Issue a certificate for REQUEST, as a CA would, with the lab's own test CA.

    The CA's key and certificate are kept in the lab state directory. Only lab servers should
    trust them: this is for trying certificate-install.yml against the lab.
    """
    try:
        authority = LabAuthority(state_dir())
        chain = issue(authority, request.read_bytes(), days)
    except ConfigError as error:
        sys.exit(fail_config(ConfigError(f"{request}: {error}")))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(chain_bytes(chain, out))
    try:
        names = chain[0].extensions.get_extension_for_class(x509.SubjectAlternativeName)
        listed = ", ".join(names.value.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        listed = chain[0].subject.rfc4514_string()
    click.echo(
        f"{out}: certificate for {listed}, valid {days} days, from {authority.certificate_path}"
    )
