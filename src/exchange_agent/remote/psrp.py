"""The pypsrp session: PowerShell remoting over WinRM to Exchange's and Windows' endpoints.

Commands go out as command objects (``add_cmdlet``, ``add_parameter``, ``add_statement``),
never as script text, because Exchange's endpoint runs in no-language mode and rejects any
script with ``ScriptsNotAllowed``. Output objects are parsed by :mod:`remote.clixml` instead of
pypsrp's deserializer (see :class:`FastSerializer`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any, cast

import structlog
from pypsrp.complex_objects import ObjectMeta, PSInvocationState
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.serializer import Serializer
from pypsrp.wsman import WSMan
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from exchange_agent.remote.clixml import ClixmlError, parse_object
from exchange_agent.remote.command import Secret, Statement, Switch, as_pipeline
from exchange_agent.remote.errormap import is_scripts_not_allowed, is_transient, map_exception
from exchange_agent.remote.errors import (
    CommandError,
    OperationTimeoutError,
    RemoteError,
    ScriptsNotAllowedError,
    ShellExpiredError,
    StalledError,
)
from exchange_agent.remote.result import ErrorRecord, ExObject, PipelineState, Result
from exchange_agent.remote.session import EndpointKind, Session
from exchange_agent.remote.settings import EndpointSettings

__all__ = ["READ_VERBS", "FastSerializer", "PsrpSession", "parallel", "quiet_transport_loggers"]

log = structlog.get_logger(__name__)

# Verbs of cmdlets that change nothing; only statements made of these are retried.
READ_VERBS = frozenset({"Get", "Test", "Search", "Find", "Measure", "Select", "Sort", "Where"})

_TRANSPORT_LOGGERS = ("pypsrp", "urllib3", "requests", "spnego", "requests_credssp")

# [MS-PSRP] 2.2.3.2 ErrorCategory values, in enum order.
_ERROR_CATEGORIES = (
    "NotSpecified",
    "OpenError",
    "CloseError",
    "DeviceError",
    "DeadlockDetected",
    "InvalidArgument",
    "InvalidData",
    "InvalidOperation",
    "InvalidResult",
    "InvalidType",
    "MetadataError",
    "NotImplemented",
    "NotInstalled",
    "ObjectNotFound",
    "OperationStopped",
    "OperationTimeout",
    "SyntaxError",
    "ParserError",
    "PermissionDenied",
    "ResourceBusy",
    "ResourceExists",
    "ResourceUnavailable",
    "ReadError",
    "WriteError",
    "FromStdErr",
    "SecurityError",
    "ProtocolError",
    "ConnectionError",
    "AuthenticationError",
    "LimitsExceeded",
    "QuotaExceeded",
    "NotEnabled",
)


def quiet_transport_loggers(debug: bool = False, handler: logging.Handler | None = None) -> None:
    """Hold the pypsrp, urllib3, requests and spnego loggers at WARNING unless ``debug``.

    pypsrp logs whole SOAP messages, including parameter values, at DEBUG and INFO. With a
    ``handler``, their records go to it alone instead of to the root logger's handlers.
    """
    level = logging.DEBUG if debug else logging.WARNING
    for name in _TRANSPORT_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(level)
        if handler is not None:
            logger.handlers = [handler]
            logger.propagate = False


class FastSerializer(Serializer):
    """A pypsrp serializer that parses PIPELINE_OUTPUT objects with :mod:`remote.clixml`.

    pypsrp 0.9.1 calls ``deserialize(text)`` without metadata only for the body of a
    PIPELINE_OUTPUT message, or of PIPELINE_INPUT, which a client never receives
    (``Message.unpack`` in ``pypsrp/messages.py``). Every other message and every nested value
    is deserialized with metadata, so those keep pypsrp's own handling.
    """

    def deserialize(self, element: Any, metadata: Any = None, clear: bool = True) -> Any:
        if metadata is None and clear and isinstance(element, str):
            try:
                return parse_object(element)
            except ClixmlError as error:
                log.warning("clixml.fallback", error=str(error))
        return super().deserialize(element, metadata, clear)


def _wire_value(value: Any, pool: RunspacePool) -> Any:
    """Convert a command value to what pypsrp serializes: tuples as lists, and a Secret as a
    SecureString encrypted with the pool's session key."""
    if isinstance(value, Secret):
        # The first SecureString of a pool costs one key exchange (MS-PSRP PUBLIC_KEY and
        # ENCRYPTED_SESSION_KEY); later ones reuse the key.
        pool.exchange_keys()
        return pool._serializer.serialize(value.value, ObjectMeta("SS"))
    if isinstance(value, Switch):
        return value.on
    if isinstance(value, str | bytes | bool | int | float) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(key): _wire_value(item, pool) for key, item in value.items()}
    return [_wire_value(item, pool) for item in value]


def _add_statement(ps: PowerShell, statement: Statement) -> None:
    for command in as_pipeline(statement).commands:
        ps.add_cmdlet(command.name)
        for parameter in command.parameters:
            if isinstance(parameter.value, Switch) and parameter.value.on:
                # A switch that is present is a parameter with no value.
                ps.add_parameter(parameter.name)
            else:
                ps.add_parameter(parameter.name, _wire_value(parameter.value, ps.runspace_pool))


def _error_record(record: Any) -> ErrorRecord:
    """Convert a pypsrp ErrorRecord into the session-neutral :class:`ErrorRecord`."""
    exception = getattr(record, "exception", None)
    types = getattr(exception, "types", None) or []
    exception_type = types[0].removeprefix("Deserialized.") if types else None
    category_number = getattr(record, "category", 0) or 0
    category = (
        _ERROR_CATEGORIES[category_number]
        if 0 <= category_number < len(_ERROR_CATEGORIES)
        else "NotSpecified"
    )
    return ErrorRecord(
        message=str(record),
        fully_qualified_error_id=getattr(record, "fq_error", "") or "",
        category=category,
        reason=getattr(record, "reason", "") or "",
        target=getattr(record, "target_name", None),
        command=getattr(record, "command_name", None) or getattr(record, "invocation_name", None),
        exception_type=exception_type,
    )


def _output_value(value: Any) -> Any:
    # Anything the fast parser could not read stays pypsrp's object; keep its text.
    if isinstance(value, ExObject | str | int | float | bool | list | dict) or value is None:
        return value
    return str(value)


class _StallWatch:
    """A timer that reports when a running command has sent nothing for ``limit`` seconds.

    A Receive whose response is lost on the way leaves the command running for the client while
    every later Receive times out empty, so a wait without this limit would never end.
    """

    def __init__(self, ps: PowerShell, limit: float) -> None:
        self._ps = ps
        self._limit = limit
        self._seen = self._counts()
        self._since = time.monotonic()

    def stalled(self) -> bool:
        """Return True when nothing has arrived for the limit since the last change."""
        counts = self._counts()
        now = time.monotonic()
        if counts != self._seen:
            self._seen, self._since = counts, now
            return False
        return now - self._since >= self._limit

    def _counts(self) -> tuple[int, ...]:
        streams = self._ps.streams
        return (
            len(self._ps.output),
            len(streams.error),
            len(streams.warning),
            len(streams.verbose),
            len(streams.progress),
            len(streams.information),
            len(streams.debug),
        )


def _is_read(statements: Sequence[Statement]) -> bool:
    return all(
        command.verb in READ_VERBS
        for statement in statements
        for command in as_pipeline(statement).commands
    )


def _first_cmdlet(statements: Sequence[Statement]) -> str:
    return as_pipeline(statements[0]).commands[0].name


class PsrpSession:
    """A :class:`~exchange_agent.remote.session.Session` over pypsrp, one pool per thread.

    Pools open on first use. A pypsrp ``RunspacePool`` used by several threads at once emits
    dangling type references, so each thread gets its own pool and :meth:`close` closes all of
    them.

    Args:
        host: Inventory host name, used in errors and logs.
        settings: How to reach the endpoint.
        retry_attempts: Maximum attempts of a read that fails with a transient transport error.
        retry_wait: Seconds that scale the jittered exponential wait between attempts; a wait
            is at most 16 times this.
    """

    def __init__(
        self,
        host: str,
        settings: EndpointSettings,
        *,
        retry_attempts: int = 3,
        retry_wait: float = 0.5,
    ) -> None:
        self._host = host
        self._settings = settings
        self._retry_attempts = retry_attempts
        self._retry_wait = retry_wait
        self._pools: dict[int, RunspacePool] = {}
        self._opened: set[int] = set()
        self._lock = threading.Lock()
        self._closed = False

    @property
    def host(self) -> str:
        """The inventory host name this session belongs to."""
        return self._host

    @property
    def endpoint(self) -> EndpointKind:
        """Which of the host's endpoints this session talks to."""
        return self._settings.kind

    @property
    def settings(self) -> EndpointSettings:
        """The endpoint settings this session connects with."""
        return self._settings

    def _map(self, error: BaseException, cmdlet: str | None) -> RemoteError:
        had_shell = threading.get_ident() in self._opened
        return map_exception(
            error,
            host=self._host,
            endpoint=self._settings.kind,
            cmdlet=cmdlet,
            settings=self._settings,
            had_shell=had_shell,
        )

    def _new_pool(self) -> RunspacePool:
        s = self._settings
        # pypsrp 0.9.1 annotates these as bool and int, but passes cert_validation to requests'
        # verify (so a CA bundle path works) and the timeouts to requests, which takes floats.
        options: dict[str, Any] = {
            "cert_validation": (s.ca_bundle or True) if s.cert_validation else False,
            "connection_timeout": s.connect_timeout,
            "read_timeout": s.read_timeout,
        }
        wsman = WSMan(
            s.server,
            port=s.port,
            path=s.path,
            ssl=s.ssl,
            auth=s.auth,
            # pyspnego takes a keytab or ticket cache credential where a user name goes;
            # pypsrp passes it through unchanged.
            username=cast(str | None, s.kerberos_credential or s.username),
            password=s.password.get_secret_value() if s.password else None,
            encryption=s.encryption,
            negotiate_service=s.spn_service,
            operation_timeout=int(s.operation_timeout),
            # NOTE: proxies from HTTP(S)_PROXY are ignored, so an endpoint behind a proxy cannot
            # be reached; WinRM endpoints are normally reached directly on the internal network.
            no_proxy=True,
            **options,
        )
        pool = RunspacePool(wsman, configuration_name=s.configuration_name)
        serializer = FastSerializer()
        pool._serializer = serializer
        pool._fragmenter.serializer = serializer
        return pool

    def _pool(self) -> RunspacePool:
        ident = threading.get_ident()
        with self._lock:
            if self._closed:
                raise RemoteError(
                    "the session is closed: open a new one",
                    host=self._host,
                    endpoint=self._settings.kind,
                )
            pool = self._pools.get(ident)
        if pool is not None:
            return pool

        started = time.monotonic()
        pool = self._new_pool()
        try:
            pool.open()
        except Exception as error:
            # A shell created before the failure would hold one of the user's shells on the
            # server until its idle timeout; close() sends nothing when no shell exists.
            _close_pool(pool, self._host)
            raise self._map(error, None) from error
        with self._lock:
            self._pools[ident] = pool
            self._opened.add(ident)
        log.info(
            "session.open",
            host=self._host,
            endpoint=self._settings.kind,
            duration_ms=round((time.monotonic() - started) * 1000),
        )
        return pool

    def _drop_pool(self) -> None:
        with self._lock:
            pool = self._pools.pop(threading.get_ident(), None)
        if pool is not None:
            _close_pool(pool, self._host)

    def invoke(self, *statements: Statement, timeout: float | None = None) -> Result:
        """Run ``statements`` in one pipeline and return their combined output.

        Reads (every command's verb in :data:`READ_VERBS`) are retried on transient transport
        errors; writes are not, so the caller must re-read and re-plan. An expired shell is
        reopened once.

        Raises:
            RemoteError: A transport, authentication, throttling or timeout failure.
            ValueError: No statements were given.
        """
        if not statements:
            raise ValueError("invoke needs at least one statement")
        is_read = _is_read(statements)
        cmdlet = _first_cmdlet(statements)

        def attempt() -> Result:
            return self._invoke_reopening(statements, timeout, is_read, cmdlet)

        if not is_read:
            return attempt()
        retrying = Retrying(
            stop=stop_after_attempt(self._retry_attempts),
            wait=wait_random_exponential(multiplier=self._retry_wait, max=16 * self._retry_wait),
            retry=retry_if_exception(lambda e: isinstance(e, RemoteError) and is_transient(e)),
            before_sleep=self._log_retry,
            reraise=True,
        )
        return retrying(attempt)

    def _log_retry(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.warning(
            "session.retry",
            host=self._host,
            endpoint=self._settings.kind,
            attempt=state.attempt_number,
            error=str(error),
        )

    def _invoke_reopening(
        self, statements: Sequence[Statement], timeout: float | None, is_read: bool, cmdlet: str
    ) -> Result:
        try:
            return self._invoke_once(statements, timeout, cmdlet)
        except _ShellExpired as expired:
            self._drop_pool()
            log.info("session.reopen", host=self._host, endpoint=self._settings.kind)
            if not is_read and not expired.before_start:
                raise expired.error from expired
            try:
                return self._invoke_once(statements, timeout, cmdlet)
            except _ShellExpired as again:
                self._drop_pool()
                raise again.error from again

    def _invoke_once(
        self, statements: Sequence[Statement], timeout: float | None, cmdlet: str
    ) -> Result:
        pool = self._pool()
        ps = PowerShell(pool)
        for index, statement in enumerate(statements):
            if index:
                ps.add_statement()
            _add_statement(ps, statement)

        log.debug(
            "session.invoke",
            host=self._host,
            endpoint=self._settings.kind,
            commands=" ; ".join(as_pipeline(s).render() for s in statements),
        )
        started = time.monotonic()
        try:
            ps.begin_invoke()
        except Exception as error:
            raise self._wrap(error, cmdlet, before_start=True) from error
        try:
            self._wait(ps, timeout, cmdlet)
        finally:
            _forget(ps)
        result = _result_of(ps)
        self._raise_if_script_rejected(result, cmdlet)
        log.debug(
            "session.done",
            host=self._host,
            cmdlet=cmdlet,
            state=result.state,
            objects=len(result.output),
            errors=len(result.errors),
            duration_ms=round((time.monotonic() - started) * 1000),
        )
        # Exchange's warnings reach the report with their task; the log repeats them from -v.
        for warning in result.warnings:
            log.info("session.warning", host=self._host, cmdlet=cmdlet, message=warning)
        return result

    def _raise_if_script_rejected(self, result: Result, cmdlet: str) -> None:
        # The engine rejects script text before running anything, as a terminating
        # ParseException. Retrying cannot help, so it is raised instead of returned.
        for record in result.errors:
            if is_scripts_not_allowed(record.fully_qualified_error_id):
                raise ScriptsNotAllowedError(
                    f"{record.message} ({record.fully_qualified_error_id}): the endpoint runs in "
                    "no-language mode and accepts only command objects, not script text",
                    host=self._host,
                    endpoint=self._settings.kind,
                    cmdlet=cmdlet,
                )

    def _wrap(self, error: BaseException, cmdlet: str, *, before_start: bool) -> Exception:
        mapped = self._map(error, cmdlet)
        if isinstance(mapped, ShellExpiredError):
            return _ShellExpired(mapped, before_start)
        return mapped

    def _wait(self, ps: PowerShell, timeout: float | None, cmdlet: str) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        watch = _StallWatch(ps, self._settings.stall_timeout)
        while ps.state == PSInvocationState.RUNNING:
            if watch.stalled():
                self._stop(ps)
                self._drop_pool()
                raise self._stalled(cmdlet)
            poll = int(self._settings.operation_timeout)
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._stop(ps)
                    raise OperationTimeoutError(
                        f"{cmdlet} did not finish within {timeout:g} s; the pipeline was "
                        "stopped: raise the task's timeout or narrow the query",
                        host=self._host,
                        endpoint=self._settings.kind,
                        cmdlet=cmdlet,
                    )
                poll = max(1, min(poll, int(remaining + 0.999)))
            try:
                ps.poll_invoke(timeout=poll)
            except Exception as error:
                raise self._wrap(error, cmdlet, before_start=False) from error

    def _stalled(self, cmdlet: str) -> StalledError:
        stall = self._settings.stall_timeout
        return StalledError(
            f"{cmdlet} sent nothing for {stall:g} s and was stopped; whether it changed anything "
            "on the server is unknown, so the next run reads the state again (stall_timeout "
            "sets the limit)",
            host=self._host,
            endpoint=self._settings.kind,
            cmdlet=cmdlet,
        )

    def _stop(self, ps: PowerShell) -> None:
        try:
            ps.stop()
        except Exception as error:
            log.warning("session.stop_failed", host=self._host, error=str(error))

    def stream(self, statement: Statement, timeout: float | None = None) -> Iterator[ExObject]:
        """Yield the output objects of ``statement`` as they arrive.

        Raises:
            CommandError: The statement wrote error records (after the objects before them).
            RemoteError: A transport, authentication, throttling or timeout failure.
        """
        cmdlet = _first_cmdlet([statement])
        pool = self._pool()
        ps = PowerShell(pool)
        _add_statement(ps, statement)
        try:
            ps.begin_invoke()
        except Exception as error:
            raise self._map(error, cmdlet) from error

        deadline = None if timeout is None else time.monotonic() + timeout
        watch = _StallWatch(ps, self._settings.stall_timeout)
        sent = 0
        try:
            while True:
                while sent < len(ps.output):
                    yield _output_value(ps.output[sent])
                    sent += 1
                if ps.state != PSInvocationState.RUNNING:
                    break
                if watch.stalled():
                    self._stop(ps)
                    self._drop_pool()
                    raise self._stalled(cmdlet)
                if deadline is not None and time.monotonic() >= deadline:
                    raise OperationTimeoutError(
                        f"{cmdlet} did not finish within {timeout:g} s; the pipeline was stopped",
                        host=self._host,
                        endpoint=self._settings.kind,
                        cmdlet=cmdlet,
                    )
                try:
                    ps.poll_invoke(timeout=int(self._settings.operation_timeout))
                except Exception as error:
                    raise self._map(error, cmdlet) from error
        finally:
            # Reached on a timeout and when the caller stops iterating early.
            if ps.state == PSInvocationState.RUNNING:
                self._stop(ps)
            _forget(ps)

        result = _result_of(ps)
        for warning in result.warnings:
            log.info("session.warning", host=self._host, cmdlet=cmdlet, message=warning)
        if result.errors:
            raise CommandError(
                result.errors, host=self._host, endpoint=self._settings.kind, cmdlet=cmdlet
            )

    def close(self) -> None:
        """Close every pool this session opened, on any thread. Safe to call twice."""
        with self._lock:
            self._closed = True
            pools = list(self._pools.values())
            self._pools.clear()
        for pool in pools:
            _close_pool(pool, self._host)


class _ShellExpired(Exception):
    """Internal: the shell expired. ``before_start`` is True when the command never ran."""

    def __init__(self, error: ShellExpiredError, before_start: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.before_start = before_start


def _forget(ps: PowerShell) -> None:
    # pypsrp 0.9.1 keeps every pipeline in pool.pipelines until PowerShell.close(), which costs
    # one more request (a Signal terminate). Dropping the entry bounds memory on a long-lived
    # pool. NOTE: the server is left to release the finished command itself.
    ps.runspace_pool.pipelines.pop(ps.id, None)


_CLOSE_ATTEMPTS = 2


def _close_pool(pool: RunspacePool, host: str) -> None:
    # A Delete lost on the way leaves the shell counting against the user's limit of 18 until
    # it idles out, so a failed close is sent once more. pypsrp keeps the pool open after a
    # failed Delete, which makes the second pool.close() send it again.
    for attempt in range(1, _CLOSE_ATTEMPTS + 1):
        try:
            pool.close()
        except Exception as error:
            log.warning("session.close_failed", host=host, attempt=attempt, error=str(error))
            continue
        return


def _result_of(ps: PowerShell) -> Result:
    state: PipelineState = "Completed"
    if ps.state == PSInvocationState.FAILED or ps.had_errors:
        state = "Failed"
    elif ps.state == PSInvocationState.STOPPED:
        state = "Stopped"
    return Result(
        output=[_output_value(value) for value in ps.output],
        errors=[_error_record(record) for record in ps.streams.error],
        warnings=[str(getattr(record, "message", record)) for record in ps.streams.warning],
        state=state,
    )


def parallel(
    session_factory: Callable[[], Session],
    batches: Iterable[Sequence[Statement]],
    *,
    max_pools: int = 4,
    timeout: float | None = None,
) -> Iterator[tuple[int, Result | RemoteError]]:
    """Run independent batches of statements over at most ``max_pools`` sessions.

    Each worker thread opens its own session (one pool per thread) and runs batches one after
    another; results are yielded as ``(batch index, Result or RemoteError)`` in completion
    order. Every session is closed before the generator finishes, also when it is abandoned.

    Raises:
        ValueError: ``max_pools`` is not between 1 and 17 (Exchange allows 18 shells per user).
    """
    if not 1 <= max_pools < 18:
        raise ValueError(f"invalid max_pools {max_pools}: expected 1 to 17")
    local = threading.local()
    sessions: list[Session] = []
    lock = threading.Lock()

    def run(batch: Sequence[Statement]) -> Result | RemoteError:
        session = getattr(local, "session", None)
        if session is None:
            session = session_factory()
            local.session = session
            with lock:
                sessions.append(session)
        try:
            return session.invoke(*batch, timeout=timeout)
        except RemoteError as error:
            return error

    executor = ThreadPoolExecutor(max_workers=max_pools, thread_name_prefix="psrp")
    try:
        futures = {executor.submit(run, batch): index for index, batch in enumerate(batches)}
        for future in as_completed(futures):
            yield futures[future], future.result()
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
        for session in sessions:
            session.close()
