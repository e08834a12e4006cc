"""Execute a prepared run: hosts in parallel, tasks in order, handlers once at the end."""

from __future__ import annotations

import threading
import time
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field

import structlog

from exchange_agent.config import HostConfig
from exchange_agent.errors import ExchangeAgentError
from exchange_agent.journal import HostJournal, Journal
from exchange_agent.remote.connections import HostConnections
from exchange_agent.remote.errors import RemoteError, UnreachableError
from exchange_agent.remote.session import EndpointKind, Session
from exchange_agent.remote.settings import EndpointSettings
from exchange_agent.runner.pending import PendingHandlers
from exchange_agent.runner.prepare import HostPlan, PreparedTask
from exchange_agent.runner.results import RunReport, TaskRecord
from exchange_agent.tasks.base import TaskContext, TaskResult

log = structlog.get_logger(__name__)

ConnectionFactory = Callable[[HostConfig], HostConnections]


@dataclass
class RunOptions:
    """How to run: the flags of ``exchange-agent run``."""

    check: bool = False
    diff: bool = False
    forks: int = 5
    force_handlers: bool = False
    verbosity: int = 0
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])


class Runner:
    """Runs host plans with bounded parallelism and collects a :class:`RunReport`.

    Args:
        plans: What each host runs, from :func:`~exchange_agent.runner.prepare.prepare`.
        options: Run flags.
        connect: Builds a host's lazily opened connections.
        journal: Where destructive tasks record prior state; ``None`` in check mode.
        pending: Handlers left over from an earlier run that failed before running them.
    """

    def __init__(
        self,
        plans: dict[str, HostPlan],
        options: RunOptions,
        connect: ConnectionFactory,
        journal: Journal | None,
        pending: PendingHandlers | None = None,
    ) -> None:
        self.plans = plans
        self.options = options
        self.connect = connect
        self.journal = journal
        self.pending = pending
        self.stop = threading.Event()
        self.report = RunReport(options.run_id, options.check, list(plans))
        self._lock = threading.Lock()
        self._connections: list[HostConnections] = []

    def run(self) -> RunReport:
        """Run every host; on KeyboardInterrupt stop starting tasks and close every session."""
        executor = ThreadPoolExecutor(max_workers=max(1, self.options.forks))
        futures = [executor.submit(self._run_host, plan) for plan in self.plans.values()]
        try:
            pending = set(futures)
            while pending:
                # A short wait keeps the main thread responsive to Ctrl-C.
                _, pending = wait(pending, timeout=0.2)
            for future in futures:
                future.result()
        except KeyboardInterrupt:
            self.stop.set()
            self.report.interrupted = True
            log.warning("run.interrupted", run_id=self.options.run_id)
            self._close_all()
        finally:
            executor.shutdown(wait=True, cancel_futures=True)
            self._close_all()
        if self.journal is not None and self.journal.entries:
            self.report.journal = str(self.journal.path)
        return self.report

    def _close_all(self) -> None:
        with self._lock:
            connections = list(self._connections)
        for item in connections:
            item.close_all()

    def _run_host(self, plan: HostPlan) -> None:
        host = plan.host
        connections = self.connect(host)
        with self._lock:
            self._connections.append(connections)
        notified: list[str] = []
        if self.pending is not None:
            for name in self.pending.load(host.name):
                if name in plan.handlers and name not in notified:
                    notified.append(name)
                    self.report.warnings.append(
                        f"{host.name}: pending handler from an earlier run: {name}"
                    )
        try:
            failed = False
            for prepared in plan.tasks:
                if self.stop.is_set():
                    break
                record = self._run_task(prepared, host, connections, handler=False)
                if record.status in ("failed", "unreachable"):
                    failed = True
                    break
                if record.status == "changed":
                    for name in prepared.spec.notify:
                        if name not in notified:
                            notified.append(name)
            run_handlers = not failed or self.options.force_handlers
            if notified and not self.stop.is_set() and run_handlers:
                self._run_handlers(plan, notified, host, connections)
            elif notified and not self.options.check and self.pending is not None:
                self.pending.save(host.name, [n for n in notified if n in plan.handlers])
        finally:
            connections.close_all()

    def _run_handlers(
        self, plan: HostPlan, notified: list[str], host: HostConfig, connections: HostConnections
    ) -> None:
        remaining = [name for name in plan.handler_order if name in notified]
        for index, name in enumerate(remaining):
            if self.stop.is_set():
                break
            record = self._run_task(plan.handlers[name], host, connections, handler=True)
            if record.status in ("failed", "unreachable"):
                if self.pending is not None and not self.options.check:
                    self.pending.save(host.name, remaining[index:])
                return
        if self.pending is not None and not self.options.check:
            self.pending.clear(host.name)

    def _run_task(
        self,
        prepared: PreparedTask,
        host: HostConfig,
        connections: HostConnections,
        *,
        handler: bool,
    ) -> TaskRecord:
        spec = prepared.spec
        with self._lock:
            unreachable = host.name in self.report.unreachable
        started = time.monotonic()
        if unreachable:
            result = TaskResult("skipped", "host unreachable")
            status = "skipped"
        else:
            context = self._context(prepared, host, connections)
            status, result = self._execute(prepared, context, host)
        record = TaskRecord(
            host=host.name,
            task=spec.name,
            action=spec.action,
            status=status,  # type: ignore[arg-type]
            message=result.message,
            changes=result.changes,
            commands=result.commands,
            warnings=result.warnings,
            data=result.data,
            handler=handler,
            location=str(spec.location),
            duration_ms=int((time.monotonic() - started) * 1000),
        )
        with self._lock:
            self.report.records.append(record)
            if status == "unreachable":
                self.report.unreachable.add(host.name)
        log.info(
            "task",
            host=host.name,
            task=spec.name,
            action=spec.action,
            status=status,
            changed=status == "changed",
            duration_ms=record.duration_ms,
        )
        return record

    def _context(
        self, prepared: PreparedTask, host: HostConfig, connections: HostConnections
    ) -> TaskContext:
        def open_session(endpoint: EndpointKind) -> Session:
            return connections.get(endpoint)

        journal = HostJournal(self.journal, host.name) if self.journal is not None else None
        return TaskContext(
            host=host.name,
            check_mode=self.options.check,
            diff=self.options.diff,
            vars=host.vars,
            open_session=open_session,
            journal=journal,
            location=prepared.spec.location,
        )

    def _execute(
        self, prepared: PreparedTask, context: TaskContext, host: HostConfig
    ) -> tuple[str, TaskResult]:
        try:
            result = prepared.task.run(context)
        except UnreachableError as error:
            return "unreachable", TaskResult("failed", _message(error))
        except RemoteError as error:
            return "failed", TaskResult("failed", _message(error))
        except ExchangeAgentError as error:
            return "failed", TaskResult("failed", str(error))
        except (ValueError, TypeError, KeyError) as error:
            log.debug("task.error", host=host.name, traceback=traceback.format_exc())
            return "failed", TaskResult("failed", f"{type(error).__name__}: {error}")
        except Exception as error:
            log.error(
                "task.unexpected_error",
                host=host.name,
                task=prepared.spec.name,
                error=f"{type(error).__name__}: {error}",
                traceback=traceback.format_exc() if self.options.verbosity >= 3 else None,
            )
            return "failed", TaskResult(
                "failed", f"unexpected error: {type(error).__name__}: {error}"
            )
        return result.status, result


def _message(error: RemoteError) -> str:
    return error.message if error.host else str(error)


def connections_for(
    host: HostConfig,
    settings: dict[EndpointKind, EndpointSettings],
    factory: Callable[[str, EndpointSettings], Session],
) -> HostConnections:
    """Build a host's connections from resolved settings and a session factory."""
    return HostConnections(host.name, settings, factory)
