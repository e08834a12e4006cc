"""Connection settings of one endpoint of one host, independent of how they were configured."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

import spnego
from pydantic import SecretStr

from exchange_agent.remote.session import EndpointKind

__all__ = ["AuthMethod", "EncryptionMode", "EndpointSettings"]

AuthMethod = Literal["kerberos", "negotiate", "ntlm", "basic", "credssp", "certificate"]
EncryptionMode = Literal["auto", "always", "never"]

# NOTE: 18 is the per-user limit named in the throttling error "maximum number of 18 concurrent
# shells"; which policy setting sets it, and whether admins raise it, is not confirmed here.
EXCHANGE_SHELL_LIMIT = 18


@dataclass(frozen=True)
class EndpointSettings:
    """How to reach one PowerShell endpoint.

    Attributes:
        url: Full endpoint URL, such as ``http://ex01.contoso.com/PowerShell`` (Exchange,
            served by IIS) or ``https://ex01.contoso.com:5986/wsman`` (Windows default).
        configuration_name: The session configuration: ``Microsoft.Exchange`` for Exchange's
            endpoint, ``Microsoft.PowerShell`` for the Windows default one.
        auth: WinRM authentication protocol, as pypsrp names it.
        username: User name (UPN or ``DOMAIN\\user``); ``None`` uses the Kerberos ticket cache.
        password: Password; never logged.
        cert_validation: Whether to validate the server's TLS certificate.
        ca_bundle: Path of a CA bundle used for validation, ``None`` for the default store
            (``REQUESTS_CA_BUNDLE`` or certifi).
        encryption: WinRM message encryption: ``auto`` encrypts over HTTP with Kerberos, NTLM
            and CredSSP, ``never`` is required for Basic over HTTP.
        connect_timeout: Seconds to wait for the TCP and TLS connection.
        operation_timeout: Seconds the server may hold one WS-Management Receive.
        read_timeout: Seconds to wait for any HTTP response; must exceed operation_timeout.
        stall_timeout: Seconds a running command may go without sending anything before it is
            stopped and reported as timed out, with its effect on the server unknown.
        max_concurrency: Maximum number of runspace pools opened in parallel for this host.
        kind: Which of the host's endpoints these settings describe.
        keytab: Kerberos keytab holding the key of ``username``, used instead of a password.
        ticket_cache: Kerberos credential cache to take the ticket from, such as
            ``FILE:/tmp/krb5cc_svc``; ``None`` uses the default cache (``KRB5CCNAME``).
        spn_service: The service class of the server's principal name. IIS, which serves
            Exchange's ``/PowerShell``, and the Windows WinRM client both use ``HTTP/<fqdn>``;
            Active Directory maps ``HTTP`` to the computer account's ``HOST`` principal.
    """

    url: str
    configuration_name: str = "Microsoft.Exchange"
    auth: AuthMethod = "kerberos"
    username: str | None = None
    password: SecretStr | None = None
    cert_validation: bool = True
    ca_bundle: str | None = None
    encryption: EncryptionMode = "auto"
    connect_timeout: float = 30.0
    operation_timeout: float = 20.0
    read_timeout: float = 30.0
    stall_timeout: float = 300.0
    max_concurrency: int = 4
    kind: EndpointKind = "exchange"
    keytab: str | None = None
    ticket_cache: str | None = None
    spn_service: str = "HTTP"

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"invalid endpoint url {self.url!r}: expected http(s)://<fqdn>[:port]/<path>"
            )
        if self.read_timeout <= self.operation_timeout:
            raise ValueError(
                f"read_timeout ({self.read_timeout}s) must exceed operation_timeout "
                f"({self.operation_timeout}s): the server holds a Receive up to the operation "
                "timeout before it answers"
            )
        if not 1 <= self.max_concurrency < EXCHANGE_SHELL_LIMIT:
            raise ValueError(
                f"invalid max_concurrency {self.max_concurrency}: expected 1 to "
                f"{EXCHANGE_SHELL_LIMIT - 1}, below Exchange's limit of {EXCHANGE_SHELL_LIMIT} "
                "shells per user"
            )
        if self.auth == "basic" and parts.scheme == "http" and self.encryption != "never":
            raise ValueError(
                f"Basic authentication over plain http ({self.url}) cannot encrypt messages: "
                "set encryption to 'never' or use https"
            )
        if (self.keytab or self.ticket_cache) and self.auth not in ("kerberos", "negotiate"):
            raise ValueError(
                f"a keytab or ticket cache needs auth 'kerberos' or 'negotiate', not {self.auth!r}"
            )
        if self.keytab and self.password is not None:
            raise ValueError("give a keytab or a password, not both")

    @property
    def kerberos_credential(self) -> object | None:
        """The pyspnego credential for a keytab or an explicit ticket cache, else ``None``."""
        if self.keytab is not None:
            return spnego.KerberosKeytab(keytab=self.keytab, principal=self.username)
        if self.ticket_cache is not None:
            return spnego.KerberosCCache(ccache=self.ticket_cache, principal=self.username)
        return None

    @property
    def server(self) -> str:
        """The host name of the URL."""
        return urlsplit(self.url).hostname or ""

    @property
    def ssl(self) -> bool:
        """True for an https URL."""
        return urlsplit(self.url).scheme == "https"

    @property
    def port(self) -> int:
        """The URL's port, or 443/80 by scheme."""
        return urlsplit(self.url).port or (443 if self.ssl else 80)

    @property
    def path(self) -> str:
        """The URL's path without the leading slash, such as ``PowerShell`` or ``wsman``."""
        return urlsplit(self.url).path.lstrip("/") or "wsman"
