"""One remote shell of the lab server: a psrpcore runspace pool, its pipelines and their output.

The HTTP layer feeds the PSRP fragments of Create, Command and Send requests in, and Receive
requests take outgoing fragments from one queue per target (the pool, or one pipeline). Each
pipeline runs on its own worker thread so a long engine call does not block other requests.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from psrpcore import (
    CreatePipelineEvent,
    GetAvailableRunspacesEvent,
    ServerPipeline,
    ServerRunspacePool,
    SetMaxRunspacesEvent,
    SetMinRunspacesEvent,
)
from psrpcore._payload import PSRPMessage, PSRPPayload, StreamType, create_message
from psrpcore.types import (
    PSInvocationState,
    PSRPMessageType,
    PSSecureString,
)

from exchange_agent.lab.clixml import (
    serialize_error_record,
    serialize_object,
    serialize_warning,
)
from exchange_agent.lab.contract import (
    CmdletCall,
    Engine,
    LabErrorRecord,
    LabObject,
    LabTerminatingError,
    LabWarning,
    SecureText,
)

__all__ = ["InvalidPsrpDataError", "Shell", "ShellClosedError"]

# Size of one outgoing PSRP fragment. Several fit in one Receive envelope, whose size the
# client sets (153,600 bytes by default, 512,000 after protocol 2.3 is negotiated).
_FRAGMENT_SIZE = 32_768
# After the first output exists, a Receive waits this long for more before it returns: a
# prototype measured about 24 Receives per 1,000 objects with the wait and 560 without it.
_FILL_WAIT = 0.05
_OBJECT_REF_ID = re.compile(r'(<Obj[^>]*? RefId=")(\d+)"')
_FINAL_STATES = (PSInvocationState.Completed, PSInvocationState.Failed, PSInvocationState.Stopped)

SCRIPTS_NOT_ALLOWED = LabErrorRecord(
    message=(
        "The syntax is not supported by this runspace. This can occur if the runspace is in "
        "no-language mode."
    ),
    fully_qualified_error_id="ScriptsNotAllowed",
    category="ParserError",
    reason="ParseException",
    exception_type="System.Management.Automation.ParseException",
)


class InvalidPsrpDataError(ValueError):
    """Raised when fragments from the client cannot be parsed as PSRP messages."""


class ShellClosedError(Exception):
    """Raised when a request reaches a shell that was deleted or expired meanwhile."""


@dataclass
class _Run:
    """A pipeline of the shell and the flags its worker thread checks."""

    pipeline: ServerPipeline
    command_id: str
    stopped: bool = False
    started: bool = False
    worker: threading.Thread | None = field(default=None, repr=False)


def _plain(value: Any) -> Any:
    """Convert a deserialized psrpcore value to plain Python types for the engine."""
    if isinstance(value, PSSecureString):
        return SecureText(value.decrypt())
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, dict):
        return {_plain(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _extended(clixml: str) -> str:
    """Move the outer object's properties from ``<Props>`` to ``<MS>``.

    PowerShell writes the fields of ErrorRecord and InformationalRecord messages as extended
    (note) properties, and pypsrp 0.9.1 reads them only from ``<MS>``. The lab serializer writes
    ``<Props>``, so the outer object's first ``<Props>`` and last ``</Props>`` are renamed.
    """
    # The outer object's property bag follows its own ToString (or, without one, its type
    # names), before any nested object, so only a <Props> right there is converted.
    marker = "</ToString>" if "</ToString>" in clixml else "</TN>"
    start = clixml.find(marker) + len(marker)
    end = clixml.rfind("</Props>")
    if start < len(marker) or not clixml.startswith("<Props>", start) or end < start:
        return clixml
    return f"{clixml[:start]}<MS>{clixml[start + 7 : end]}</MS>{clixml[end + 8 :]}"


def _statements(metadata: Any) -> list[list[Any]]:
    """Split the commands of a psrpcore ``PowerShell`` into statements."""
    statements: list[list[Any]] = [[]]
    for command in metadata.commands:
        statements[-1].append(command)
        if command.end_of_statement:
            statements.append([])
    return [statement for statement in statements if statement]


def _failed_state(record: LabErrorRecord) -> str:
    """Build the CLIXML of a PIPELINE_STATE message for Failed carrying ``record``."""
    # The error record becomes a property of the state object: its objects are renumbered
    # after the outer object's RefId 0 so that every RefId stays unique in the message.
    error = _OBJECT_REF_ID.sub(
        lambda match: f'{match.group(1)}{int(match.group(2)) + 1}"',
        _extended(serialize_error_record(record)),
    )
    error = error.replace("<Obj RefId=", '<Obj N="ExceptionAsErrorRecord" RefId=', 1)
    state = int(PSInvocationState.Failed)
    return f'<Obj RefId="0"><MS><I32 N="PipelineState">{state}</I32>{error}</MS></Obj>'


class Shell:
    """A WinRS shell hosting one PSRP runspace pool for one authenticated user.

    Every method takes ``condition``, which guards the psrpcore objects and the queues;
    psrpcore itself is not thread-safe.
    """

    def __init__(
        self,
        shell_id: str,
        *,
        user: str,
        endpoint: str,
        engine: Engine,
        on_engine_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.id = shell_id
        self.user = user
        self.endpoint = endpoint
        self.last_used = time.monotonic()
        self.closed = False
        self._engine = engine
        self._on_engine_error = on_engine_error
        self._pool = ServerRunspacePool()
        self._condition = threading.Condition()
        self._outgoing: dict[uuid.UUID | None, deque[bytes]] = {None: deque()}
        self._runs: dict[uuid.UUID, _Run] = {}

    def touch(self) -> None:
        """Record activity, which postpones the idle timeout."""
        self.last_used = time.monotonic()

    # Requests from the client.

    def feed(self, data: bytes) -> None:
        """Process PSRP fragments sent by the client (creationXml, Arguments or Send)."""
        with self._condition:
            self._check_open()
            self._pool.receive_data(PSRPPayload(data, StreamType.default, None))
            try:
                self._process_events()
            except Exception as error:
                # Drop the unparsed bytes so that the next valid request starts clean.
                self._pool._receive_buffer = bytearray()
                raise InvalidPsrpDataError(f"{type(error).__name__}: {error}") from error
            finally:
                self._route()

    def _process_events(self) -> None:
        while (event := self._pool.next_event()) is not None:
            if isinstance(event, CreatePipelineEvent):
                self._start(event.pipeline_id)
            elif isinstance(event, GetAvailableRunspacesEvent):
                self._pool.runspace_availability_response(event.ci, self._pool.max_runspaces)
            elif isinstance(event, SetMaxRunspacesEvent | SetMinRunspacesEvent):
                self._pool.runspace_availability_response(event.ci, True)

    def add_pipeline(self, command_id: str) -> None:
        """Create the server pipeline for a Command request before its first fragment arrives.

        psrpcore rejects a CreatePipeline message for a pipeline id it does not know yet.
        """
        pipeline_id = uuid.UUID(command_id)
        with self._condition:
            self._check_open()
            pipeline = ServerPipeline(self._pool, pipeline_id)
            self._runs[pipeline_id] = _Run(pipeline, command_id)
            self._outgoing[pipeline_id] = deque()

    def stop(self, command_id: str) -> None:
        """Stop a running pipeline (PowerShell's Ctrl+C signal)."""
        with self._condition:
            run = self._runs.get(uuid.UUID(command_id))
            if run is None:
                return
            run.stopped = True
            if run.pipeline.state == PSInvocationState.Running:
                run.pipeline.stop()
            elif run.pipeline.state == PSInvocationState.NotStarted:
                run.pipeline.start()
                run.pipeline.stop()
            self._route()

    def terminate(self, command_id: str) -> None:
        """Discard a pipeline the client has closed (the WinRS terminate signal)."""
        with self._condition:
            self._evict(uuid.UUID(command_id))

    def close(self) -> None:
        """Delete the shell: stop its pipelines and wake every waiting Receive."""
        with self._condition:
            self.closed = True
            for run in self._runs.values():
                run.stopped = True
            self._runs.clear()
            self._outgoing.clear()
            self._condition.notify_all()

    def receive(
        self, command_id: str | None, timeout: float, budget: int
    ) -> tuple[list[bytes], bool] | None:
        """Wait for outgoing fragments of the pool or of one pipeline.

        Args:
            command_id: The pipeline, or None for the runspace pool.
            timeout: Seconds to wait for the first fragment.
            budget: Maximum bytes of fragments to return (at least one is returned).

        Returns:
            The fragments and whether the pipeline has finished and has nothing more to send,
            or None when nothing arrived within ``timeout``.

        Raises:
            ShellClosedError: The shell was deleted or expired before or during the wait.
        """
        target = uuid.UUID(command_id) if command_id else None
        deadline = time.monotonic() + timeout
        with self._condition:
            self._check_open()
            queue = self._outgoing.get(target)
            if queue is None:
                # A pipeline already delivered and evicted: nothing more will come.
                return [], True
            while not queue and not self._finished(target):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._condition.wait(remaining)
                self._check_open()
            fill_deadline = time.monotonic() + _FILL_WAIT
            # Only pipeline output streams in; the pool's messages come as one batch.
            while (
                target is not None and not self._finished(target) and sum(map(len, queue)) < budget
            ):
                remaining = fill_deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._condition.wait(remaining)
                self._check_open()
            chunks: list[bytes] = []
            size = 0
            while queue and (not chunks or size + len(queue[0]) <= budget):
                chunk = queue.popleft()
                chunks.append(chunk)
                size += len(chunk)
            done = target is not None and not queue and self._finished(target)
            if done and target is not None:
                self._evict(target)
            return chunks, done

    # Internals, called with the condition held.

    def _check_open(self) -> None:
        if self.closed:
            raise ShellClosedError(self.id)

    def _finished(self, target: uuid.UUID | None) -> bool:
        if target is None:
            return False
        run = self._runs.get(target)
        return run is None or run.pipeline.state in _FINAL_STATES

    def _route(self) -> None:
        """Move queued PSRP messages into the per-target outgoing queues."""
        while (payload := self._pool.data_to_send(_FRAGMENT_SIZE)) is not None:
            queue = self._outgoing.get(payload.pipeline_id)
            if queue is not None:
                queue.append(payload.data)
        self._condition.notify_all()

    def _evict(self, pipeline_id: uuid.UUID) -> None:
        # psrpcore refuses to close a pool while pipelines remain, so finished ones go here.
        run = self._runs.pop(pipeline_id, None)
        if run is not None:
            run.stopped = True
            if run.pipeline.state not in _FINAL_STATES:
                run.pipeline._change_state(PSInvocationState.Stopped, emit=False)
            run.pipeline.close()
            self._route()
        self._outgoing.pop(pipeline_id, None)

    def _start(self, pipeline_id: uuid.UUID) -> None:
        run = self._runs.get(pipeline_id)
        if run is None or run.started:
            return
        run.started = True
        if run.pipeline.state == PSInvocationState.NotStarted:
            run.pipeline.start()
        run.worker = threading.Thread(
            target=self._work, args=(run,), name=f"lab-pipeline-{run.command_id}", daemon=True
        )
        run.worker.start()

    def _queue_clixml(self, run: _Run, message_type: PSRPMessageType, clixml: str) -> None:
        """Queue a message whose CLIXML the fast lab serializer built.

        psrpcore's own serializer costs several milliseconds for an Exchange object of ~200
        properties, so the message goes into the pool's send buffer directly.
        """
        pool = self._pool
        data = create_message(
            False, message_type, clixml.encode(), pool.runspace_pool_id, run.pipeline.pipeline_id
        )
        pool._send_buffer.append(
            PSRPMessage(
                message_type,
                bytearray(data),
                pool.runspace_pool_id,
                run.pipeline.pipeline_id,
                pool._fragment_counter,
            )
        )

    def _write(self, run: _Run, event: object) -> bool:
        """Write one engine event to the pipeline; return False once the pipeline stopped."""
        with self._condition:
            if run.stopped or self.closed or run.pipeline.state != PSInvocationState.Running:
                return False
            if isinstance(event, LabObject):
                self._queue_clixml(run, PSRPMessageType.PipelineOutput, serialize_object(event))
            elif isinstance(event, LabErrorRecord):
                clixml = _extended(serialize_error_record(event))
                self._queue_clixml(run, PSRPMessageType.ErrorRecord, clixml)
            elif isinstance(event, LabWarning):
                clixml = _extended(serialize_warning(event))
                self._queue_clixml(run, PSRPMessageType.WarningRecord, clixml)
            else:
                raise TypeError(
                    f"expected LabObject, LabErrorRecord or LabWarning from the engine, "
                    f"found {type(event).__name__}"
                )
            self._route()
            return True

    def _finish(self, run: _Run, failure: LabErrorRecord | None) -> None:
        with self._condition:
            if run.stopped or self.closed or run.pipeline.state != PSInvocationState.Running:
                return
            if failure is None:
                run.pipeline.complete()
            else:
                # psrpcore 0.3.1 has no public way to fail a pipeline with an error record. Its
                # ErrorRecord also renders the category text as "ParserError (:)" where .NET
                # writes "ParserError: (:)", so the lab serializer builds the message.
                run.pipeline._change_state(PSInvocationState.Failed, emit=False)
                self._queue_clixml(run, PSRPMessageType.PipelineState, _failed_state(failure))
            self._route()

    def _calls(self, statement: list[Any]) -> list[CmdletCall]:
        calls = []
        for command in statement:
            if command.is_script:
                if self.endpoint == "exchange":
                    raise LabTerminatingError(SCRIPTS_NOT_ALLOWED)
                raise LabTerminatingError(
                    LabErrorRecord(
                        message=(
                            "The lab server runs cmdlets only; send the command name and "
                            f"parameters instead of the script '{command.command_text}'."
                        ),
                        fully_qualified_error_id="ScriptsNotSupportedByLab",
                        category="NotImplemented",
                        reason="NotSupportedException",
                        exception_type="System.NotSupportedException",
                    )
                )
            parameters: dict[str, Any] = {}
            for name, value in command.parameters:
                if name is None:
                    raise LabTerminatingError(
                        LabErrorRecord(
                            message=(
                                "A positional parameter cannot be found that accepts argument "
                                f"'{_plain(value)}'."
                            ),
                            fully_qualified_error_id=(
                                f"PositionalParameterNotFound,{command.command_text}"
                            ),
                            category="InvalidArgument",
                            reason="ParameterBindingException",
                            exception_type=(
                                "System.Management.Automation.ParameterBindingException"
                            ),
                            command=str(command.command_text),
                        )
                    )
                parameters[str(name)] = _plain(value)
            calls.append(CmdletCall(str(command.command_text), parameters))
        return calls

    def _work(self, run: _Run) -> None:
        failure: LabErrorRecord | None = None
        try:
            for statement in _statements(run.pipeline.metadata):
                calls = self._calls(statement)
                events = self._engine.invoke(calls, endpoint=self.endpoint, user=self.user)  # type: ignore[arg-type]
                for event in events:
                    if not self._write(run, event):
                        return
                if run.stopped:
                    return
        except LabTerminatingError as error:
            failure = error.record
        except Exception as error:  # a lab engine bug must still end the client's pipeline
            if self._on_engine_error is not None:
                self._on_engine_error(error)
            failure = LabErrorRecord(
                message=f"The lab engine raised {type(error).__name__}: {error}",
                fully_qualified_error_id="LabEngineFailure",
                category="NotSpecified",
                reason=type(error).__name__,
                exception_type="System.InvalidOperationException",
            )
        self._finish(run, failure)

    def open_pipelines(self) -> int:
        """Return the number of pipelines the shell still holds."""
        with self._condition:
            return len(self._runs)
