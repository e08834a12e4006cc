"""Turn pydantic validation errors into messages that point into the user's YAML file."""

from __future__ import annotations

import difflib
import json
import re
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from exchange_agent.config.yaml import Locations, PathKey
from exchange_agent.errors import ConfigError, ConfigErrors

_MAX_VALUE = 80
_SECRET_FIELDS = {"password"}


def validation_errors(
    error: ValidationError,
    locations: Locations,
    data: Any,
    *,
    prefix: PathKey = (),
    model: type[BaseModel] | None = None,
    templates: Any = None,
) -> list[ConfigError]:
    """Return one :class:`ConfigError` per entry of ``error``, located in the YAML file.

    ``templates`` is ``data`` before rendering, so that a message can name the variable a
    wrong value came from.
    """
    result = []
    for entry in _expanded(error):
        path = _data_path(entry["loc"], data)
        field = ".".join(str(part) for part in path) or "(top level)"
        message = entry["msg"].removeprefix("Value error, ")
        if entry["type"] == "extra_forbidden":
            known = _known_fields(model, path[:-1]) if model else []
            close = difflib.get_close_matches(str(path[-1]), known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            text = f"unknown field {field}{hint}"
        elif entry["type"] == "missing":
            text = f"{field} is required"
        else:
            secret = any(str(part) in _SECRET_FIELDS for part in path)
            shown = "a value that is hidden" if secret else _shown(entry.get("input"))
            # A located ConfigError whose message quotes the value does not repeat it.
            quoted = entry.get("quoted", False)
            text = f"{field}: {message}" if quoted else f"{field}: {message} (got {shown})"
            if entry["type"] == "list_type" and isinstance(entry.get("input"), str):
                text += _list_hint(_value_at(templates, path), entry["input"])
        result.append(ConfigError(text, locations.at((*prefix, *path))))
    return result


_VARIABLE = re.compile(r"^\s*\{\{\s*(\w+)\s*\}\}\s*$")


def _list_hint(template: Any, value: str) -> str:
    """Return how to pass a list, for a string that came where a list belongs."""
    match = _VARIABLE.match(template) if isinstance(template, str) else None
    if match is None:
        return "; write a YAML list"
    # -e name=value always gives a string; a list on the command line must be JSON.
    example = json.dumps({match.group(1): [value]})
    return f"; {match.group(1)} must be a list: -e '{example}' on the command line"


def _expanded(error: ValidationError) -> list[dict[str, Any]]:
    """Return pydantic's error entries, with each located :class:`ConfigError` as its own.

    A model validator that raises a :class:`ConfigError` with a ``path`` (or several, in
    :class:`ConfigErrors`) names the wrong value, so its entry moves from the model to there.
    """
    entries: list[dict[str, Any]] = []
    for entry in error.errors():
        raised = (entry.get("ctx") or {}).get("error")
        parts: list[ConfigError] = []
        if isinstance(raised, ConfigErrors):
            parts = raised.errors
        elif isinstance(raised, ConfigError):
            parts = [raised]
        if not parts or not all(part.path for part in parts):
            entries.append(dict(entry))
            continue
        for part in parts:
            value = _value_at(entry.get("input"), part.path)
            entries.append(
                {
                    **entry,
                    "loc": (*entry["loc"], *part.path),
                    "msg": part.message,
                    "input": value,
                    "quoted": repr(value) in part.message,
                }
            )
    return entries


def _value_at(data: Any, path: tuple[str | int, ...]) -> Any:
    node = data
    for part in path:
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if not (in_dict or in_list):
            return None
        node = node[part]
    return node


def _data_path(loc: tuple[Any, ...], data: Any) -> tuple[Any, ...]:
    # pydantic inserts union tags such as "function-after[...]" into loc. Keep only the parts
    # that name a key or index of the data, plus a final missing or extra key.
    path = []
    node = data
    for index, part in enumerate(loc):
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_dict or in_list:
            path.append(part)
            node = node[part]
        elif index == len(loc) - 1 and not _is_tag(part):
            path.append(part)
    return tuple(path)


def _is_tag(part: Any) -> bool:
    # pydantic inserts tags such as "function-after[...]" or type names into union paths.
    return isinstance(part, str) and ("[" in part or part in ("list[...]", "str", "int"))


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 3] + "..."


def _known_fields(model: type[BaseModel], path: PathKey) -> list[str]:
    current: Any = model
    for part in path:
        current = _step(current, part)
        if current is None:
            return []
    found = _model_in(current)
    return list(found.model_fields) if found else []


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


def _step(annotation: Any, part: Any) -> Any:
    model = _model_in(annotation)
    if model is not None:
        info = model.model_fields.get(str(part))
        return info.annotation if info else None
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is dict and len(args) == 2:
        return args[1]
    if origin in (list, tuple) and args:
        return args[0]
    return None
