"""map_exception() on exceptions built as pypsrp, requests and pyspnego raise them."""

from __future__ import annotations

import pytest
import requests
from pydantic import SecretStr
from pypsrp.exceptions import AuthenticationError as PypsrpAuthenticationError
from pypsrp.exceptions import InvalidPSRPOperation, WinRMTransportError, WSManFaultError
from spnego.exceptions import ErrorCode, NoCredentialError, SpnegoError

from exchange_agent.remote.errormap import (
    FAULT_RESOURCE_NOT_FOUND,
    FAULT_SHELL_NOT_FOUND,
    is_scripts_not_allowed,
    is_transient,
    map_exception,
)
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

SETTINGS = EndpointSettings(
    url="http://ex01.contoso.com:5985/wsman",
    auth="kerberos",
    username="ada@CONTOSO.COM",
    password=SecretStr("Pa55w.rd-never-shown"),
)
TLS_SETTINGS = EndpointSettings(
    url="https://ex01.contoso.com/PowerShell", ca_bundle="/etc/pki/contoso-ca.pem"
)


def fault(code: int, reason: str) -> WSManFaultError:
    # pypsrp builds the fault from the SOAP body: code, machine, reason, provider details.
    return WSManFaultError(code, "ex01.contoso.com", reason, None, None, None)


def mapped(error: BaseException, **kwargs: object) -> RemoteError:
    options: dict[str, object] = {"host": "ex01", "endpoint": "exchange", "settings": SETTINGS}
    options.update(kwargs)
    return map_exception(error, **options)  # type: ignore[arg-type]


def test_http_401_is_authentication_error() -> None:
    error = mapped(PypsrpAuthenticationError("Failed to authenticate the user ada with kerberos"))
    assert type(error) is AuthenticationError
    assert "ada@CONTOSO.COM" in str(error)
    assert "Pa55w.rd" not in str(error)
    assert str(error).startswith("ex01: ")
    assert error.host == "ex01"
    assert error.endpoint == "exchange"
    assert not is_transient(error)


def test_resource_uri_fault_names_url_and_fix() -> None:
    error = mapped(
        fault(
            FAULT_RESOURCE_NOT_FOUND,
            "The WS-Management service cannot process the request. The resource URI "
            "(http://schemas.microsoft.com/powershell/Microsoft.Exchange) was not found in the "
            "WS-Management catalog.",
        )
    )
    assert type(error) is EndpointNotFoundError
    assert "http://ex01.contoso.com:5985/wsman" in str(error)
    assert "set exchange.url to http://<fqdn>/PowerShell" in str(error)
    assert not is_transient(error)


def test_http_404_is_endpoint_not_found() -> None:
    error = mapped(WinRMTransportError("http", 404, "Not Found"))
    assert type(error) is EndpointNotFoundError
    assert "HTTP 404" in str(error)


def test_tls_error_names_ca_bundle() -> None:
    error = mapped(
        requests.exceptions.SSLError(
            "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate"
        ),
        settings=TLS_SETTINGS,
    )
    assert type(error) is TlsError
    assert "/etc/pki/contoso-ca.pem" in str(error)
    assert "REQUESTS_CA_BUNDLE" in str(error)


def test_tls_error_without_bundle_names_default_store() -> None:
    error = mapped(requests.exceptions.SSLError("certificate verify failed"), settings=None)
    assert type(error) is TlsError
    assert "default CA store" in str(error)


def test_shell_limit_is_throttled() -> None:
    error = mapped(
        fault(
            2150859174,
            "The WS-Management service cannot process the request. This user is allowed a "
            "maximum number of 18 concurrent shells, which has been exceeded.",
        )
    )
    assert type(error) is ThrottledError
    assert not is_transient(error)


def test_scripts_not_allowed() -> None:
    error = mapped(
        RuntimeError(
            "The syntax is not supported by this runspace. This can occur if the runspace is in "
            "no-language mode. (ScriptsNotAllowed)"
        )
    )
    assert type(error) is ScriptsNotAllowedError
    assert not is_transient(error)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_http_5xx_is_transient(status: int) -> None:
    error = mapped(WinRMTransportError("http", status, "Service Unavailable"))
    assert type(error) is TransportError
    assert f"HTTP {status}" in str(error)
    assert is_transient(error)


def test_connection_reset_is_transient() -> None:
    error = mapped(
        requests.exceptions.ConnectionError(
            "('Connection aborted.', ConnectionResetError(104, 'Connection reset by peer'))"
        )
    )
    assert type(error) is TransportError
    assert is_transient(error)


def test_refused_before_any_shell_is_unreachable() -> None:
    error = mapped(
        requests.exceptions.ConnectionError("Failed to establish a new connection: refused")
    )
    assert type(error) is UnreachableError
    assert not is_transient(error)


def test_connect_timeout_is_unreachable() -> None:
    error = mapped(requests.exceptions.ConnectTimeout("timed out"))
    assert type(error) is UnreachableError


def test_read_timeout_is_transient() -> None:
    assert is_transient(mapped(requests.exceptions.ReadTimeout("read timed out")))


def test_shell_not_found_fault_is_expired() -> None:
    error = mapped(fault(FAULT_SHELL_NOT_FOUND, "The request for the Windows Remote Shell ..."))
    assert type(error) is ShellExpiredError
    assert not is_transient(error)


def test_http_400_after_shell_is_expired() -> None:
    assert type(mapped(WinRMTransportError("http", 400, ""), had_shell=True)) is ShellExpiredError
    assert type(mapped(WinRMTransportError("http", 400, ""), had_shell=False)) is TransportError


# The texts are MIT Kerberos 1.20's, as pyspnego, gssapi and krb5 reported them against the KDC
# in tests/kerberos; these cases keep the mapping checked where no KDC is installed.
@pytest.mark.parametrize(
    ("text", "kind", "hint"),
    [
        (
            "Krb5Error: Clock skew too great in KDC reply -1765328236",
            AuthenticationError,
            "synchronise the clock",
        ),
        (
            "Minor (2529638919): Server HTTP/mail.contoso.com@CONTOSO.COM not found in Kerberos "
            "database, Context: Processing security token",
            UnreachableError,
            "no service principal HTTP/mail.contoso.com (the host in http://ex01",
        ),
        (
            "Minor (39756032): Principal in credential cache does not match desired name",
            AuthenticationError,
            "no ticket for svc@CONTOSO.COM",
        ),
        (
            "Krb5Error: Client 'Svc@CONTOSO.COM' not found in Kerberos database -1765328378",
            AuthenticationError,
            "no user principal Svc@CONTOSO.COM: on Linux and macOS the principal is case-sensitive",
        ),
        (
            "Krb5Error: Cannot contact any KDC for realm 'CONTOSO.COM' -1765328228",
            UnreachableError,
            "no KDC of the realm CONTOSO.COM answered",
        ),
        ('Cannot find KDC for realm "CONTOSO.COM"', UnreachableError, "_kerberos._tcp.contoso.com"),
        (
            "Krb5Error: Preauthentication failed -1765328360",
            AuthenticationError,
            "rejected the password of svc@CONTOSO.COM",
        ),
        ("Some other GSSAPI failure", AuthenticationError, "FQDN"),
    ],
)
def test_kerberos_messages(text: str, kind: type[RemoteError], hint: str) -> None:
    settings = EndpointSettings(
        url="http://ex01.contoso.com/PowerShell",
        username="svc@CONTOSO.COM",
        password=SecretStr("pw"),
    )
    error = mapped(SpnegoError(ErrorCode.failure, context_msg=text), settings=settings)
    assert type(error) is kind
    assert hint in str(error)


def test_no_credential_is_authentication_error() -> None:
    error = mapped(
        NoCredentialError(
            context_msg="No Kerberos credentials available (default cache: FILE:/tmp/krb5cc_0)"
        )
    )
    assert type(error) is AuthenticationError
    assert "no Kerberos ticket in the cache (FILE:/tmp/krb5cc_0)" in str(error)
    assert "kinit" in str(error)


def test_cmdlet_is_kept() -> None:
    error = mapped(WinRMTransportError("http", 503, ""), cmdlet="Get-Mailbox")
    assert error.cmdlet == "Get-Mailbox"


def test_remote_error_passes_through() -> None:
    original = ThrottledError("busy", host="ex01")
    assert map_exception(original) is original


def test_unknown_exception_is_transport_error() -> None:
    error = mapped(OSError("broken pipe"))
    assert type(error) is TransportError
    assert "OSError" in str(error)


def test_broken_pool_with_throttling_record() -> None:
    # pypsrp raises this when the server responds to pool creation with a broken state.
    error = mapped(
        InvalidPSRPOperation(
            "Received a broken RunspacePoolState message: Fail to create a runspace because you "
            "have exceeded the maximum number of connections allowed : 18 for the policy party "
            ": MaxConcurrency."
        )
    )
    assert type(error) is ThrottledError


@pytest.mark.parametrize(
    ("error_id", "expected"),
    [
        ("ScriptsNotAllowed", True),
        ("ScriptsNotAllowed,Microsoft.PowerShell.Commands.InvokeExpressionCommand", True),
        ("CommandNotFoundException", False),
        ("", False),
    ],
)
def test_scripts_not_allowed_id(error_id: str, expected: bool) -> None:
    assert is_scripts_not_allowed(error_id) is expected


def test_unresolved_host_named_plainly() -> None:
    text = (
        "HTTPConnectionPool(host='ex01.contoso.com', port=80): Max retries exceeded with url: "
        '/PowerShell (Caused by NameResolutionError("<urllib3.connection.HTTPConnection object '
        "at 0x7f>: Failed to resolve 'ex01.contoso.com' ([Errno -2] Name or service not known)\"))"
    )
    error = mapped(requests.exceptions.ConnectionError(text))
    assert type(error) is UnreachableError
    assert error.message == (
        "cannot resolve the host name ex01.contoso.com: check the endpoint URL and DNS"
    )
    assert not is_transient(error)
