"""The lab's WinRM server: WS-Management over HTTP(S) on 127.0.0.1 in front of a lab engine."""

from __future__ import annotations

import base64
import binascii
import datetime
import ipaddress
import logging
import os
import shutil
import socket
import ssl
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Literal
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from exchange_agent.lab.contract import Engine
from exchange_agent.lab.server import _ntlm as ntlm
from exchange_agent.lab.server import _wsman as wsman
from exchange_agent.lab.server._knobs import Knobs, throttled_message
from exchange_agent.lab.server._shell import InvalidPsrpDataError, Shell, ShellClosedError

__all__ = ["LabServer"]

log = logging.getLogger(__name__)

# WinRM's default MaxShellsPerUser quota, which Exchange's PowerShell virtual directory keeps.
MAX_SHELLS_PER_USER = 18
_CONFIGURATIONS = {"exchange": "Microsoft.Exchange", "windows": "Microsoft.PowerShell"}
_PATHS = {"/powershell": "exchange", "/wsman": "windows"}
# Respond to a Receive well before the client's read timeout (30 s by default in pypsrp).
_MAX_RECEIVE_WAIT = 20.0
_ENVELOPE_OVERHEAD = 4096
_IIS_404 = (
    b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><head>'
    b"<title>404 - File or directory not found.</title></head><body /></html>"
)
_SHORT_ACTIONS = {
    wsman.ACTION_CREATE: "Create",
    wsman.ACTION_COMMAND: "Command",
    wsman.ACTION_SEND: "Send",
    wsman.ACTION_RECEIVE: "Receive",
    wsman.ACTION_SIGNAL: "Signal",
    wsman.ACTION_DELETE: "Delete",
}

_Response = tuple[int, bytes, dict[str, str]] | None


def _shell_not_found(shell_id: str) -> str:
    # The text WinRM sends with ERROR_WSMAN_INVALID_SELECTORS for a shell it no longer has.
    return (
        f"The request for the Windows Remote Shell with ShellId {shell_id} failed because the "
        "shell was not found on the server. Possible causes are: the specified ShellId is "
        "incorrect or the shell no longer exists on the server. Provide the correct ShellId "
        "or create a new shell and try again."
    )


def _write_certificate(directory: Path) -> tuple[Path, Path]:
    """Write a self-signed certificate for 127.0.0.1 and localhost; return (cert, key) paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "exchange-agent lab")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / "lab-cert.pem"
    key_path = directory / "lab-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    lab: LabServer
    tls_context: ssl.SSLContext | None = None

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        if self.tls_context is not None:
            # The handshake runs on the handler thread at the first read, not in accept().
            connection = self.tls_context.wrap_socket(
                connection, server_side=True, do_handshake_on_connect=False
            )
        return connection, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that abort a TLS handshake or drop a connection are expected in tests; the
        # stdlib default prints a traceback to stderr for each.
        log.debug("lab server: request from %s failed", client_address, exc_info=True)


def _use_keytab(keytab: Path | None) -> None:
    if keytab is None or not keytab.is_file():
        raise ValueError(
            f"auth 'kerberos' needs the keytab with the server's HTTP/<fqdn> keys, found {keytab}"
        )
    try:
        import gssapi  # noqa: F401, PLC0415
    except ImportError as error:
        raise ValueError(
            "auth 'kerberos' needs the gssapi package: pip install 'exchange-agent[kerberos]'"
        ) from error
    os.environ["KRB5_KTNAME"] = f"FILE:{keytab}"


def _user_name(principal: str, users: dict[str, str]) -> str:
    """Map ``DOMAIN\\user`` or ``user@REALM`` to a known lab user, else keep it as it is."""
    short = principal.rpartition("\\")[2].partition("@")[0]
    return short if short in users else principal


class _Handler(BaseHTTPRequestHandler):
    # WinRM clients keep one connection per pool; NTLM also binds to the connection.
    protocol_version = "HTTP/1.1"
    server: _HttpServer
    # NTLM authenticates the connection, not each request, so its context lives here.
    ntlm_context: Any = None
    ntlm_user: str | None = None

    def setup(self) -> None:
        super().setup()
        # Without TCP_NODELAY, delayed ACKs add about 40 ms to each request on loopback.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self) -> None:
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if length < 0:
            self._send(400, b"expected a Content-Length header with a byte count", {})
            return
        body = self.rfile.read(length)
        if self.server.lab.auth in ("ntlm", "kerberos"):
            self._post_ntlm(body)
            return
        response = self.server.lab._handle(
            urlsplit(self.path).path, self.headers.get("Authorization"), body
        )
        self._respond(response)

    def _respond(self, response: _Response) -> None:
        if response is None:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._send(*response)

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        reason = self.responses.get(status, ("",))[0]
        lines = [f"HTTP/1.1 {status} {reason}", "Server: Microsoft-HTTPAPI/2.0"]
        if body and "Content-Type" not in headers:
            lines.append("Content-Type: application/soap+xml;charset=UTF-8")
        lines.append(f"Content-Length: {len(body)}")
        lines.extend(f"{name}: {value}" for name, value in headers.items())
        # Headers and body in one send, so that Nagle and delayed ACKs do not stall the reply.
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        self.wfile.flush()

    def _post_ntlm(self, body: bytes) -> None:
        lab = self.server.lab
        scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() in ("negotiate", "ntlm") and token.strip():
            if self.ntlm_context is None or self.ntlm_context.complete:
                self.ntlm_context = ntlm.new_acceptor()
                self.ntlm_user = None
            try:
                out_token = self.ntlm_context.step(base64.b64decode(token.strip()))
            except Exception as error:  # pyspnego raises several types for bad credentials
                log.info("lab server: NTLM authentication failed: %s", error)
                self.ntlm_context = None
                self._send(401, b"", {"WWW-Authenticate": "Negotiate"})
                return
            reply = {}
            if out_token:
                reply["WWW-Authenticate"] = f"{scheme} {base64.b64encode(out_token).decode()}"
            if not self.ntlm_context.complete:
                self._send(401, b"", reply)
                return
            if lab.auth == "kerberos" and self.ntlm_context.negotiated_protocol != "kerberos":
                # Exchange's PowerShell virtual directory accepts Kerberos only by default.
                log.info(
                    "lab server: refused %s, Kerberos only", self.ntlm_context.negotiated_protocol
                )
                self.ntlm_context = None
                self._send(401, b"", {"WWW-Authenticate": "Negotiate"})
                return
            self.ntlm_user = _user_name(str(self.ntlm_context.client_principal or ""), lab.users)
            if not body:
                self._send(200, b"", reply)
                return
        elif self.ntlm_context is None or not self.ntlm_context.complete or not self.ntlm_user:
            lab.knobs.count("unauthorized")
            self._send(401, b"", {"WWW-Authenticate": "Negotiate"})
            return
        encrypted = self.headers.get("Content-Type", "").startswith("multipart/encrypted")
        lab.knobs.count("encrypted_requests" if encrypted else "plaintext_requests")
        if encrypted:
            try:
                body = ntlm.unwrap_message(self.ntlm_context, body)
            except (ntlm.NtlmError, ValueError) as error:
                log.info("lab server: invalid encrypted request from %s: %s", self.ntlm_user, error)
                self._send(400, str(error).encode(), {})
                return
        response = lab._handle(urlsplit(self.path).path, None, body, user=self.ntlm_user)
        if response is not None and encrypted and response[1]:
            status, payload, headers = response
            content_type, payload = ntlm.wrap_message(self.ntlm_context, payload)
            response = status, payload, {**headers, "Content-Type": content_type}
        self._respond(response)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


class LabServer:
    """A WinRM server on 127.0.0.1 that runs cmdlets on a lab engine.

    ``/PowerShell`` serves the ``Microsoft.Exchange`` configuration (Exchange's IIS endpoint)
    and ``/wsman`` serves ``Microsoft.PowerShell`` (the Windows endpoint of an Exchange
    server). With HTTP Basic authentication, clients use ``encryption="never"`` over HTTP.

    Args:
        engine: Runs each statement of a pipeline.
        host: The address to bind. Only IPv4 loopback addresses (127.0.0.0/8) are accepted.
        port: The TCP port, 0 for a free one.
        tls: Serve HTTPS with a self-signed certificate written to :attr:`certificate_path`.
        auth: ``"basic"``; ``"ntlm"`` for NTLM and Negotiate with WinRM message encryption
            over HTTP; or ``"kerberos"`` for Negotiate that accepts only Kerberos, as Exchange's
            PowerShell virtual directory does, also with message encryption. The Kerberos
            acceptor reads the service key from ``keytab``.
        keytab: Keytab with the ``HTTP/<fqdn>`` keys; required with ``auth="kerberos"``.
            NOTE: MIT Kerberos reads the acceptor keytab from ``KRB5_KTNAME``, which this sets
            for the whole process.
        users: User names and passwords accepted. A ``DOMAIN\\`` prefix on the client's user
            name is ignored.
        idle_timeout: Seconds after which a shell without requests is deleted.
        knobs: Fault injection settings; a new :class:`Knobs` when None.
        max_shells_per_user: The per-user shell quota.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: bool = False,
        auth: Literal["basic", "ntlm", "kerberos"] = "basic",
        users: dict[str, str] | None = None,
        keytab: Path | None = None,
        idle_timeout: float = 180.0,
        knobs: Knobs | None = None,
        max_shells_per_user: int = MAX_SHELLS_PER_USER,
    ) -> None:
        address = ipaddress.ip_address(host)
        if address.version != 4 or not address.is_loopback:
            raise ValueError(
                f"expected an IPv4 loopback address such as 127.0.0.1 for the lab server, "
                f"found {host!r}"
            )
        if auth not in ("basic", "ntlm", "kerberos"):
            raise ValueError(f"expected auth 'basic', 'ntlm' or 'kerberos', found {auth!r}")
        if auth == "kerberos":
            _use_keytab(keytab)
        if idle_timeout <= 0:
            raise ValueError(f"expected a positive idle_timeout, found {idle_timeout}")

        self.engine = engine
        self.host = host
        self.tls = tls
        self.users = dict(users if users is not None else {"user": "password"})
        self.idle_timeout = idle_timeout
        self.auth = auth
        if auth == "ntlm":
            ntlm.register_users(self.users)
        self.knobs = knobs if knobs is not None else Knobs()
        self.max_shells_per_user = max_shells_per_user
        self.engine_errors: list[BaseException] = []
        self._requested_port = port
        self._shells: dict[str, Shell] = {}
        self._busy: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: _HttpServer | None = None
        self._threads: list[threading.Thread] = []
        self._directory: Path | None = None
        self._certificate_path: Path | None = None

    # Life cycle.

    def start(self) -> LabServer:
        """Bind the port and start serving on background threads."""
        if self._httpd is not None:
            raise RuntimeError("the lab server is already running; call stop() first")
        httpd = _HttpServer((self.host, self._requested_port), _Handler)
        httpd.lab = self
        if self.tls:
            self._directory = Path(tempfile.mkdtemp(prefix="exchange-agent-lab-"))
            cert_path, key_path = _write_certificate(self._directory)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert_path, key_path)
            httpd.tls_context = context
            self._certificate_path = cert_path
        self._httpd = httpd
        self._stopping.clear()
        self._threads = [
            threading.Thread(
                target=httpd.serve_forever, args=(0.05,), name="lab-server", daemon=True
            ),
            threading.Thread(target=self._expire_idle, name="lab-server-idle", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, delete every shell and remove the certificate directory."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.server_close()
        with self._lock:
            shells = list(self._shells.values())
            self._shells.clear()
        for shell in shells:
            shell.close()
        for thread in self._threads:
            thread.join(5)
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None

    def __enter__(self) -> LabServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # Public state.

    @property
    def port(self) -> int:
        """The bound TCP port."""
        if self._httpd is None:
            raise RuntimeError("the lab server is not running; call start() first")
        return int(self._httpd.server_address[1])

    @property
    def _base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def exchange_url(self) -> str:
        """The URL of the Exchange endpoint (configuration ``Microsoft.Exchange``)."""
        return f"{self._base_url}/PowerShell"

    @property
    def windows_url(self) -> str:
        """The URL of the Windows endpoint (configuration ``Microsoft.PowerShell``)."""
        return f"{self._base_url}/wsman"

    @property
    def certificate_path(self) -> Path | None:
        """The PEM file of the self-signed certificate, or None without TLS."""
        return self._certificate_path

    def open_shells(self, user: str | None = None) -> int:
        """Return the number of open shells, of every user or of ``user``."""
        with self._lock:
            return sum(1 for shell in self._shells.values() if user in (None, shell.user))

    # Request handling.

    def _authenticate(self, header: str | None) -> str | None:
        if not header or not header.lower().startswith("basic "):
            return None
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        name, _, password = decoded.partition(":")
        for candidate in (name, name.rpartition("\\")[2], name.partition("@")[0]):
            if candidate in self.users and self.users[candidate] == password:
                return candidate
        return None

    def _handle(
        self, path: str, authorization: str | None, body: bytes, *, user: str | None = None
    ) -> _Response:
        self.knobs.count("requests")
        latency = self.knobs.latency
        if latency:
            time.sleep(latency)

        endpoint = _PATHS.get(path.rstrip("/").lower())
        if endpoint is None:
            return 404, _IIS_404, {}
        if user is None:
            user = self._authenticate(authorization)
        if user is None:
            self.knobs.count("unauthorized")
            log.info("lab server: rejected the credentials of a request to %s", path)
            return 401, b"", {"WWW-Authenticate": 'Basic realm="exchange-agent lab"'}
        try:
            request = wsman.parse_request(body)
        except wsman.MalformedRequestError as error:
            log.info("lab server: invalid request from %s: %s", user, error)
            return 400, str(error).encode(), {}

        action = _SHORT_ACTIONS.get(request.action)
        self.knobs.count(action or "unknown_action")
        injected = self._inject(request, action)
        if injected != "continue":
            return injected
        if self._stopping.is_set():
            # Keep-alive connections outlive shutdown(): close them instead of serving.
            return None
        if request.configuration != _CONFIGURATIONS[endpoint]:
            return self._fault(
                request,
                wsman.FAULT_RESOURCE_NOT_FOUND,
                f"The WS-Management service cannot process the request. The resource URI "
                f"({request.resource_uri}) was not found in the WS-Management catalog. This "
                f"endpoint serves {_CONFIGURATIONS[endpoint]} only.",
            )
        if action == "Create":
            return self._create(request, user, endpoint)
        if action is None:
            return 400, f"expected a WinRS shell action, found {request.action}".encode(), {}
        return self._on_shell(request, action, user)

    def _on_shell(self, request: wsman.WsmanRequest, action: str, user: str) -> _Response:
        """Run a request addressed to an existing shell, keeping the shell from expiring."""
        shell_id = (request.shell_id or "").upper()
        with self._lock:
            shell = self._shells.get(shell_id)
            if shell is None or shell.user != user:
                shell = None
            else:
                self._busy[shell_id] = self._busy.get(shell_id, 0) + 1
                shell.touch()
        if shell is None:
            return self._fault(request, wsman.FAULT_SHELL_NOT_FOUND, _shell_not_found(shell_id))
        try:
            return self._dispatch(request, action, shell)
        except ShellClosedError:
            return self._fault(request, wsman.FAULT_SHELL_NOT_FOUND, _shell_not_found(shell_id))
        except (InvalidPsrpDataError, binascii.Error, ValueError) as error:
            # Invalid PSRP data or base64 from the client: reject the request, keep serving.
            log.info("lab server: invalid %s request on shell %s: %s", action, shell_id, error)
            return 400, f"invalid PSRP data in the {action} request: {error}".encode(), {}
        finally:
            with self._lock:
                self._busy[shell_id] -= 1
                if not self._busy[shell_id]:
                    del self._busy[shell_id]
                shell.touch()

    def _inject(
        self, request: wsman.WsmanRequest, action: str | None
    ) -> _Response | Literal["continue"]:
        """Apply the knob injection matching this request, if any."""
        injection = self.knobs.take(action)
        if injection is None:
            return "continue"
        if injection.kind == "drop":
            return None
        if injection.kind == "status":
            return injection.status, b"", {}
        if injection.kind == "fault":
            return self._fault(request, injection.code, injection.message)
        self._stopping.wait(injection.seconds)
        return "continue"

    def _fault(self, request: wsman.WsmanRequest, code: int, message: str) -> _Response:
        self.knobs.count(f"fault_{code}")
        log.debug("lab server: fault %d for %s (shell %s)", code, request.action, request.shell_id)
        return 500, wsman.fault(request.message_id, code, message), {}

    def _create(self, request: wsman.WsmanRequest, user: str, endpoint: str) -> _Response:
        element = request.shell_element("Shell")
        if element is None:
            return 400, b"expected an rsp:Shell element in the Create body", {}
        shell_id = (element.get("ShellId") or str(uuid.uuid4())).upper()
        creation = element.findtext(f"{{{wsman.NS_POWERSHELL}}}creationXml")
        with self._lock:
            owned = sum(1 for shell in self._shells.values() if shell.user == user)
            if owned >= self.max_shells_per_user:
                self.knobs.count("throttled")
                throttled = True
            elif shell_id in self._shells:
                return 400, f"a shell with ShellId {shell_id} already exists".encode(), {}
            else:
                throttled = False
                shell = Shell(
                    shell_id,
                    user=user,
                    endpoint=endpoint,
                    engine=self.engine,
                    on_engine_error=self.engine_errors.append,
                )
                self._shells[shell_id] = shell
        if throttled:
            return self._fault(
                request, wsman.FAULT_THROTTLED, throttled_message(self.max_shells_per_user)
            )
        if creation:
            shell.feed(base64.b64decode(creation))
        address = f"{self._base_url}/{'PowerShell' if endpoint == 'exchange' else 'wsman'}"
        return 200, wsman.create_response(request, address, shell_id), {}

    def _dispatch(self, request: wsman.WsmanRequest, action: str, shell: Shell) -> _Response:
        if action == "Command":
            command_line = request.shell_element("CommandLine")
            if command_line is None:
                return 400, b"expected an rsp:CommandLine element in the Command body", {}
            command_id = (command_line.get("CommandId") or str(uuid.uuid4())).upper()
            shell.add_pipeline(command_id)
            arguments = command_line.findtext(f"{{{wsman.NS_SHELL}}}Arguments")
            if arguments:
                shell.feed(base64.b64decode(arguments))
            return 200, wsman.command_response(request, command_id), {}
        if action == "Send":
            for stream in request.body.iter(f"{{{wsman.NS_SHELL}}}Stream"):
                if stream.text:
                    shell.feed(base64.b64decode(stream.text))
            return 200, wsman.empty_response(request, "SendResponse"), {}
        if action == "Receive":
            return self._receive(request, shell)
        if action == "Signal":
            signal = request.shell_element("Signal")
            command_id = (signal.get("CommandId") or "") if signal is not None else ""
            code = request.body.findtext(f".//{{{wsman.NS_SHELL}}}Code") or ""
            if command_id and code.strip() == wsman.SIGNAL_PS_CTRL_C:
                shell.stop(command_id)
            elif command_id:
                shell.terminate(command_id)
            return 200, wsman.empty_response(request, "SignalResponse"), {}
        with self._lock:
            self._shells.pop(shell.id, None)
        shell.close()
        return 200, wsman.empty_response(request, None), {}

    def _receive(self, request: wsman.WsmanRequest, shell: Shell) -> _Response:
        desired = request.shell_element("DesiredStream")
        command_id = desired.get("CommandId") if desired is not None else None
        command_id = command_id.upper() if command_id else None
        # The PSRP fragments are base64 in the envelope: 3 bytes of data per 4 characters.
        budget = max(1, (request.max_envelope_size - _ENVELOPE_OVERHEAD) * 3 // 4)
        timeout = min(request.operation_timeout, _MAX_RECEIVE_WAIT)
        received = shell.receive(command_id, timeout, budget)
        if received is None:
            return self._fault(
                request,
                wsman.FAULT_OPERATION_TIMEOUT,
                "The WS-Management service cannot complete the operation within the time "
                "specified in OperationTimeout.",
            )
        chunks, done = received
        encoded = [base64.b64encode(chunk).decode("ascii") for chunk in chunks]
        return 200, wsman.receive_response(request, encoded, command_id, done), {}

    def _expire_idle(self) -> None:
        interval = min(0.25, self.idle_timeout / 4)
        while not self._stopping.wait(interval):
            cutoff = time.monotonic() - self.idle_timeout
            with self._lock:
                expired = [
                    shell
                    for shell in self._shells.values()
                    if shell.last_used < cutoff and shell.id not in self._busy
                ]
                for shell in expired:
                    del self._shells[shell.id]
            for shell in expired:
                self.knobs.count("expired_shells")
                shell.close()
