"""The journal: what destructive writes replaced, recorded before each write, and undo.

Each run that changes something destructive appends JSON Lines to
``<state dir>/journals/<run id>.jsonl``. An entry contains the statements that put the previous
state back. They restore absolute values (a full address list, a complete set of services), so
replaying an entry twice is harmless, and undo can run after a run that died half-way.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from exchange_agent.errors import ConfigError
from exchange_agent.remote.command import (
    Command,
    Parameter,
    ParameterValue,
    Pipeline,
    Secret,
    Statement,
    Switch,
)

log = structlog.get_logger(__name__)


class Journal:
    """An append-only journal file, created on the first entry.

    Every :meth:`record` is written, flushed and fsynced before it returns, so the entry is
    on disk before the write it protects is sent.
    """

    def __init__(self, path: Path, run_id: str) -> None:
        self.path = path
        self.run_id = run_id
        self.entries = 0
        self._lock = threading.Lock()

    def record(
        self,
        *,
        task: str,
        target: str,
        undo: list[Statement],
        before: Any,
        host: str = "",
        endpoint: str = "exchange",
    ) -> None:
        """Append one entry and make it durable."""
        entry = {
            "run_id": self.run_id,
            "time": datetime.now(UTC).isoformat(),
            "host": host,
            "endpoint": endpoint,
            "task": task,
            "target": target,
            "before": _jsonable(before),
            "undo": [encode_statement(statement) for statement in undo],
        }
        line = json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(line)
                handle.flush()
                os.fsync(handle.fileno())
            self.entries += 1


@dataclass
class HostJournal:
    """The journal as one host's tasks see it: the host name is filled in."""

    journal: Journal
    host: str

    def record(self, *, task: str, target: str, undo: list[Statement], before: Any) -> None:
        """Append an entry for this host (the ``JournalWriter`` protocol of the tasks)."""
        self.journal.record(task=task, target=target, undo=undo, before=before, host=self.host)


@dataclass(frozen=True)
class JournalEntry:
    """One entry read back from a journal file."""

    line: int
    host: str
    endpoint: str
    task: str
    target: str
    undo: tuple[Statement, ...]
    before: Any


def read_journal(path: Path) -> tuple[list[JournalEntry], list[str]]:
    """Read every entry of a journal; a truncated last line is skipped with a warning.

    Raises:
        ConfigError: The file is missing or a line other than the last is not valid.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise ConfigError(f"cannot read journal {path}: {error.strerror}") from None
    entries: list[JournalEntry] = []
    warnings: list[str] = []
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            data = json.loads(text)
            entries.append(_entry(number, data))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            if number == len(lines):
                warnings.append(
                    f"{path}:{number}: last entry is incomplete (the run stopped while writing "
                    "it) and was skipped; its write was never sent"
                )
                continue
            raise ConfigError(f"{path}:{number}: invalid journal entry: {error}") from None
    return entries, warnings


def _entry(number: int, data: dict[str, Any]) -> JournalEntry:
    return JournalEntry(
        line=number,
        host=str(data["host"]),
        endpoint=str(data.get("endpoint", "exchange")),
        task=str(data["task"]),
        target=str(data["target"]),
        undo=tuple(decode_statement(item) for item in data["undo"]),
        before=data.get("before"),
    )


def encode_statement(statement: Statement) -> dict[str, Any]:
    """Encode a statement as JSON-ready data that :func:`decode_statement` reverses."""
    commands = statement.commands if isinstance(statement, Pipeline) else (statement,)
    return {
        "pipeline": [
            {
                "name": command.name,
                "parameters": [[p.name, _encode_value(p.value)] for p in command.parameters],
            }
            for command in commands
        ]
    }


def decode_statement(data: dict[str, Any]) -> Statement:
    """Rebuild a statement encoded by :func:`encode_statement`."""
    commands = tuple(
        Command(
            item["name"],
            [Parameter(name, _decode_value(value)) for name, value in item["parameters"]],
        )
        for item in data["pipeline"]
    )
    return commands[0] if len(commands) == 1 else Pipeline(commands)


def _encode_value(value: ParameterValue) -> Any:
    if isinstance(value, Switch):
        return {"$switch": value.on}
    if isinstance(value, Secret):
        raise ValueError("secrets are never written to the journal")
    if isinstance(value, bytes):
        return {"$bytes": base64.b64encode(value).decode("ascii")}
    if isinstance(value, dict):
        return {"$hashtable": {key: _encode_value(item) for key, item in value.items()}}
    if isinstance(value, list | tuple):
        return [_encode_value(item) for item in value]
    return value


def _decode_value(value: Any) -> ParameterValue:
    if isinstance(value, dict):
        if "$switch" in value:
            return Switch(bool(value["$switch"]))
        if "$bytes" in value:
            return base64.b64decode(value["$bytes"])
        if "$hashtable" in value:
            return {key: _decode_value(item) for key, item in value["$hashtable"].items()}
        raise ValueError(f"unknown encoded value {value!r}")
    if isinstance(value, list):
        return [_decode_value(item) for item in value]
    return value  # type: ignore[no-any-return]


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def iter_reversed(entries: list[JournalEntry]) -> Iterator[JournalEntry]:
    """Yield entries newest first: undo replays in reverse order of the writes."""
    yield from reversed(entries)
