"""A throwaway MIT Kerberos realm with its KDC on 127.0.0.1, for the Kerberos tests.

Everything lives in one temporary directory: ``krb5.conf``, ``kdc.conf``, the database, the
keytabs and the credential caches. Nothing under ``/etc`` is read or written: the tests point
``KRB5_CONFIG`` and ``KRB5_KDC_PROFILE`` at the directory. The configuration turns off every DNS
lookup (KDC discovery, realm discovery, host name canonicalisation and reverse lookups), so
no packet leaves the loopback interface.

The MIT tools come from the distribution's packages (Debian: ``krb5-kdc``, ``krb5-admin-server``
and ``krb5-user``); ``.ci/run`` installs them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "ADMIN",
    "ADMIN_PASSWORD",
    "KEYTAB_USER",
    "REALM",
    "KerberosSetup",
    "Realm",
    "kerberos_tools_missing",
    "resolve_to_loopback",
]

REALM = "LAB.TEST"
DOMAIN = "lab.test"
# The test users: one with a password full of shell metacharacters, one with a keytab.
ADMIN = "lab-admin"
ADMIN_PASSWORD = "Kerberos-pw-7'$;|`x"
KEYTAB_USER = "svc-exch"
_TOOLS = ("krb5kdc", "kdb5_util", "kadmin.local", "kinit", "klist", "kdestroy")
_SBIN = ("/usr/sbin", "/usr/local/sbin", "/sbin")


def _which(tool: str) -> str | None:
    path = os.pathsep.join([os.environ.get("PATH", ""), *_SBIN])
    return shutil.which(tool, path=path)


def kerberos_tools_missing() -> list[str]:
    """The MIT Kerberos programs this module needs that are not installed."""
    return [tool for tool in _TOOLS if _which(tool) is None]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Realm:
    """A realm ``LAB.TEST`` served by a KDC process on a free loopback port.

    Args:
        directory: Where the configuration, database, keytabs and caches go.
        kdc_clock_offset: Run the KDC with its clock this many seconds ahead, through
            ``faketime``; used to produce a real clock-skew error.
    """

    directory: Path
    kdc_clock_offset: int = 0
    port: int = field(default_factory=_free_port)
    master_password: str = "throwaway-master-key"
    _process: subprocess.Popen[bytes] | None = None

    @property
    def krb5_conf(self) -> Path:
        return self.directory / "krb5.conf"

    @property
    def env(self) -> dict[str, str]:
        """The environment variables that point MIT Kerberos at this realm."""
        return {
            "KRB5_CONFIG": str(self.krb5_conf),
            "KRB5_KDC_PROFILE": str(self.directory / "kdc.conf"),
            "KRB5CCNAME": f"FILE:{self.directory / 'default.ccache'}",
            "KRB5_TRACE": str(self.directory / "trace.log"),
        }

    def start(self) -> Realm:
        """Write the configuration, create the database and start the KDC."""
        self.directory.mkdir(parents=True, exist_ok=True)
        address = f"127.0.0.1:{self.port}"
        self.krb5_conf.write_text(
            "[libdefaults]\n"
            f"  default_realm = {REALM}\n"
            "  dns_lookup_kdc = false\n"
            "  dns_lookup_realm = false\n"
            "  dns_canonicalize_hostname = false\n"
            "  rdns = false\n"
            "  udp_preference_limit = 1\n"
            "  kdc_timesync = 0\n"
            "  forwardable = true\n"
            "[realms]\n"
            f"  {REALM} = {{\n"
            f"    kdc = {address}\n"
            f"    admin_server = {address}\n"
            "  }\n"
            "[domain_realm]\n"
            f"  .{DOMAIN} = {REALM}\n"
            f"  {DOMAIN} = {REALM}\n",
            encoding="utf-8",
        )
        (self.directory / "kdc.conf").write_text(
            "[kdcdefaults]\n"
            f"  kdc_listen = {address}\n"
            f"  kdc_tcp_listen = {address}\n"
            "[realms]\n"
            f"  {REALM} = {{\n"
            f"    database_name = {self.directory / 'principal'}\n"
            f"    key_stash_file = {self.directory / 'stash'}\n"
            f"    acl_file = {self.directory / 'kadm5.acl'}\n"
            "    max_life = 1h\n"
            "    max_renewable_life = 1h\n"
            "  }\n"
            "[logging]\n"
            f"  kdc = FILE:{self.directory / 'kdc.log'}\n",
            encoding="utf-8",
        )
        (self.directory / "kadm5.acl").write_text("", encoding="utf-8")
        self._run("kdb5_util", "create", "-s", "-r", REALM, "-P", self.master_password)
        command = [_tool("krb5kdc"), "-n", "-r", REALM, "-P", str(self.directory / "kdc.pid")]
        if self.kdc_clock_offset:
            faketime = shutil.which("faketime")
            if faketime is None:
                raise RuntimeError("faketime is not installed (Debian package faketime)")
            command = [faketime, "-f", f"{self.kdc_clock_offset:+d}s", *command]
        self._process = subprocess.Popen(
            command,
            env={**os.environ, **self.env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            # faketime runs krb5kdc as its child, so stop() signals the whole group.
            start_new_session=True,
        )
        self._wait_listening()
        return self

    def stop(self) -> None:
        """Stop the KDC; the directory is left for the test framework to remove."""
        if self._process is not None:
            group = self._process.pid
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGTERM)
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(group, signal.SIGKILL)
                self._process.wait()
            self._process = None

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                stderr = self._process.stderr.read().decode() if self._process.stderr else ""
                raise RuntimeError(f"krb5kdc exited with {self._process.returncode}: {stderr}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"krb5kdc did not listen on 127.0.0.1:{self.port} within 10 s")

    def _run(self, tool: str, *args: str, stdin: str | None = None) -> str:
        result = subprocess.run(
            [_tool(tool), *args],
            env={**os.environ, **self.env},
            input=stdin.encode() if stdin is not None else None,
            capture_output=True,
            check=False,
            timeout=30,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{tool} {' '.join(args)} failed with {result.returncode}: "
                f"{result.stderr.decode(errors='replace')}"
            )
        return result.stdout.decode(errors="replace")

    def kadmin(self, query: str) -> str:
        """Run one ``kadmin.local`` query against the realm's database."""
        return self._run("kadmin.local", "-r", REALM, "-q", query)

    def add_user(self, name: str, password: str) -> str:
        """Create a user principal that needs pre-authentication, as Active Directory's do.

        Returns ``name@LAB.TEST``.
        """
        self.kadmin(f"addprinc +requires_preauth -pw {password} {name}")
        return f"{name}@{REALM}"

    def add_service(self, hostname: str, keytab: Path) -> str:
        """Create ``HTTP/<hostname>`` with a random key and add its key to ``keytab``."""
        principal = f"HTTP/{hostname}"
        self.kadmin(f"addprinc -randkey {principal}")
        self.kadmin(f"ktadd -k {keytab} {principal}")
        return principal

    def export_keytab(self, principal: str, keytab: Path) -> Path:
        """Write ``principal``'s keys to ``keytab`` (this changes the keys, as ktadd does)."""
        self.kadmin(f"ktadd -k {keytab} {principal}")
        return keytab

    def kinit(self, principal: str, password: str, ccache: Path) -> None:
        """Get a ticket-granting ticket for ``principal`` into ``ccache``."""
        self._run("kinit", "-c", f"FILE:{ccache}", principal, stdin=password + "\n")

    def klist(self, ccache: Path) -> str:
        """The output of ``klist`` for ``ccache``."""
        return self._run("klist", "-c", f"FILE:{ccache}")


def _tool(name: str) -> str:
    path = _which(name)
    if path is None:
        raise RuntimeError(f"{name} is not installed (Debian packages krb5-kdc and krb5-user)")
    return path


@contextmanager
def resolve_to_loopback(suffixes: Sequence[str] = (f".{DOMAIN}",)) -> Iterator[None]:
    """Resolve host names ending in ``suffixes`` to 127.0.0.1 inside this process.

    Other names resolve as before. The machine's ``/etc/hosts`` and resolver are untouched.
    """
    original = socket.getaddrinfo

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
        if isinstance(host, str | bytes):
            name = host.decode() if isinstance(host, bytes) else host
            if name.lower().rstrip(".").endswith(tuple(suffixes)):
                return original("127.0.0.1", *args, **kwargs)  # type: ignore[arg-type]
        return original(host, *args, **kwargs)  # type: ignore[arg-type]

    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]
    try:
        yield
    finally:
        socket.getaddrinfo = original  # type: ignore[assignment]


@dataclass
class KerberosSetup:
    """The session's realm, the lab server's service keytab and the keytab of KEYTAB_USER."""

    realm: Realm
    service_keytab: Path
    client_keytab: Path
