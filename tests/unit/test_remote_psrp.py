"""PsrpSession internals through real pypsrp objects, without a server.

Command building is checked on the CLIXML pypsrp itself produces for the CREATE_PIPELINE
message, and the parser hook on PSRP messages unpacked by pypsrp's own ``Message.unpack``.
"""

from __future__ import annotations

import base64
import struct
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.padding import PKCS7
from pydantic import SecretStr
from pypsrp.complex_objects import GenericComplexObject, PSInvocationState
from pypsrp.messages import Message, MessageType
from pypsrp.messages import Pipeline as PsrpPipeline
from pypsrp.powershell import PowerShell

from exchange_agent.remote.clixml import parse_object
from exchange_agent.remote.command import Command, Secret, Switch
from exchange_agent.remote.errormap import is_transient
from exchange_agent.remote.errors import OperationTimeoutError, RemoteError, StalledError
from exchange_agent.remote.psrp import (
    FastSerializer,
    PsrpSession,
    _add_statement,
    _error_record,
    _is_read,
    parallel,
)
from exchange_agent.remote.result import ExObject
from exchange_agent.remote.session import Session
from exchange_agent.remote.settings import EndpointSettings

FIXTURES = Path("/work/shared/fixtures/exchange-clixml")
# Port 9 (discard) on loopback: nothing in these tests connects, pools open lazily.
SETTINGS = EndpointSettings(
    url="http://127.0.0.1:9/PowerShell",
    auth="basic",
    encryption="never",
    username="lab\\ada",
    password=SecretStr("never-logged"),
)

EXCHANGE_ERROR = (
    '<Obj RefId="0"><TN RefId="0"><T>System.Management.Automation.ErrorRecord</T>'
    "<T>System.Object</T></TN><ToString>The operation couldn't be performed because object "
    "'EX01\\Nope' couldn't be found on 'dc01.contoso.com'.</ToString><MS>"
    '<Obj N="Exception" RefId="1"><TN RefId="1">'
    "<T>Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException</T>"
    "<T>System.Exception</T><T>System.Object</T></TN><ToString>not found</ToString>"
    '<Props><S N="Message">not found</S></Props></Obj>'
    '<Nil N="TargetObject" />'
    '<S N="FullyQualifiedErrorId">[Server=EX01,RequestId=5e3e4f0b-0f59-4d4e-9c41-3e0f4c1bd7b1,'
    "TimeStamp=12/4/2026 10:00:00 AM] [FailureCategory=Cmdlet-ManagementObjectNotFoundException]"
    " E3DE7D95,Microsoft.Exchange.Management.SystemConfigurationTasks.GetReceiveConnector</S>"
    '<Nil N="InvocationInfo" />'
    '<I32 N="ErrorCategory_Category">13</I32>'
    '<S N="ErrorCategory_Activity">Get-ReceiveConnector</S>'
    '<S N="ErrorCategory_Reason">ManagementObjectNotFoundException</S>'
    '<S N="ErrorCategory_TargetName">EX01\\Nope</S>'
    '<S N="ErrorCategory_TargetType">String</S>'
    '<S N="ErrorCategory_Message">ObjectNotFound: (EX01\\Nope:String) [Get-ReceiveConnector], '
    "ManagementObjectNotFoundException</S>"
    '<B N="SerializeExtendedInfo">false</B>'
    "</MS></Obj>"
)


SESSION_CIPHER = Cipher(algorithms.AES(bytes(range(32))), modes.CBC(b"\x00" * 16))


def decrypt_secure_string(text: str) -> str:
    """Decrypt a SecureString's base64 text with the session key, as the server does."""
    decryptor = SESSION_CIPHER.decryptor()
    padded = decryptor.update(base64.b64decode(text)) + decryptor.finalize()
    unpadder = PKCS7(128).unpadder()
    return (unpadder.update(padded) + unpadder.finalize()).decode("utf-16-le")


def unpack(message_type: MessageType, body: str) -> Message:
    """Unpack one PSRP message with pypsrp, as a pool does with a received fragment."""
    header = struct.pack("<II", 2, message_type)
    ids = uuid.uuid4().bytes_le + uuid.uuid4().bytes_le
    return Message.unpack(header + ids + body.encode("utf-8"), FastSerializer())


def pipeline_clixml(*statements: Any) -> list[ExObject]:
    """Return the statements of the CREATE_PIPELINE message pypsrp would send, parsed back."""
    session = PsrpSession("ex01", SETTINGS)
    pool = session._new_pool()
    # An opened pool carries the negotiated protocol version; commands need it to serialize.
    pool.protocol_version = "2.3"
    # And, once a SecureString was sent, the session key of the MS-PSRP key exchange.
    pool._serializer.cipher = SESSION_CIPHER
    pool._key_exchanged = True
    ps = PowerShell(pool)
    for index, statement in enumerate(statements):
        if index:
            ps.add_statement()
        _add_statement(ps, statement)
    element = pool._serializer.serialize(
        PsrpPipeline(is_nested=False, cmds=ps.commands, history="", redirect_err_to_out=False)
    )
    text = ET.tostring(element, encoding="unicode")
    assert "s3cret" not in text
    parsed = parse_object(text)
    assert isinstance(parsed, ExObject)
    # pypsrp writes a single statement as Cmds and several as ExtraCmds, one entry each.
    return parsed["ExtraCmds"] or [parsed]


def arguments(command: ExObject) -> dict[str, Any]:
    return {arg["N"]: arg["V"] for arg in command["Args"]}


def test_parameters_serialize_as_command_objects() -> None:
    parsed = pipeline_clixml(
        Command(
            "Set-Mailbox",
            {
                "Identity": "ada",
                "EmailAddresses": {"Remove": ("smtp:ada@fabrikam.com",)},
                "Force": Switch(True),
                "Confirm": Switch(False),
                "Password": Secret("s3cret"),
                "Count": 5,
                "Names": ["a", "b"],
                "Raw": b"\x00\x01",
            },
        )
    )
    (statement,) = parsed
    (command,) = statement["Cmds"]
    assert command["Cmd"] == "Set-Mailbox"
    assert command["IsScript"] is False
    args = arguments(command)
    assert args["Identity"] == "ada"
    assert args["EmailAddresses"] == {"Remove": ["smtp:ada@fabrikam.com"]}
    assert args["Force"] is None
    assert args["Confirm"] is False
    # A Secret travels as a SecureString encrypted with the session key, never as text.
    assert args["Password"] != "s3cret"
    assert decrypt_secure_string(args["Password"]) == "s3cret"
    assert args["Count"] == 5
    assert args["Names"] == ["a", "b"]
    assert args["Raw"] == b"\x00\x01"


def test_pipeline_and_statements() -> None:
    parsed = pipeline_clixml(
        Command("Get-ReceiveConnector", {"Identity": "EX01\\Relay"})
        | Command("Add-ADPermission", {"User": "NT AUTHORITY\\ANONYMOUS LOGON"}),
        Command("Get-AcceptedDomain"),
    )
    first, second = parsed
    assert [c["Cmd"] for c in first["Cmds"]] == ["Get-ReceiveConnector", "Add-ADPermission"]
    assert [c["Cmd"] for c in second["Cmds"]] == ["Get-AcceptedDomain"]
    assert all(c["IsScript"] is False for c in first["Cmds"] + second["Cmds"])


def test_output_message_uses_fast_parser() -> None:
    body = (FIXTURES / "3gstudent/Ex2016_GetMailbox_PipelineOutput_wire.xml").read_text()
    message = unpack(MessageType.PIPELINE_OUTPUT, body.strip())
    mailbox = message.data.data
    assert isinstance(mailbox, ExObject)
    assert mailbox["EmailAddresses"] == ["SMTP:Administrator@test.com"]


def test_primitive_output_message() -> None:
    assert unpack(MessageType.PIPELINE_OUTPUT, "<S>line_x000A_</S>").data.data == "line\n"


def test_other_messages_keep_pypsrp_types() -> None:
    message = unpack(
        MessageType.PIPELINE_STATE,
        '<Obj RefId="0"><MS><I32 N="PipelineState">4</I32></MS></Obj>',
    )
    assert message.data.state == PSInvocationState.COMPLETED


def test_error_record_conversion() -> None:
    message = unpack(MessageType.ERROR_RECORD, EXCHANGE_ERROR)
    record = _error_record(message.data)
    assert record.is_not_found
    assert record.failure_category == "Cmdlet-ManagementObjectNotFoundException"
    assert record.category == "ObjectNotFound"
    assert record.reason == "ManagementObjectNotFoundException"
    assert record.target == "EX01\\Nope"
    assert record.exception_type == (
        "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException"
    )
    assert record.message.startswith("The operation couldn't be performed")


def test_malformed_output_falls_back_to_pypsrp() -> None:
    # pypsrp returns text it cannot parse as XML unchanged.
    message = unpack(MessageType.PIPELINE_OUTPUT, "<Obj><broken")
    assert not isinstance(message.data.data, ExObject | GenericComplexObject)


@pytest.mark.parametrize(
    ("statements", "expected"),
    [
        ([Command("Get-Mailbox")], True),
        ([Command("Get-Mailbox"), Command("Test-ServiceHealth")], True),
        ([Command("Get-ReceiveConnector") | Command("Add-ADPermission")], False),
        ([Command("Get-Mailbox"), Command("Set-Mailbox")], False),
    ],
)
def test_reads_are_recognised(statements: list[Command], expected: bool) -> None:
    assert _is_read(statements) is expected


def test_session_protocol_and_properties() -> None:
    session = PsrpSession("ex01", SETTINGS)
    assert isinstance(session, Session)
    assert session.host == "ex01"
    assert session.endpoint == "exchange"


def test_invoke_without_statements_raises() -> None:
    with pytest.raises(ValueError, match="at least one statement"):
        PsrpSession("ex01", SETTINGS).invoke()


def test_closed_session_rejects_calls() -> None:
    session = PsrpSession("ex01", SETTINGS)
    session.close()
    session.close()
    with pytest.raises(RemoteError, match="session is closed"):
        session.invoke(Command("Get-Mailbox"))


def test_parallel_rejects_too_many_pools() -> None:
    with pytest.raises(ValueError, match="expected 1 to 17"):
        list(parallel(lambda: PsrpSession("ex01", SETTINGS), [], max_pools=18))


class SilentPipeline:
    """A running pipeline whose Receives come back empty, as after a lost Receive response.

    ``answers`` lists how many output objects each poll adds; after them, polls add nothing.
    """

    def __init__(self, answers: list[int] | None = None) -> None:
        self.state = PSInvocationState.RUNNING
        self.output: list[Any] = []
        self.streams = type("Streams", (), {})()
        for name in ("error", "warning", "verbose", "progress", "information", "debug"):
            setattr(self.streams, name, [])
        self.answers = list(answers or [])
        self.polls = 0
        self.stopped = False

    def poll_invoke(self, timeout: int | None = None) -> None:
        self.polls += 1
        if self.answers:
            self.output.extend(["object"] * self.answers.pop(0))
        time.sleep(0.01)

    def stop(self) -> None:
        self.stopped = True
        self.state = PSInvocationState.STOPPED


def stall_session(limit: float) -> PsrpSession:
    settings = EndpointSettings(
        url="http://127.0.0.1:9/PowerShell",
        auth="basic",
        encryption="never",
        username="lab\\ada",
        password=SecretStr("never-logged"),
        stall_timeout=limit,
    )
    return PsrpSession("ex01", settings)


def test_silent_command_is_stopped_after_stall_timeout() -> None:
    pipeline = SilentPipeline()
    started = time.monotonic()
    with pytest.raises(StalledError, match=r"sent nothing for 0\.2 s and was stopped") as caught:
        stall_session(0.2)._wait(pipeline, None, "Set-ReceiveConnector")  # type: ignore[arg-type]
    assert pipeline.stopped
    assert time.monotonic() - started < 2
    # A stalled read may run again on a new pool; the retry loop only retries reads.
    assert is_transient(caught.value)
    assert not is_transient(OperationTimeoutError("ran out of its own timeout"))


def test_command_that_keeps_sending_is_not_stalled() -> None:
    # Twenty polls each bring an object, longer in total than the stall limit.
    pipeline = SilentPipeline([1] * 20)
    session = stall_session(0.1)
    with pytest.raises(OperationTimeoutError):
        session._wait(pipeline, None, "Get-Recipient")  # type: ignore[arg-type]
    assert len(pipeline.output) == 20
    assert pipeline.polls > 20
