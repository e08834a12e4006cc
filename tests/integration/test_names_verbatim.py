"""Property tests: any text travels to Exchange as a parameter value, unchanged and inert.

Hypothesis generates names and comments full of the characters that break string-built
PowerShell (quotes of every kind, backtick, ``$``, ``;``, ``|``, newlines, non-ASCII and
control characters). Each is sent as a typed parameter through real ``pypsrp`` to the lab's
WinRM server, and through the in-process session. A comment reads back exactly as written. An
identity that names nothing comes back as not found, quoted verbatim, and nothing runs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from exchange_agent.lab.engine import LabEngine
from exchange_agent.lab.server import LabServer
from exchange_agent.lab.state import open_lab
from exchange_agent.remote.command import Command
from exchange_agent.remote.inprocess import InProcessSession
from exchange_agent.remote.psrp import PsrpSession
from exchange_agent.remote.session import Session
from exchange_agent.remote.settings import EndpointSettings

pytestmark = pytest.mark.wire

PASSWORD = "verbatim-9c1"
CONNECTOR = "EX01\\Default Frontend EX01"
PROPERTY = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

HOSTILE = list("'\"`$;|&<>(){}[]@#%\\\n\r\t\u2018\u2019\u201c\u201d\u00a0")
TEXT = st.text(
    alphabet=st.sampled_from(HOSTILE)
    | st.characters(exclude_categories=("Cs",), exclude_characters="\x00"),
    min_size=1,
    max_size=40,
)
# Texts that broke string-built commands elsewhere, and PowerShell's own XML escape syntax.
KNOWN = [
    "O'Brien",
    "Relay 'Printers' \"Floor 2\"",
    "$(Stop-Service MSExchangeTransport)",
    "'; Remove-Mailbox -Identity * -Confirm:$false; '",
    "a`nb",
    "_x0041_ _x000D_",
    "line1\r\nline2\n",
    "\x01\x1f\x7f",
    "Müller-Lüdenscheidt Ωmega 中文 🙂",
]
# An identity must not be empty after trimming; the lab resolves names as Exchange does.
IDENTITY = TEXT.filter(lambda text: text.strip() != "")


@pytest.fixture(scope="module")
def sessions() -> Iterator[tuple[PsrpSession, InProcessSession, LabServer]]:
    engine = LabEngine(open_lab())
    with LabServer(engine, users={"svc": PASSWORD}) as server:
        wire = PsrpSession(
            "ex01",
            EndpointSettings(
                url=server.exchange_url,
                configuration_name="Microsoft.Exchange",
                auth="basic",
                encryption="never",
                username="svc",
                password=SecretStr(PASSWORD),
                connect_timeout=5,
                read_timeout=30,
            ),
            retry_wait=0.001,
        )
        local = InProcessSession("ex01", LabEngine(open_lab()))
        try:
            yield wire, local, server
        finally:
            wire.close()
            local.close()
        assert server.open_shells() == 0


def comment_round_trip(session: Session, text: str) -> object:
    result = session.invoke(
        Command("Set-ReceiveConnector", {"Identity": CONNECTOR, "Comment": text})
    )
    assert result.ok, result.errors
    (connector,) = session.invoke(Command("Get-ReceiveConnector", {"Identity": CONNECTOR})).output
    return connector["Comment"]


def check_comment(sessions, text: str) -> None:
    wire, local, _ = sessions
    assert comment_round_trip(wire, text) == text
    assert comment_round_trip(local, text) == text


def check_unknown_identity(sessions, name: str) -> None:
    wire, local, _ = sessions
    for session in (wire, local):
        result = session.invoke(Command("Get-Mailbox", {"Identity": name}))
        assert not result.output
        (error,) = result.errors
        assert error.is_not_found
        assert name in error.message


@pytest.mark.parametrize("text", KNOWN)
def test_known_hard_texts(sessions, text: str) -> None:
    check_comment(sessions, text)
    check_unknown_identity(sessions, text)


@PROPERTY
@given(TEXT)
def test_comment_comes_back_as_written(sessions, text: str) -> None:
    check_comment(sessions, text)


@PROPERTY
@given(IDENTITY)
def test_unknown_identity_is_not_found_and_quoted(sessions, name: str) -> None:
    check_unknown_identity(sessions, name)
