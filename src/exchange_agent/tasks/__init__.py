"""Tasks: the capabilities a playbook can name, and the registry that finds them."""

from __future__ import annotations

from exchange_agent.tasks.base import (
    Change,
    Plan,
    StateTask,
    Task,
    TaskArgs,
    TaskContext,
    TaskResult,
)

_REGISTRY: dict[str, type[Task]] = {}  # type: ignore[type-arg]


def register(task: type[Task]) -> type[Task]:  # type: ignore[type-arg]
    """Add ``task`` to the registry under its :attr:`Task.name` (a class decorator)."""
    if task.name in _REGISTRY:
        raise ValueError(f"task {task.name!r} registered twice")
    _REGISTRY[task.name] = task
    return task


def registry() -> dict[str, type[Task]]:  # type: ignore[type-arg]
    """Return every registered task by name, importing the built-in task modules first."""
    from exchange_agent.tasks import builtin  # noqa: F401, PLC0415  (registers on import)

    return dict(_REGISTRY)


__all__ = [
    "Change",
    "Plan",
    "StateTask",
    "Task",
    "TaskArgs",
    "TaskContext",
    "TaskResult",
    "register",
    "registry",
]
