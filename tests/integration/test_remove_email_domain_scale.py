"""remove_email_domain at scale: bounded results, streaming, the query shape, parallel writes.

Everything runs on generated lab organizations through the in-process session. The parallel
path normally needs a PSRP session, so one test swaps the task's session factory for one that
opens more in-process sessions on the same lab engine.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from exchange_agent.journal import Journal, read_journal
from exchange_agent.lab.clock import ManualClock
from exchange_agent.lab.engine import LabEngine
from exchange_agent.lab.generate import generate_organization
from exchange_agent.lab.org import Organization
from exchange_agent.remote.command import Command, Pipeline, Statement
from exchange_agent.remote.errors import CommandError
from exchange_agent.remote.inprocess import InProcessSession
from exchange_agent.remote.result import ExObject, Result
from exchange_agent.remote.session import Session
from exchange_agent.tasks.base import TaskContext, TaskResult
from exchange_agent.tasks.email_domain import task as task_module
from exchange_agent.tasks.email_domain.plan import is_in_domain
from exchange_agent.tasks.email_domain.task import RemoveEmailDomainArgs, RemoveEmailDomainTask

DOMAIN = "fabrikam.com"


class _RecordingSession:
    """The in-process session, recording statements and how far each stream was read."""

    def __init__(self, inner: Session, delay_s: float = 0.0) -> None:
        self.inner = inner
        self.host = inner.host
        self.endpoint = inner.endpoint
        self.delay_s = delay_s
        self.streamed: list[Statement] = []
        self.yielded = 0
        self.yielded_at_first_write: int | None = None
        self.invoked: list[tuple[Statement, ...]] = []
        self.closed = False

    def invoke(self, *statements: Statement, timeout: float | None = None) -> Result:
        if self.yielded_at_first_write is None and str(statements[0]).startswith("Set-"):
            self.yielded_at_first_write = self.yielded
        self.invoked.append(statements)
        return self.inner.invoke(*statements, timeout=timeout)

    def stream(self, statement: Statement, timeout: float | None = None) -> Iterator[ExObject]:
        self.streamed.append(statement)
        for item in self.inner.stream(statement, timeout=timeout):
            self.yielded += 1
            yield item

    def close(self) -> None:
        self.closed = True


def _org(recipients: int = 400, affected: float = 0.5, seed: int = 3) -> Organization:
    return generate_organization(seed, recipients, affected, removed_domain=DOMAIN)


def _run(session: Session, tmp_path: Path, **args: Any) -> TaskResult:
    ctx = TaskContext(
        host="ex01",
        check_mode=False,
        diff=False,
        vars={},
        open_session=lambda endpoint: session,
        journal=Journal(tmp_path / "journal.jsonl", "run"),
    )
    arguments: dict[str, Any] = {"domain": DOMAIN, "primary": "promote", "steps": ["recipients"]}
    arguments.update(args)
    return RemoveEmailDomainTask(RemoveEmailDomainArgs(**arguments)).run(ctx)


def _left_in_domain(org: Organization) -> list[str]:
    return [
        r.name for r in org.recipients if any(is_in_domain(a, DOMAIN) for a in r.email_addresses)
    ]


def test_query_selects_needed_properties(tmp_path: Path) -> None:
    session = _RecordingSession(InProcessSession("ex01", LabEngine(_org(40), clock=ManualClock())))
    _run(session, tmp_path)
    query = session.streamed[0]
    assert isinstance(query, Pipeline)
    assert [command.name for command in query.commands] == ["Get-Recipient", "Select-Object"]
    properties = query.commands[1].get("Property")
    assert isinstance(properties, list)
    assert "EmailAddresses" in properties
    assert "Guid" in properties
    assert "Alias" not in properties


def test_query_adds_alias_for_template(tmp_path: Path) -> None:
    session = _RecordingSession(InProcessSession("ex01", LabEngine(_org(40), clock=ManualClock())))
    _run(session, tmp_path, primary="template", primary_template="%m@contoso.com")
    query = session.streamed[0]
    assert isinstance(query, Pipeline)
    properties = query.commands[1].get("Property")
    assert isinstance(properties, list)
    assert "Alias" in properties


def test_result_keeps_counts_and_sample(tmp_path: Path) -> None:
    org = _org()
    session = InProcessSession("ex01", LabEngine(org, clock=ManualClock()))
    result = _run(session, tmp_path, batch_size=7)
    entries, _ = read_journal(tmp_path / "journal.jsonl")
    assert result.data["changes"] == len(entries)
    assert result.data["changes"] > 100
    assert result.data["commands"] == len(entries)
    assert len(result.changes) == 20
    assert len(result.commands) == 20
    assert f"{len(entries)} change(s)" in result.message or result.status == "failed"


def test_problems_counted_past_the_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(task_module, "MAX_LISTED_PROBLEMS", 3)
    org = _org(recipients=600, affected=0.5)
    session = InProcessSession("ex01", LabEngine(org, clock=ManualClock()))
    # With 'fail', every recipient whose primary is in the domain is left unchanged.
    result = _run(session, tmp_path, primary="fail")
    assert result.status == "failed"
    assert result.data["problems"] > 3
    assert result.message.startswith(f"{result.data['problems']} recipient(s) left unchanged")
    assert result.message.count(": primary SMTP address") == 3
    listed = result.data["left_unchanged"]
    assert len(listed) == 3
    assert all("primary SMTP address is in the domain" in problem for problem in listed)


def test_writes_start_before_stream_ends(tmp_path: Path) -> None:
    org = _org(recipients=600)
    session = _RecordingSession(InProcessSession("ex01", LabEngine(org, clock=ManualClock())))
    _run(session, tmp_path, batch_size=10)
    assert session.yielded_at_first_write is not None
    # The first batch goes out once ten writable recipients have arrived, long before the
    # few hundred recipients of the stream are all read.
    assert session.yielded_at_first_write < 40
    assert session.yielded > 200


@pytest.mark.parametrize("value", [0, 18, 100])
def test_parallel_runspaces_limit(value: int) -> None:
    with pytest.raises(ValueError, match="invalid parallel_runspaces") as raised:
        RemoveEmailDomainArgs(domain=DOMAIN, parallel_runspaces=value)
    assert "18 concurrent shells" in str(raised.value)


def test_parallel_runspaces_max_accepted() -> None:
    assert RemoveEmailDomainArgs(domain=DOMAIN, parallel_runspaces=17).parallel_runspaces == 17


class _SharedEngine:
    """Sessions on one lab engine from several threads, counting batches in flight.

    Each call holds a lock because the lab engine is not thread-safe. The delay outside the
    lock replaces the network, which is where parallel writes overlap.
    """

    def __init__(self, engine: LabEngine, journal_path: Path, delay_s: float) -> None:
        self.engine = engine
        self.journal_path = journal_path
        self.delay_s = delay_s
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.unjournaled: list[str] = []
        self.sessions: list[_LockedSession] = []

    def factory(self) -> Callable[[], Session]:
        def open_session() -> Session:
            session = _LockedSession(self)
            with self.lock:
                self.sessions.append(session)
            return session

        return open_session


class _LockedSession:
    def __init__(self, shared: _SharedEngine) -> None:
        self.shared = shared
        self.inner = InProcessSession("ex01", shared.engine)
        self.host = "ex01"
        self.endpoint = self.inner.endpoint
        self.closed = False

    def invoke(self, *statements: Statement, timeout: float | None = None) -> Result:
        shared = self.shared
        with shared.lock:
            shared.in_flight += 1
            shared.max_in_flight = max(shared.max_in_flight, shared.in_flight)
            entries, _ = read_journal(shared.journal_path)
            journaled = {entry.target for entry in entries}
            for statement in statements:
                assert isinstance(statement, Command)
                identity = str(statement.get("Identity"))
                if identity not in journaled:
                    shared.unjournaled.append(identity)
        time.sleep(shared.delay_s)
        with shared.lock:
            shared.in_flight -= 1
            return self.inner.invoke(*statements, timeout=timeout)

    def stream(self, statement: Statement, timeout: float | None = None) -> Iterator[ExObject]:
        raise AssertionError("write sessions only invoke")

    def close(self) -> None:
        self.closed = True


def test_parallel_writes_bounded_and_journaled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = _org(recipients=600)
    engine = LabEngine(org, clock=ManualClock())
    shared = _SharedEngine(engine, tmp_path / "journal.jsonl", delay_s=0.01)
    monkeypatch.setattr(task_module, "write_session_factory", lambda session: shared.factory())
    main = _RecordingSession(InProcessSession("ex01", engine))

    result = _run(main, tmp_path, batch_size=5, parallel_runspaces=4)

    assert result.data["changes"] > 100
    assert len(_left_in_domain(org)) == result.data["problems"]
    assert shared.unjournaled == []
    # Four pools in all: the main one reads, three write.
    assert shared.max_in_flight == 3
    assert len(shared.sessions) == 3
    assert all(session.closed for session in shared.sessions)
    assert not any(str(s[0]).startswith("Set-") for s in main.invoked)


def test_parallel_failure_raises_and_closes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = _org(recipients=200)
    engine = LabEngine(org, clock=ManualClock())
    shared = _SharedEngine(engine, tmp_path / "journal.jsonl", delay_s=0.0)
    monkeypatch.setattr(task_module, "write_session_factory", lambda session: shared.factory())
    # A recipient removed behind the task's back makes its Set-* fail with "not found".
    victim = next(r for r in org.recipients if _left_in_domain_one(r))
    main = _RecordingSession(InProcessSession("ex01", engine))
    original_stream = main.stream

    def stream_then_remove(statement: Statement, timeout: float | None = None) -> Any:
        for item in original_stream(statement, timeout):
            if item.get("Guid") == victim.guid and victim in org.recipients:
                org.recipients.remove(victim)
            yield item

    monkeypatch.setattr(main, "stream", stream_then_remove)
    with pytest.raises(CommandError):
        _run(main, tmp_path, batch_size=5, parallel_runspaces=3)
    assert 1 <= len(shared.sessions) <= 2
    assert all(session.closed for session in shared.sessions)


def _left_in_domain_one(recipient: Any) -> bool:
    return any(is_in_domain(a, DOMAIN) for a in recipient.email_addresses)
