"""Translation of pypsrp, requests and pyspnego exceptions into the typed remote errors.

Each rule turns one failure mode into a :class:`~exchange_agent.remote.errors.RemoteError`
subclass whose message states what failed and how to fix it. The retry policy depends only on the
resulting class (:func:`is_transient`), so a rule that picks the wrong class changes behaviour:
authentication and script errors must never be retried, because retries lock accounts out and
repeat failing writes.
"""

from __future__ import annotations

import re
import ssl

import requests
from pypsrp.exceptions import AuthenticationError as PypsrpAuthenticationError
from pypsrp.exceptions import WinRMTransportError, WSManFaultError
from spnego.exceptions import SpnegoError

from exchange_agent.remote.errors import (
    AuthenticationError,
    EndpointNotFoundError,
    RemoteError,
    ScriptsNotAllowedError,
    ShellExpiredError,
    ThrottledError,
    TlsError,
    TransportError,
    UnreachableError,
)
from exchange_agent.remote.settings import EndpointSettings

__all__ = [
    "FAULT_OPERATION_TIMEOUT",
    "FAULT_RESOURCE_NOT_FOUND",
    "FAULT_SHELL_NOT_FOUND",
    "is_scripts_not_allowed",
    "is_transient",
    "map_exception",
]

# WS-Management fault codes (winrm.h): ERROR_WSMAN_RESOURCE_NOT_FOUND 0x8033803B is sent when
# the configuration name is not in the catalog (Exchange's configuration on /wsman),
# ERROR_WSMAN_INVALID_SELECTORS 0x8033805B when the ShellId no longer exists, and
# ERROR_WSMAN_OPERATION_TIMEDOUT 0x80338029 when a Receive found no output in time.
FAULT_RESOURCE_NOT_FOUND = 2150858811
FAULT_SHELL_NOT_FOUND = 2150858843
FAULT_OPERATION_TIMEOUT = 2150858793

# WinRM: "This user is allowed a maximum number of 18 concurrent shells, which has been
# exceeded"; Exchange's own throttling text names the connection limit.
_THROTTLED = re.compile(
    r"maximum number of \d+ concurrent shells|exceeded the maximum number of|throttl",
    re.IGNORECASE,
)
_SCRIPTS_NOT_ALLOWED = re.compile(r"ScriptsNotAllowed|no-language mode", re.IGNORECASE)

_KERBEROS_CHECKLIST = (
    "check: a ticket exists (klist) or username/password are set; the URL uses the server's "
    "FQDN, not an IP address or alias, because Kerberos looks up the SPN HTTP/<fqdn>; the "
    "client clock is within 5 minutes of the domain controller's; DNS resolves the KDC of the "
    "realm"
)


def _kerberos_error(
    text: str, settings: EndpointSettings | None, where: dict[str, str | None]
) -> RemoteError:
    lowered = text.lower()
    user = settings.username if settings else None
    if "clock skew" in lowered:
        return AuthenticationError(
            "Kerberos rejected the request because the clock of this machine differs from the "
            f"domain controller's by more than 5 minutes ({text}): synchronise the clock",
            **where,
        )
    if "server not found in kerberos database" in lowered:
        return UnreachableError(
            f"Kerberos has no service principal for the URL's host ({text}): use the server's "
            "FQDN as registered in Active Directory (SPN HTTP/<fqdn>), not an IP address or a "
            "load-balancer alias",
            **where,
        )
    if "matching credential not found" in lowered:
        return AuthenticationError(
            f"no Kerberos ticket matches the principal '{user}' ({text}): Kerberos principals "
            "are case-sensitive and the realm is upper case, so write the user as "
            "'user@CONTOSO.COM' and run kinit with the same spelling",
            **where,
        )
    if "cannot find kdc" in lowered or "cannot contact any kdc" in lowered:
        return UnreachableError(
            f"no Kerberos KDC could be reached for the realm ({text}): {_KERBEROS_CHECKLIST}",
            **where,
        )
    return AuthenticationError(
        f"Kerberos/Negotiate failed ({text}): {_KERBEROS_CHECKLIST}", **where
    )


def _tls_error(
    error: Exception, settings: EndpointSettings | None, where: dict[str, str | None]
) -> TlsError:
    bundle = settings.ca_bundle if settings and settings.ca_bundle else None
    source = (
        f"the CA bundle {bundle}"
        if bundle
        else "the default CA store (REQUESTS_CA_BUNDLE if set, else certifi)"
    )
    url = settings.url if settings else "the endpoint"
    return TlsError(
        f"TLS certificate validation of {url} failed against {source} ({error}): set ca_bundle "
        "(or REQUESTS_CA_BUNDLE) to the PEM file of the CA that issued the server certificate, "
        "or use http with Kerberos, which encrypts the messages itself",
        **where,
    )


def _endpoint_not_found(
    detail: str, settings: EndpointSettings | None, where: dict[str, str | None]
) -> EndpointNotFoundError:
    url = settings.url if settings else "the endpoint URL"
    configuration = settings.configuration_name if settings else "the configuration"
    return EndpointNotFoundError(
        f"no PowerShell endpoint of configuration {configuration} at {url} ({detail}): Exchange "
        "serves remote PowerShell from IIS: set exchange.url to http://<fqdn>/PowerShell",
        **where,
    )


def _http_error(
    error: WinRMTransportError,
    settings: EndpointSettings | None,
    had_shell: bool,
    where: dict[str, str | None],
) -> RemoteError:
    code = int(error.code)
    text = str(error.response_text or "")[:300]
    if code == 404:
        return _endpoint_not_found("HTTP 404", settings, where)
    if _THROTTLED.search(text):
        return ThrottledError(f"the server throttled the session (HTTP {code}: {text})", **where)
    if code == 400 and had_shell:
        return ShellExpiredError(
            f"the remote shell is gone (HTTP 400 on a shell that worked: {text})", **where
        )
    if code in (500, 502, 503, 504):
        return TransportError(f"the server returned HTTP {code} ({text})", **where)
    return TransportError(f"unexpected HTTP {code} from the server ({text})", **where)


def _fault_error(
    error: WSManFaultError,
    settings: EndpointSettings | None,
    had_shell: bool,
    where: dict[str, str | None],
) -> RemoteError:
    code = int(error.code) if isinstance(error.code, int) else 0
    context = error.__context__
    if not code and isinstance(context, WinRMTransportError):
        # pypsrp 0.9.1 parses any XML error body as a fault, an IIS error page too, and keeps
        # the HTTP error only as the exception context.
        return _http_error(context, settings, had_shell, where)
    reason = str(error.reason or error)
    if code == FAULT_RESOURCE_NOT_FOUND:
        return _endpoint_not_found(f"WS-Management fault {code}", settings, where)
    if code == FAULT_SHELL_NOT_FOUND:
        return ShellExpiredError(f"the remote shell no longer exists ({reason})", **where)
    if _THROTTLED.search(reason):
        return ThrottledError(f"the server rejected a new shell ({reason})", **where)
    if _SCRIPTS_NOT_ALLOWED.search(reason):
        return ScriptsNotAllowedError(reason, **where)
    return TransportError(f"WS-Management fault {code} ({reason})", **where)


def map_exception(
    error: BaseException,
    *,
    host: str | None = None,
    endpoint: str | None = None,
    cmdlet: str | None = None,
    settings: EndpointSettings | None = None,
    had_shell: bool = False,
) -> RemoteError:
    """Return the :class:`RemoteError` that describes ``error``.

    Args:
        error: The exception raised by pypsrp, requests or pyspnego.
        host: Inventory host name, copied into the result.
        endpoint: ``exchange`` or ``windows``.
        cmdlet: The cmdlet being run, if any.
        settings: The endpoint's settings; messages name its URL and CA bundle.
        had_shell: True when the pool had opened before, so an HTTP 400 means the shell expired.
    """
    where: dict[str, str | None] = {"host": host, "endpoint": endpoint, "cmdlet": cmdlet}
    if isinstance(error, RemoteError):
        return error
    if isinstance(error, PypsrpAuthenticationError):
        user = settings.username if settings else None
        user_text = f"'{user}'" if user else "the ticket cache's user"
        auth = settings.auth if settings else "the configured method"
        return AuthenticationError(
            f"the server rejected the credentials of {user_text} with {auth} (HTTP 401): check the "
            "user name and password, that the account may use remote PowerShell "
            "(Set-User -RemotePowerShellEnabled), and that the virtual directory accepts "
            f"{auth} authentication",
            **where,
        )
    if isinstance(error, WinRMTransportError):
        return _http_error(error, settings, had_shell, where)
    if isinstance(error, WSManFaultError):
        return _fault_error(error, settings, had_shell, where)
    if isinstance(error, SpnegoError):
        return _kerberos_error(str(error), settings, where)
    if isinstance(error, requests.exceptions.SSLError | ssl.SSLError):
        return _tls_error(error, settings, where)
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return UnreachableError(f"connecting to the server timed out ({error})", **where)
    if isinstance(error, requests.exceptions.ReadTimeout):
        return TransportError(f"reading the server's response timed out ({error})", **where)
    if isinstance(error, requests.exceptions.ConnectionError | ConnectionError):
        return _connection_error(error, had_shell, where)
    text = str(error)
    if _SCRIPTS_NOT_ALLOWED.search(text):
        return ScriptsNotAllowedError(text, **where)
    if _THROTTLED.search(text):
        # pypsrp reports a pool that the server refused to open as a broken pool state whose
        # message carries the server's error record.
        return ThrottledError(f"the server rejected a new shell ({text})", **where)
    return TransportError(f"{type(error).__name__}: {error}", **where)


def _connection_error(
    error: BaseException, had_shell: bool, where: dict[str, str | None]
) -> RemoteError:
    text = str(error)
    if had_shell or "reset" in text.lower() or "aborted" in text.lower():
        return TransportError(f"the connection dropped ({text})", **where)
    host = _unresolved_host(text)
    if host is not None:
        return UnreachableError(
            f"cannot resolve the host name {host}: check the endpoint URL and DNS", **where
        )
    return UnreachableError(
        f"could not connect ({text}): check the URL's host name and port, DNS, and that a "
        "firewall allows the connection",
        **where,
    )


_UNRESOLVED = re.compile(
    r"NameResolutionError|Name or service not known|nodename nor servname|getaddrinfo failed"
    r"|Temporary failure in name resolution"
)
_POOL_HOST = re.compile(r"host='([^']+)'")


def _unresolved_host(text: str) -> str | None:
    # urllib3 reports a failed lookup as "HTTPConnectionPool(host='x', port=80): Max retries
    # exceeded ... NameResolutionError(...)"; the host name is all a user needs from it.
    if not _UNRESOLVED.search(text):
        return None
    match = _POOL_HOST.search(text)
    return match.group(1) if match else "in the URL"


def is_transient(error: RemoteError) -> bool:
    """Return True for failures a read may retry: dropped connections and HTTP 5xx.

    Authentication, TLS, endpoint, throttling, timeout and script errors are never transient.
    An expired shell is handled by reopening the pool once, not by the retry loop.
    """
    return type(error) is TransportError


def is_scripts_not_allowed(fully_qualified_error_id: str) -> bool:
    """Return True for the error id PowerShell writes when a no-language runspace gets a script."""
    return _SCRIPTS_NOT_ALLOWED.search(fully_qualified_error_id) is not None
