"""The task contract: an argument model, the endpoints it needs, and a run that reports.

Most tasks follow one shape, captured by :class:`StateTask`: gather the current state, plan the
difference with a pure function, send only the commands that make it (never in check mode),
then re-read and check that the state converged. Exchange reports some refusals only as
warnings, so a write is not trusted until the re-read agrees.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from exchange_agent.errors import SourceLocation, TaskError
from exchange_agent.remote.command import Statement
from exchange_agent.remote.errors import CommandError
from exchange_agent.remote.session import EndpointKind, Session

Status = Literal["ok", "changed", "failed", "skipped"]


class TaskArgs(BaseModel):
    """Base of every task's argument model: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


@dataclass(frozen=True)
class Change:
    """One property of one object that differs between the current and desired state."""

    target: str
    property: str
    before: Any
    after: Any


@dataclass(frozen=True)
class UndoStep:
    """The statements that put one object back as it was, and the values they restore."""

    target: str
    statements: list[Statement]
    before: dict[str, Any]


@dataclass
class Plan:
    """The difference between current and desired state, and the commands that close it.

    ``reason`` explains, for the report, why nothing needs doing when ``changes`` is empty.
    ``undo`` lists what :meth:`StateTask.apply` journals before it sends the first command.
    """

    changes: list[Change] = field(default_factory=list)
    commands: list[Statement] = field(default_factory=list)
    reason: str = ""
    warnings: list[str] = field(default_factory=list)
    undo: list[UndoStep] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """True when the current state already matches."""
        return not self.changes and not self.commands


@dataclass
class TaskResult:
    """The outcome of one task on one host, with what it changed or would change."""

    status: Status
    message: str = ""
    changes: list[Change] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        """True when the task changed something (or would, in check mode)."""
        return self.status == "changed"


class JournalWriter(Protocol):
    """The journal destructive tasks write to before they overwrite or remove anything."""

    def record(self, *, task: str, target: str, undo: list[Statement], before: Any) -> None:
        """Append an entry and flush it to disk before the write it protects is sent."""
        ...


@dataclass
class TaskContext:
    """The sessions, flags and variables a task may use while it runs on one host.

    Sessions open lazily: asking for an endpoint the task never uses costs nothing.
    """

    host: str
    check_mode: bool
    diff: bool
    vars: dict[str, Any]
    open_session: Callable[[EndpointKind], Session]
    journal: JournalWriter | None = None
    location: SourceLocation | None = None

    def session(self, endpoint: EndpointKind) -> Session:
        """Return the host's session for ``endpoint``, opening it on first use."""
        return self.open_session(endpoint)


ArgsT = TypeVar("ArgsT", bound=TaskArgs)
StateT = TypeVar("StateT")


class Task(ABC, Generic[ArgsT]):
    """A capability a playbook can name.

    Subclasses set :attr:`name`, :attr:`args_model` and :attr:`endpoints`, and implement
    :meth:`run`. The class docstring is the user documentation, with a YAML example.
    """

    name: ClassVar[str]
    args_model: ClassVar[type[TaskArgs]]
    endpoints: ClassVar[tuple[EndpointKind, ...]] = ("exchange",)

    def __init__(self, args: ArgsT) -> None:
        self.args = args

    @abstractmethod
    def run(self, ctx: TaskContext) -> TaskResult:
        """Bring the host to the desired state (or report what would change in check mode)."""


class StateTask(Task[ArgsT], Generic[ArgsT, StateT]):
    """A task of the gather, plan, apply, verify shape."""

    @abstractmethod
    def gather(self, ctx: TaskContext) -> StateT:
        """Read the current state from the host."""

    @abstractmethod
    def plan(self, state: StateT) -> Plan:
        """Compute the changes and commands; a pure function of ``state`` and the arguments."""

    def apply(self, ctx: TaskContext, plan: Plan) -> list[str]:
        """Journal the plan's undo steps, send its commands and return Exchange's warnings."""
        if ctx.journal is not None:
            for step in plan.undo:
                ctx.journal.record(
                    task=self.name, target=step.target, undo=step.statements, before=step.before
                )
        session = ctx.session(self.endpoints[0])
        warnings: list[str] = []
        for statement in plan.commands:
            result = session.invoke(statement)
            warnings.extend(result.warnings)
            if not result.ok:
                raise CommandError(result.errors, host=ctx.host, endpoint=session.endpoint)
        return warnings

    def run(self, ctx: TaskContext) -> TaskResult:
        """Gather, plan and, unless in check mode, apply and verify."""
        plan = self.plan(self.gather(ctx))
        rendered = [str(statement) for statement in plan.commands]
        if plan.empty:
            return TaskResult("ok", plan.reason, warnings=plan.warnings)
        if ctx.check_mode:
            return TaskResult("changed", "would change", plan.changes, rendered, plan.warnings)

        warnings = plan.warnings + self.apply(ctx, plan)
        remaining = self.plan(self.gather(ctx))
        if not remaining.empty:
            details = "; ".join(
                f"{change.target} {change.property}: {change.after!r} expected, "
                f"{change.before!r} found"
                for change in remaining.changes
            )
            raise TaskError(
                f"Exchange accepted the change but the state did not converge: {details}"
                + (f" (warnings: {' | '.join(warnings)})" if warnings else "")
            )
        return TaskResult("changed", "changed", plan.changes, rendered, warnings)
