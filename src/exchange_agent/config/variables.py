"""Extra variables from the command line, and rendering plus validation of task arguments."""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from exchange_agent.config.errors import validation_errors
from exchange_agent.config.playbook import TaskSpec
from exchange_agent.config.templating import render
from exchange_agent.config.yaml import load_yaml
from exchange_agent.errors import ConfigError, ConfigErrors


def parse_extra_vars(values: list[str]) -> dict[str, Any]:
    """Parse ``-e`` values: ``key=value`` pairs, ``@file.yml``, or a JSON/YAML mapping.

    Raises:
        ConfigError: A value has none of those forms.
    """
    result: dict[str, Any] = {}
    for value in values:
        text = value.strip()
        if text.startswith("@"):
            data, _ = load_yaml(Path(text[1:]))
            if not isinstance(data, dict):
                raise ConfigError(f"extra vars file {text[1:]} must contain a mapping")
            result.update(data)
        elif text.startswith("{"):
            try:
                data = json.loads(text)
            except json.JSONDecodeError as error:
                raise ConfigError(f"invalid JSON in --extra-vars {value!r}: {error}") from None
            if not isinstance(data, dict):
                raise ConfigError(f"--extra-vars {value!r} must be a JSON object")
            result.update(data)
        else:
            try:
                pairs = shlex.split(text)
            except ValueError as error:
                raise ConfigError(f"invalid --extra-vars {value!r}: {error}") from None
            for pair in pairs:
                name, sep, item = pair.partition("=")
                if not sep or not name.isidentifier():
                    part = f" ({pair!r} is not name=value)" if pair != text else ""
                    raise ConfigError(
                        f"invalid --extra-vars {value!r}{part}: expected name=value, @file.yml "
                        "or JSON"
                    )
                result[name] = item
    return result


def validate_task_args(
    spec: TaskSpec, model: type[BaseModel], variables: Mapping[str, Any]
) -> BaseModel:
    """Render ``spec``'s arguments with ``variables`` and validate them with ``model``.

    Raises:
        ConfigErrors: Each invalid argument, at its file, line and column.
    """
    rendered = render(spec.args, {**variables, **spec.vars}, lambda path: spec.arg_location(*path))
    try:
        return model.model_validate(rendered)
    except ValidationError as error:
        prefix = (*spec.key, spec.action)
        errors = validation_errors(
            error, spec.locations, rendered, prefix=prefix, model=model, templates=spec.args
        )
        named = [
            ConfigError(f"{spec.action} ({spec.name!r}): {item.message}", item.location)
            for item in errors
        ]
        raise ConfigErrors(named) from None
