"""NTLM (and Negotiate falling back to NTLM) for the lab server, with WinRM message encryption.

pyspnego's NTLM acceptor looks passwords up in the file named by the ``NTLM_USER_FILE``
environment variable, in the ``DOMAIN:USER:PASSWORD`` format (``spnego/_ntlm.py``). The variable
is process-wide, so one file collects the users of every NTLM lab server in the process.

Encrypted messages use the MIME framing that pypsrp 0.9.1 writes and reads
(``pypsrp/encryption.py``): a header part with the original length, then an octet-stream part
with a 4-byte little-endian signature length, the signature and the sealed data.
"""

from __future__ import annotations

import os
import re
import struct
import tempfile
import threading
from pathlib import Path
from typing import Any

import spnego

__all__ = ["NtlmError", "new_acceptor", "register_users", "unwrap_message", "wrap_message"]

_BOUNDARY = b"--Encrypted Boundary"
_PROTOCOL = "application/HTTP-SPNEGO-session-encrypted"
_LENGTH = re.compile(rb"Length=(\d+)")
_lock = threading.Lock()
_users: dict[str, str] = {}
_files: list[Path] = []


class NtlmError(Exception):
    """Raised when an encrypted request cannot be parsed or decrypted."""


def register_users(users: dict[str, str]) -> None:
    """Add ``users`` to the credential file that pyspnego's NTLM acceptor reads.

    NOTE: this sets ``NTLM_USER_FILE`` for the whole process, replacing any earlier value, and
    the file (in a temporary directory) stays until the process ends.
    """
    with _lock:
        _users.update(users)
        if not _files:
            directory = Path(tempfile.mkdtemp(prefix="exchange-agent-lab-ntlm-"))
            _files.append(directory / "ntlm-users")
        lines = []
        for name, password in _users.items():
            domain, _, user = name.rpartition("\\")
            lines.append(f"{domain}:{user}:{password}")
        _files[0].write_text("\n".join(lines) + "\n", encoding="utf-8")
        os.environ["NTLM_USER_FILE"] = str(_files[0])


def new_acceptor() -> Any:
    """Return a pyspnego acceptor context for one connection."""
    return spnego.server(protocol="negotiate")


def wrap_message(context: Any, message: bytes) -> tuple[str, bytes]:
    """Encrypt ``message``; return the Content-Type header value and the body."""
    result = context.wrap_winrm(message)
    length = len(message) + result.padding_length
    body = b"".join(
        [
            _BOUNDARY,
            f"\r\n\tContent-Type: {_PROTOCOL}\r\n".encode(),
            b"\tOriginalContent: type=application/soap+xml;charset=UTF-8;",
            f"Length={length}\r\n".encode(),
            _BOUNDARY,
            b"\r\n\tContent-Type: application/octet-stream\r\n",
            struct.pack("<i", len(result.header)),
            result.header,
            result.data,
            _BOUNDARY,
            b"--\r\n",
        ]
    )
    content_type = f'multipart/encrypted;protocol="{_PROTOCOL}";boundary="Encrypted Boundary"'
    return content_type, body


def unwrap_message(context: Any, body: bytes) -> bytes:
    """Decrypt a ``multipart/encrypted`` request body.

    Raises:
        NtlmError: The body does not have the two MIME parts, or the decrypted length differs
            from the declared one.
    """
    parts = [part for part in body.split(_BOUNDARY + b"\r\n") if part]
    if len(parts) != 2:
        raise NtlmError(f"expected 2 MIME parts in the encrypted body, found {len(parts)}")
    declared = _LENGTH.search(parts[0])
    if declared is None:
        raise NtlmError("expected OriginalContent with Length= in the encrypted body")
    payload = parts[1].removesuffix(_BOUNDARY + b"--\r\n")
    payload = payload.removeprefix(b"\tContent-Type: application/octet-stream\r\n")
    if len(payload) < 4:
        raise NtlmError("expected a signature length in the encrypted body")
    (header_length,) = struct.unpack("<i", payload[:4])
    header = payload[4 : 4 + header_length]
    data: bytes = context.unwrap_winrm(header, payload[4 + header_length :])
    if len(data) != int(declared.group(1)):
        raise NtlmError(
            f"expected {int(declared.group(1))} decrypted bytes, found {len(data)}: the key or "
            "the signature does not match"
        )
    return data
