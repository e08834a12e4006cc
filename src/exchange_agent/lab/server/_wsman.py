"""WS-Management SOAP for the lab server: parse client requests, build responses and faults.

Element names and namespaces follow MS-WSMV (Web Services Management Protocol Extensions for
Windows Vista) as the pypsrp 0.9.1 client (``pypsrp/wsman.py``, ``pypsrp/shell.py``) writes
and reads them.
"""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

__all__ = [
    "ACTION_COMMAND",
    "ACTION_CREATE",
    "ACTION_DELETE",
    "ACTION_RECEIVE",
    "ACTION_SEND",
    "ACTION_SIGNAL",
    "FAULT_OPERATION_TIMEOUT",
    "FAULT_RESOURCE_NOT_FOUND",
    "FAULT_SHELL_NOT_FOUND",
    "FAULT_THROTTLED",
    "SIGNAL_PS_CTRL_C",
    "SIGNAL_TERMINATE",
    "MalformedRequestError",
    "WsmanRequest",
    "command_response",
    "create_response",
    "empty_response",
    "fault",
    "parse_request",
    "receive_response",
]

NS_SOAP = "http://www.w3.org/2003/05/soap-envelope"
NS_ADDRESSING = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
NS_WSMAN = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
NS_SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
NS_TRANSFER = "http://schemas.xmlsoap.org/ws/2004/09/transfer"
NS_POWERSHELL = "http://schemas.microsoft.com/powershell"
NS_FAULT = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"

ACTION_CREATE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create"
ACTION_DELETE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete"
ACTION_COMMAND = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command"
ACTION_SEND = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Send"
ACTION_RECEIVE = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive"
ACTION_SIGNAL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Signal"

SIGNAL_TERMINATE = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/terminate"
SIGNAL_PS_CTRL_C = "powershell/signal/crtl_c"

# winrm.h: ERROR_WSMAN_OPERATION_TIMEDOUT (0x80338029), ERROR_WSMAN_RESOURCE_NOT_FOUND
# (0x8033803B), ERROR_WSMAN_INVALID_SELECTORS (0x8033805B, sent for a ShellId the server no
# longer has) and ERROR_WSMAN_QUOTA_MAX_SHELLS_PPQ (0x803381A6, the per-user shell quota).
FAULT_OPERATION_TIMEOUT = 2150858793
FAULT_RESOURCE_NOT_FOUND = 2150858811
FAULT_SHELL_NOT_FOUND = 2150858843
FAULT_THROTTLED = 2150859174

_COMMAND_STATE_DONE = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done"
_COMMAND_STATE_RUNNING = (
    "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Running"
)
_DURATION = re.compile(r"^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?$")


class MalformedRequestError(ValueError):
    """Raised when a request body is not a WS-Management envelope the lab server understands."""


@dataclass
class WsmanRequest:
    """The fields of one WS-Management request that the lab server acts on."""

    action: str
    message_id: str
    resource_uri: str
    shell_id: str | None
    operation_timeout: float
    max_envelope_size: int
    body: ET.Element
    selectors: dict[str, str] = field(default_factory=dict)

    @property
    def configuration(self) -> str:
        """Return the PowerShell configuration name at the end of the resource URI."""
        return self.resource_uri.rsplit("/", 1)[-1]

    def shell_element(self, name: str) -> ET.Element | None:
        """Return the first body element in the shell namespace with local name ``name``."""
        return self.body.find(f".//{{{NS_SHELL}}}{name}")


def _parse_duration(text: str | None, default: float) -> float:
    match = _DURATION.match(text.strip()) if text else None
    if match is None:
        return default
    hours, minutes, seconds = match.groups()
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0)


def parse_request(data: bytes) -> WsmanRequest:
    """Parse a SOAP envelope into a :class:`WsmanRequest`.

    Raises:
        MalformedRequestError: The body is not XML or lacks the Action or MessageID header.
    """
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        # SOAP 1.2 forbids a document type declaration; rejecting one rules out the
        # entity-expansion attacks that defusedxml guards against.
        raise MalformedRequestError("expected a SOAP envelope, found a DTD declaration")
    try:
        root = ET.fromstring(data)  # noqa: S314
    except ET.ParseError as error:
        raise MalformedRequestError(
            f"expected a SOAP envelope, found invalid XML ({error})"
        ) from None
    header = root.find(f"{{{NS_SOAP}}}Header")
    body = root.find(f"{{{NS_SOAP}}}Body")
    if header is None or body is None:
        raise MalformedRequestError("expected a SOAP envelope with Header and Body elements")
    action = header.findtext(f"{{{NS_ADDRESSING}}}Action")
    message_id = header.findtext(f"{{{NS_ADDRESSING}}}MessageID")
    if not action or not message_id:
        raise MalformedRequestError("expected wsa:Action and wsa:MessageID headers")
    selectors = {
        selector.get("Name", ""): selector.text or ""
        for selector in header.iterfind(f"{{{NS_WSMAN}}}SelectorSet/{{{NS_WSMAN}}}Selector")
    }
    envelope_text = header.findtext(f"{{{NS_WSMAN}}}MaxEnvelopeSize") or ""
    return WsmanRequest(
        action=action.strip(),
        message_id=message_id.strip(),
        resource_uri=(header.findtext(f"{{{NS_WSMAN}}}ResourceURI") or "").strip(),
        shell_id=selectors.get("ShellId"),
        operation_timeout=_parse_duration(header.findtext(f"{{{NS_WSMAN}}}OperationTimeout"), 20.0),
        max_envelope_size=int(envelope_text) if envelope_text.strip().isdigit() else 153600,
        body=body,
        selectors=selectors,
    )


def _envelope(action: str, relates_to: str, body: str) -> bytes:
    # The client compares wsa:RelatesTo with the MessageID it sent, character for character.
    return (
        f'<s:Envelope xmlns:s="{NS_SOAP}" xmlns:a="{NS_ADDRESSING}" xmlns:w="{NS_WSMAN}" '
        f'xmlns:x="{NS_TRANSFER}" xmlns:rsp="{NS_SHELL}" xmlns:p="{NS_POWERSHELL}">'
        f"<s:Header><a:Action>{action}</a:Action>"
        f"<a:MessageID>uuid:{str(uuid.uuid4()).upper()}</a:MessageID>"
        f"<a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To>"
        f"<a:RelatesTo>{_escape(relates_to)}</a:RelatesTo></s:Header>"
        f"<s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def create_response(request: WsmanRequest, address: str, shell_id: str) -> bytes:
    """Build the Create response that hands the client its ShellId selector."""
    body = (
        f"<x:ResourceCreated><a:Address>{_escape(address)}</a:Address><a:ReferenceParameters>"
        f"<w:ResourceURI>{_escape(request.resource_uri)}</w:ResourceURI><w:SelectorSet>"
        f'<w:Selector Name="ShellId">{shell_id}</w:Selector></w:SelectorSet>'
        f"</a:ReferenceParameters></x:ResourceCreated>"
        f"<rsp:Shell><rsp:ShellId>{shell_id}</rsp:ShellId>"
        f"<rsp:ResourceUri>{_escape(request.resource_uri)}</rsp:ResourceUri>"
        f"<rsp:InputStreams>stdin pr</rsp:InputStreams>"
        f"<rsp:OutputStreams>stdout</rsp:OutputStreams></rsp:Shell>"
    )
    return _envelope(f"{ACTION_CREATE}Response", request.message_id, body)


def command_response(request: WsmanRequest, command_id: str) -> bytes:
    """Build the Command response echoing the pipeline id the client proposed."""
    body = f"<rsp:CommandResponse><rsp:CommandId>{command_id}</rsp:CommandId></rsp:CommandResponse>"
    return _envelope(f"{ACTION_COMMAND}Response", request.message_id, body)


def empty_response(request: WsmanRequest, element: str | None) -> bytes:
    """Build a response with an empty body element (Send, Signal) or an empty body (Delete)."""
    body = f"<rsp:{element}/>" if element else ""
    return _envelope(f"{request.action}Response", request.message_id, body)


def receive_response(
    request: WsmanRequest, chunks: list[str], command_id: str | None, done: bool
) -> bytes:
    """Build a Receive response from base64 ``chunks`` of the stdout stream."""
    command_attribute = f' CommandId="{command_id}"' if command_id else ""
    streams = "".join(
        f'<rsp:Stream Name="stdout"{command_attribute}>{chunk}</rsp:Stream>' for chunk in chunks
    )
    state = ""
    if command_id:
        state_uri = _COMMAND_STATE_DONE if done else _COMMAND_STATE_RUNNING
        exit_code = "<rsp:ExitCode>0</rsp:ExitCode>" if done else ""
        state = (
            f'<rsp:CommandState CommandId="{command_id}" State="{state_uri}">{exit_code}'
            "</rsp:CommandState>"
        )
    body = f"<rsp:ReceiveResponse>{streams}{state}</rsp:ReceiveResponse>"
    return _envelope(f"{ACTION_RECEIVE}Response", request.message_id, body)


def fault(relates_to: str, code: int, message: str) -> bytes:
    """Build a WS-Management fault envelope, sent with HTTP status 500."""
    text = _escape(message)
    body = (
        "<s:Fault><s:Code><s:Value>s:Receiver</s:Value><s:Subcode>"
        "<s:Value>w:InternalError</s:Value></s:Subcode></s:Code>"
        f'<s:Reason><s:Text xml:lang="en-US">{text}</s:Text></s:Reason><s:Detail>'
        f'<f:WSManFault xmlns:f="{NS_FAULT}" Code="{code}" Machine="127.0.0.1">'
        f"<f:Message>{text}</f:Message></f:WSManFault></s:Detail></s:Fault>"
    )
    return _envelope("http://schemas.dmtf.org/wbem/wsman/1/wsman/fault", relates_to, body)
