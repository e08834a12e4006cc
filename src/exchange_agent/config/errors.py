"""Turn pydantic validation errors into messages that point into the user's YAML file."""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, ValidationError

from exchange_agent.config.yaml import Locations, PathKey
from exchange_agent.errors import ConfigError

_MAX_VALUE = 80


def validation_errors(
    error: ValidationError,
    locations: Locations,
    data: Any,
    *,
    prefix: PathKey = (),
    model: type[BaseModel] | None = None,
) -> list[ConfigError]:
    """Return one :class:`ConfigError` per entry of ``error``, located in the YAML file."""
    result = []
    for entry in error.errors():
        path = tuple(part for part in entry["loc"] if not _is_tag(part))
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
            shown = _shown(entry.get("input"))
            text = f"{field}: {message} (got {shown})"
        result.append(ConfigError(text, locations.at((*prefix, *path))))
    return result


def _is_tag(part: Any) -> bool:
    # pydantic inserts tags such as "function-after[...]" or type names into union paths.
    return isinstance(part, str) and ("[" in part or part in ("list[...]", "str", "int"))


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 3] + "..."


def _known_fields(model: type[BaseModel], path: PathKey) -> list[str]:
    current: Any = model
    for part in path:
        if isinstance(part, int) or not (
            isinstance(current, type) and issubclass(current, BaseModel)
        ):
            continue
        info = current.model_fields.get(str(part))
        if info is None:
            return []
        current = info.annotation
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []
