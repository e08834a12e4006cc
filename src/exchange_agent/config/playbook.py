"""Playbooks: plays of tasks and handlers, each remembering its place in the file."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exchange_agent.config.yaml import Locations, PathKey, load_yaml
from exchange_agent.errors import ConfigError, ConfigErrors, SourceLocation

TASK_KEYWORDS = ("name", "notify", "tags", "vars")
PLAY_KEYWORDS = ("name", "hosts", "vars", "tasks", "handlers")


@dataclass(frozen=True)
class TaskSpec:
    """One task or handler as written: the task type, raw arguments and keywords."""

    name: str
    action: str
    args: dict[str, Any]
    notify: tuple[str, ...]
    tags: tuple[str, ...]
    vars: dict[str, Any]
    location: SourceLocation
    key: PathKey
    locations: Locations = field(repr=False, compare=False)

    def arg_location(self, *path: Any) -> SourceLocation:
        """Return the location of the argument at ``path`` (or of the task)."""
        return self.locations.at((*self.key, self.action, *path))


@dataclass(frozen=True)
class Play:
    """A host pattern with its variables, tasks and handlers."""

    name: str
    hosts: str
    vars: dict[str, Any]
    tasks: tuple[TaskSpec, ...]
    handlers: tuple[TaskSpec, ...]
    location: SourceLocation


@dataclass(frozen=True)
class Playbook:
    """A loaded playbook file."""

    path: str
    plays: tuple[Play, ...]


def load_playbook(path: Path, known_actions: list[str] | None = None) -> Playbook:
    """Load a playbook and check its structure (task arguments are checked by the runner).

    Raises:
        ConfigErrors: Every structural problem found, with file, line and column.
    """
    data, locations = load_yaml(path)
    if not isinstance(data, list) or not data:
        raise ConfigError("a playbook must be a non-empty list of plays", locations.at(()))
    errors: list[ConfigError] = []
    plays = []
    for index, entry in enumerate(data):
        play = _play(entry, (index,), locations, errors, known_actions)
        if play is not None:
            plays.append(play)
    if errors:
        raise ConfigErrors(errors)
    return Playbook(locations.path, tuple(plays))


def _play(
    entry: Any,
    key: PathKey,
    locations: Locations,
    errors: list[ConfigError],
    known_actions: list[str] | None,
) -> Play | None:
    where = locations.at(key)
    if not isinstance(entry, dict):
        errors.append(ConfigError("a play must be a mapping with hosts and tasks", where))
        return None
    for name in entry:
        if name not in PLAY_KEYWORDS:
            errors.append(
                ConfigError(
                    f"unknown play keyword {name!r}{_suggest(str(name), PLAY_KEYWORDS)}",
                    locations.at((*key, name)),
                )
            )
    hosts = entry.get("hosts")
    if not isinstance(hosts, str) or not hosts.strip():
        errors.append(ConfigError("play needs hosts: a host pattern such as all", where))
        hosts = ""
    play_vars = _mapping(entry.get("vars", {}), (*key, "vars"), locations, errors)
    tasks = _tasks(entry.get("tasks", []), (*key, "tasks"), locations, errors, known_actions)
    handlers = _tasks(
        entry.get("handlers", []), (*key, "handlers"), locations, errors, known_actions
    )
    if not entry.get("tasks") and not entry.get("handlers"):
        errors.append(ConfigError("play has no tasks", where))
    handler_names = [handler.name for handler in handlers]
    for task in tasks:
        for notified in task.notify:
            if notified not in handler_names:
                errors.append(
                    ConfigError(
                        f"task {task.name!r} notifies {notified!r}, which is not a handler of "
                        f"this play{_suggest(notified, handler_names)}",
                        locations.at((*task.key, "notify")),
                    )
                )
    name = str(entry.get("name") or hosts)
    return Play(name, hosts, play_vars, tuple(tasks), tuple(handlers), where)


def _tasks(
    value: Any,
    key: PathKey,
    locations: Locations,
    errors: list[ConfigError],
    known_actions: list[str] | None,
) -> list[TaskSpec]:
    if not isinstance(value, list):
        errors.append(ConfigError(f"{key[-1]} must be a list", locations.at(key)))
        return []
    tasks = []
    for index, entry in enumerate(value):
        task = _task(entry, (*key, index), locations, errors, known_actions)
        if task is not None:
            tasks.append(task)
    return tasks


def _task(
    entry: Any,
    key: PathKey,
    locations: Locations,
    errors: list[ConfigError],
    known_actions: list[str] | None,
) -> TaskSpec | None:
    where = locations.at(key)
    if not isinstance(entry, dict):
        errors.append(ConfigError("a task must be a mapping with one task type", where))
        return None
    actions = [name for name in entry if name not in TASK_KEYWORDS]
    if len(actions) != 1:
        found = ", ".join(map(str, actions)) or "none"
        hint = ""
        if known_actions and actions:
            hint = "".join(
                _suggest(str(a), known_actions) for a in actions if a not in known_actions
            )
        errors.append(
            ConfigError(f"a task needs exactly one task type; found: {found}{hint}", where)
        )
        return None
    action = str(actions[0])
    if known_actions is not None and action not in known_actions:
        errors.append(
            ConfigError(
                f"unknown task {action!r}{_suggest(action, known_actions)}",
                locations.at((*key, action)),
            )
        )
        return None
    args = entry[action]
    if args is None:
        args = {}
    if not isinstance(args, dict):
        errors.append(
            ConfigError(f"{action} arguments must be a mapping", locations.at((*key, action)))
        )
        return None
    notify = _names(entry.get("notify", []), (*key, "notify"), locations, errors)
    tags = _names(entry.get("tags", []), (*key, "tags"), locations, errors)
    task_vars = _mapping(entry.get("vars", {}), (*key, "vars"), locations, errors)
    name = str(entry.get("name") or action)
    return TaskSpec(name, action, args, notify, tags, task_vars, where, key, locations)


def _names(
    value: Any, key: PathKey, locations: Locations, errors: list[ConfigError]
) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    errors.append(ConfigError(f"{key[-1]} must be a name or a list of names", locations.at(key)))
    return ()


def _mapping(
    value: Any, key: PathKey, locations: Locations, errors: list[ConfigError]
) -> dict[str, Any]:
    if isinstance(value, dict):
        for name in value:
            if not isinstance(name, str):
                errors.append(
                    ConfigError(
                        f"variable name {name!r} must be a string", locations.at((*key, name))
                    )
                )
        return value
    errors.append(ConfigError(f"{key[-1]} must be a mapping", locations.at(key)))
    return {}


def _suggest(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
