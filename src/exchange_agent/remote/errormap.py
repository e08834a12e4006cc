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
    StalledError,
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
    "is_kerberos_error",
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

# The texts below are MIT Kerberos's own (krb5 1.20, seen through pyspnego and the krb5 and
# gssapi packages against a KDC): tests/kerberos runs each failure for real.
_SERVER_UNKNOWN = re.compile(r"Server (\S+?)(?:@\S+)? not found in Kerberos database", re.I)
_CLIENT_UNKNOWN = re.compile(r"Client '?(\S+?)'? not found in Kerberos database", re.I)
_NO_KDC = re.compile(
    r"Cannot (?:contact any KDC|find KDC) for (?:requested )?realm ['\"]?([^'\"\s]+)", re.I
)
_CACHE_MISMATCH = re.compile(
    r"Principal in credential cache does not match|Matching credential not found", re.I
)
_NO_CREDENTIALS = re.compile(
    r"No Kerberos credentials available(?: \(default cache: ([^)]+)\))?", re.I
)
_BAD_KEY = re.compile(
    r"Decrypt integrity check failed|Preauthentication failed|Password incorrect", re.I
)
_KEYTAB = re.compile(r"Key table (?:file|entry) .*not found|No key table entry found", re.I)


def is_kerberos_error(error: BaseException) -> bool:
    """True for the exceptions of pyspnego, gssapi and the krb5 package."""
    module = type(error).__module__.split(".", 1)[0]
    return isinstance(error, SpnegoError) or module in ("krb5", "gssapi")


def _kerberos_error(
    text: str, settings: EndpointSettings | None, where: dict[str, str | None]
) -> RemoteError:
    user = settings.username if settings else None
    keytab = settings.keytab if settings else None
    if "clock skew" in text.lower():
        return AuthenticationError(
            f"Kerberos rejected the request because this machine's clock differs from the "
            f"KDC's by more than the allowed skew, 5 minutes by default ({text}): synchronise "
            "the clock with the domain controllers (chrony or ntpd)",
            **where,
        )
    if match := _SERVER_UNKNOWN.search(text):
        url = settings.url if settings else "the endpoint URL"
        return UnreachableError(
            f"Kerberos has no service principal {match.group(1)} (the host in {url}): use the "
            "server's own FQDN, or register that name on an alternate service account",
            **where,
        )
    if match := _CLIENT_UNKNOWN.search(text):
        return AuthenticationError(
            f"the KDC has no user principal {match.group(1)}: on Linux and macOS the principal "
            "is case-sensitive, so write username with the exact case stored in Active "
            "Directory (for example SVC-EXCH@CONTOSO.COM)",
            **where,
        )
    if _CACHE_MISMATCH.search(text):
        return AuthenticationError(
            f"the ticket cache holds no ticket for {user}: principals are case-sensitive, so "
            f"write username as klist shows it, or run kinit {user}",
            **where,
        )
    if match := _NO_CREDENTIALS.search(text):
        cache = f" ({match.group(1)})" if match.group(1) else ""
        return AuthenticationError(
            f"no Kerberos ticket in the cache{cache}, and no password or keytab is set: run "
            "kinit user@REALM, or set username with a password or keytab in the inventory",
            **where,
        )
    if _BAD_KEY.search(text):
        if keytab:
            return AuthenticationError(
                f"the KDC rejected the key of {user} in the keytab {keytab} ({text}): export "
                "the keytab again after each password change",
                **where,
            )
        return AuthenticationError(
            f"the KDC rejected the password of {user} ({text}): check the password's secret "
            "reference. Each attempt counts towards the account's lockout, so none is retried",
            **where,
        )
    if _KEYTAB.search(text):
        return AuthenticationError(
            f"the keytab {keytab} has no key for {user} ({text}): list it with klist -k",
            **where,
        )
    if match := _NO_KDC.search(text):
        realm = match.group(1)
        return UnreachableError(
            f"no KDC of the realm {realm} answered ({text}): check the realm's kdc entries in "
            f"krb5.conf (KRB5_CONFIG) or the DNS records _kerberos._tcp.{realm.lower()}, and "
            "that port 88 is open",
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
    if is_kerberos_error(error):
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
    """Return True for failures a read may retry: dropped connections, HTTP 5xx, a stall.

    Authentication, TLS, endpoint, throttling, script errors and a command that ran out of its
    own timeout are never transient. An expired shell is handled by reopening the pool once,
    not by the retry loop.
    """
    return type(error) is TransportError or isinstance(error, StalledError)


def is_scripts_not_allowed(fully_qualified_error_id: str) -> bool:
    """Return True for the error id PowerShell writes when a no-language runspace gets a script."""
    return _SCRIPTS_NOT_ALLOWED.search(fully_qualified_error_id) is not None
