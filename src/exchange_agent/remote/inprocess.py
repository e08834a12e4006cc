"""A session that runs commands directly on a lab engine, in the same process.

It converts each :class:`~exchange_agent.remote.command.Command` into the
:class:`~exchange_agent.lab.contract.CmdletCall` the WinRM server would build from the wire:
a present switch becomes ``None``, a secret its text, a tuple a list. Output objects are
serialized to CLIXML with the lab's serializer and parsed back with :mod:`remote.clixml`, so
both session kinds share one normaliser and tests on this session exercise the parser that the
pypsrp session uses.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import structlog

from exchange_agent.lab.contract import (
    CmdletCall,
    Engine,
    LabErrorRecord,
    LabObject,
    LabTerminatingError,
    LabWarning,
    MultiValued,
    SecureText,
)
from exchange_agent.remote.clixml import parse_object
from exchange_agent.remote.command import Secret, Statement, Switch, as_pipeline
from exchange_agent.remote.errors import CommandError, OperationTimeoutError, RemoteError
from exchange_agent.remote.result import ErrorRecord, ExObject, PipelineState, Result
from exchange_agent.remote.session import EndpointKind

__all__ = ["InProcessSession", "to_cmdlet_calls", "wire_value"]

log = structlog.get_logger(__name__)


def wire_value(value: Any) -> Any:
    """Convert a parameter value to what the server receives over PowerShell remoting."""
    if isinstance(value, Switch):
        # A present switch arrives as a parameter without a value; an absent one as $false.
        return None if value.on else False
    if isinstance(value, Secret):
        # Remoting carries a SecureString encrypted with the session key.
        return SecureText(value.value)
    if isinstance(value, str | bytes | bool | int | float) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(key): wire_value(item) for key, item in value.items()}
    return [wire_value(item) for item in value]


def to_cmdlet_calls(statement: Statement) -> list[CmdletCall]:
    """Convert one statement into the pipeline of calls the lab engine runs."""
    return [
        CmdletCall(
            command.name,
            {parameter.name: wire_value(parameter.value) for parameter in command.parameters},
        )
        for command in as_pipeline(statement).commands
    ]


def _lab_error(record: LabErrorRecord) -> ErrorRecord:
    return ErrorRecord(
        message=record.message,
        fully_qualified_error_id=record.fully_qualified_error_id,
        category=record.category,
        reason=record.reason,
        target=record.target,
        command=record.command,
        exception_type=record.exception_type,
    )


def _serializer() -> Callable[[LabObject], str] | None:
    """Return the lab's ``serialize_object(obj) -> str``, or None while it does not exist."""
    try:
        module = importlib.import_module("exchange_agent.lab.clixml")
    except ImportError:
        return None
    serialize: Callable[[LabObject], str] | None = getattr(module, "serialize_object", None)
    return serialize


def _direct(value: Any) -> Any:
    """Convert a lab value to what the parser would return, without CLIXML in between."""
    if isinstance(value, LabObject):
        return ExObject(
            value.type_names,
            value.to_string,
            {name: _direct(item) for name, item in value.properties.items()},
        )
    if isinstance(value, MultiValued):
        return [_direct(item) for item in value.items]
    if isinstance(value, list | tuple):
        return [_direct(item) for item in value]
    return value


class InProcessSession:
    """A :class:`~exchange_agent.remote.session.Session` on a lab :class:`Engine`.

    Args:
        host: Inventory host name.
        engine: The simulated organization.
        endpoint: Which endpoint this session stands for; the engine decides which cmdlets
            exist on it (Exchange's endpoint has no ``Restart-Service``).
        user: The user the engine runs commands as (RBAC and throttling are per user).
        server_name: The Exchange server this session is connected to, such as ``EX01``.
    """

    def __init__(
        self,
        host: str,
        engine: Engine,
        endpoint: EndpointKind = "exchange",
        user: str = "CONTOSO\\administrator",
        server_name: str | None = None,
    ) -> None:
        self._host = host
        self._engine = engine
        self._endpoint: EndpointKind = endpoint
        self._user = user
        self._server_name = server_name or host.split(".", 1)[0].upper()
        self._closed = False
        self._serialize = _serializer()
        if self._serialize is None:
            # NOTE: until exchange_agent.lab.clixml exists, output skips the CLIXML round trip,
            # so this session does not exercise the parser.
            log.debug("inprocess.no_serializer", host=host)

    @property
    def host(self) -> str:
        """The inventory host name this session belongs to."""
        return self._host

    @property
    def endpoint(self) -> EndpointKind:
        """Which of the host's endpoints this session talks to."""
        return self._endpoint

    @property
    def server_name(self) -> str:
        """The Exchange server this session is connected to."""
        return self._server_name

    def _check_open(self) -> None:
        if self._closed:
            raise RemoteError(
                "the session is closed: open a new one", host=self._host, endpoint=self._endpoint
            )

    def _output(self, value: LabObject) -> Any:
        if self._serialize is None:
            return _direct(value)
        return parse_object(self._serialize(value))

    def invoke(self, *statements: Statement, timeout: float | None = None) -> Result:
        """Run ``statements`` in order and return their combined output.

        A terminating error in one statement ends the invocation with state ``Failed``; the
        statements after it do not run, as in PowerShell.

        Raises:
            OperationTimeoutError: The engine took longer than ``timeout`` seconds.
            ValueError: No statements were given.
        """
        if not statements:
            raise ValueError("invoke needs at least one statement")
        self._check_open()
        started = time.monotonic()
        result = Result()
        state: PipelineState = "Completed"
        for statement in statements:
            try:
                for event in self._engine.invoke(
                    to_cmdlet_calls(statement), endpoint=self._endpoint, user=self._user
                ):
                    self._collect(event, result)
            except LabTerminatingError as error:
                result.errors.append(_lab_error(error.record))
                state = "Failed"
                break
        result.state = state
        self._check_time(started, timeout, as_pipeline(statements[0]).commands[0].name)
        return result

    def _collect(self, event: Any, result: Result) -> None:
        if isinstance(event, LabErrorRecord):
            result.errors.append(_lab_error(event))
        elif isinstance(event, LabWarning):
            result.warnings.append(event.message)
        else:
            result.output.append(self._output(event))

    def _check_time(self, started: float, timeout: float | None, cmdlet: str) -> None:
        if timeout is not None and time.monotonic() - started > timeout:
            raise OperationTimeoutError(
                f"{cmdlet} did not finish within {timeout:g} s",
                host=self._host,
                endpoint=self._endpoint,
                cmdlet=cmdlet,
            )

    def stream(self, statement: Statement, timeout: float | None = None) -> Iterator[ExObject]:
        """Yield the output objects of ``statement`` one by one.

        Raises:
            CommandError: At the first error record, after the objects before it.
        """
        self._check_open()
        started = time.monotonic()
        cmdlet = as_pipeline(statement).commands[0].name
        try:
            for event in self._engine.invoke(
                to_cmdlet_calls(statement), endpoint=self._endpoint, user=self._user
            ):
                if isinstance(event, LabErrorRecord):
                    raise CommandError(
                        [_lab_error(event)], host=self._host, endpoint=self._endpoint
                    )
                if isinstance(event, LabWarning):
                    log.info(
                        "session.warning", host=self._host, cmdlet=cmdlet, message=event.message
                    )
                    continue
                yield self._output(event)
                self._check_time(started, timeout, cmdlet)
        except LabTerminatingError as error:
            raise CommandError(
                [_lab_error(error.record)], host=self._host, endpoint=self._endpoint
            ) from error

    def close(self) -> None:
        """Mark the session closed. Safe to call twice."""
        self._closed = True
