"""Plan a run before any connection: select hosts, render and validate every task."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from exchange_agent.config import (
    HostConfig,
    Inventory,
    Playbook,
    TaskSpec,
    select_hosts,
    validate_task_args,
)
from exchange_agent.errors import ConfigError, ConfigErrors
from exchange_agent.tasks import Task, registry


@dataclass
class PreparedTask:
    """A task ready to run on one host: its spec and its validated instance."""

    spec: TaskSpec
    task: Task[Any]


@dataclass
class HostPlan:
    """The tasks one host will run, play by play, with its handlers."""

    host: HostConfig
    tasks: list[PreparedTask] = field(default_factory=list)
    handlers: dict[str, PreparedTask] = field(default_factory=dict)
    handler_order: list[str] = field(default_factory=list)


def prepare(
    inventory: Inventory,
    playbook: Playbook,
    *,
    limit: str | None,
    extra_vars: dict[str, Any],
    tags: frozenset[str] = frozenset(),
    skip_tags: frozenset[str] = frozenset(),
) -> dict[str, HostPlan]:
    """Validate everything the run will do and return the plan per host.

    Raises:
        ConfigErrors: Every invalid task, argument, host pattern or missing endpoint.
    """
    tasks_by_name = registry()
    errors: list[ConfigError] = []
    plans: dict[str, HostPlan] = {}
    if limit:
        try:
            select_hosts(inventory, limit)
        except ConfigError as error:
            raise ConfigError(f"--limit {limit!r}: {error.message}") from None
    for play in playbook.plays:
        try:
            hosts = select_hosts(inventory, play.hosts, limit)
        except ConfigError as error:
            errors.append(ConfigError(error.message, play.location))
            continue
        for name in hosts:
            host = inventory.hosts[name]
            plan = plans.setdefault(name, HostPlan(host))
            variables = {**host.vars, **play.vars, **extra_vars}
            for spec in play.tasks:
                if not _selected(spec, tags, skip_tags):
                    continue
                prepared = _prepare_task(spec, host, variables, tasks_by_name, errors)
                if prepared is not None:
                    plan.tasks.append(prepared)
            for spec in play.handlers:
                prepared = _prepare_task(spec, host, variables, tasks_by_name, errors)
                if prepared is not None and spec.name not in plan.handlers:
                    plan.handlers[spec.name] = prepared
                    plan.handler_order.append(spec.name)
    if errors:
        raise ConfigErrors(_unique(errors))
    if not plans:
        raise ConfigError("no hosts selected: check the play's hosts pattern and --limit")
    return plans


def _prepare_task(
    spec: TaskSpec,
    host: HostConfig,
    variables: dict[str, Any],
    tasks_by_name: dict[str, type[Task[Any]]],
    errors: list[ConfigError],
) -> PreparedTask | None:
    task_class = tasks_by_name.get(spec.action)
    if task_class is None:
        errors.append(ConfigError(f"unknown task {spec.action!r}", spec.location))
        return None
    try:
        args: BaseModel = validate_task_args(spec, task_class.args_model, variables)
    except ConfigErrors as error:
        errors.extend(error.errors)
        return None
    except ConfigError as error:
        errors.append(error)
        return None
    for endpoint in task_class.endpoints:
        if host.endpoint(endpoint) is None:
            errors.append(
                ConfigError(
                    f"{spec.action} tasks run on the {endpoint} endpoint; {host.name} has none "
                    f"configured ({host.location}): add {endpoint}.url to the host",
                    spec.location,
                )
            )
            return None
    return PreparedTask(spec, task_class(args))


def _selected(spec: TaskSpec, tags: frozenset[str], skip_tags: frozenset[str]) -> bool:
    task_tags = set(spec.tags)
    if tags and not (task_tags & tags or "always" in task_tags):
        return False
    return not task_tags & skip_tags


def _unique(errors: list[ConfigError]) -> list[ConfigError]:
    seen: set[str] = set()
    result = []
    for error in errors:
        if str(error) not in seen:
            seen.add(str(error))
            result.append(error)
    return result
