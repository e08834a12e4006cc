"""YAML loading that remembers where every value came from.

ruamel.yaml's round-trip loader keeps the line and column of every mapping key and sequence
item. This module turns a document into plain Python values plus a :class:`Locations` table,
so any later error can point at ``file:line:column``. Duplicate keys are errors.
"""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedKeyMap, CommentedKeySeq, CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from exchange_agent.errors import ConfigError, SourceLocation

PathKey = tuple[Hashable, ...]


class Locations:
    """Positions of the values of one YAML document, by path of keys and indexes."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._positions: dict[PathKey, tuple[int, int]] = {}

    def add(self, key: PathKey, line: int, column: int) -> None:
        """Record the 0-based ``line`` and ``column`` of the value at ``key``."""
        self._positions[key] = (line, column)

    def at(self, key: PathKey) -> SourceLocation:
        """Return the location of ``key``, or of its nearest recorded ancestor."""
        probe = tuple(key)
        while probe:
            position = self._positions.get(probe)
            if position is not None:
                return SourceLocation(self.path, position[0] + 1, position[1] + 1)
            probe = probe[:-1]
        return SourceLocation(self.path, 1, 1)


def load_yaml(path: Path) -> tuple[Any, Locations]:
    """Load one YAML file into plain Python values and their locations.

    Raises:
        ConfigError: The file is missing, unreadable, not valid YAML, or has a duplicate key.
    """
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"file not found: {name}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read {name}: {error}") from None
    return parse_yaml(text, name)


def parse_yaml(text: str, name: str) -> tuple[Any, Locations]:
    """Parse YAML ``text`` that came from the file ``name``."""
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        document = yaml.load(text)
    except DuplicateKeyError as error:
        raise _marked_error(error, name, "duplicate key") from None
    except MarkedYAMLError as error:
        raise _marked_error(error, name, "invalid YAML") from None
    except YAMLError as error:
        raise ConfigError(f"invalid YAML: {error}", SourceLocation(name)) from None

    locations = Locations(name)
    return _plain(document, (), locations), locations


def _marked_error(error: MarkedYAMLError, name: str, what: str) -> ConfigError:
    mark = error.problem_mark or error.context_mark
    location = SourceLocation(name, mark.line + 1, mark.column + 1) if mark else None
    problem = (error.problem or "").strip()
    context = (error.context or "").strip()
    if what == "duplicate key":
        detail = problem.replace("found ", "")
        message = f"duplicate key: {detail}; each key may appear once in a mapping"
    else:
        message = f"{what}: {problem or context}"
    return ConfigError(message, location)


def _key_position(node: CommentedMap, name: Any) -> tuple[int, int]:
    # Keys merged in with "<<" and the entries of !!omap have no position of their own.
    recorded = (node.lc.data or {}).get(name)
    if recorded is None:
        return node.lc.line or 0, node.lc.col or 0
    return recorded[0], recorded[1]


def _plain(node: Any, key: PathKey, locations: Locations) -> Any:
    if isinstance(node, CommentedMap):
        result: dict[Any, Any] = {}
        for name, value in node.items():
            if isinstance(name, CommentedMap | CommentedSeq | CommentedKeyMap | CommentedKeySeq):
                raise ConfigError("mapping keys must be plain values", locations.at(key))
            line, column = _key_position(node, name)
            locations.add((*key, name), line, column)
            result[name] = _plain(value, (*key, name), locations)
        return result
    if isinstance(node, CommentedSeq):
        items = []
        for index, value in enumerate(node):
            line, column = node.lc.item(index)
            locations.add((*key, index), line, column)
            items.append(_plain(value, (*key, index), locations))
        return items
    if isinstance(node, str):
        return str(node)
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    return node
