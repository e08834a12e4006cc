"""Cmdlet calls as values.

A :class:`Command` is a cmdlet name with ordered, typed parameters. Sessions send it as a
command object (``add_cmdlet`` plus ``add_parameter``), never as script text: Exchange's
remote endpoint runs in no-language mode and refuses scripts, and building script text from
names that contain quotes is an injection hole. :meth:`Command.render` produces PowerShell text
for logs, diffs and check-mode output only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

_CMDLET_NAME = re.compile(r"^[A-Za-z]+-[A-Za-z0-9]+$")
_PARAMETER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")

# PowerShell accepts the typographic single quotes as quote characters too, so each of them
# must be doubled inside a single-quoted string (about_Quoting_Rules).
_SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b"


@dataclass(frozen=True)
class Switch:
    """A switch parameter: ``-Force`` when on, ``-Confirm:$false`` when off."""

    on: bool = True


@dataclass(frozen=True)
class Secret:
    """A value sent to the server but never rendered: logs and diffs show ``'********'``."""

    value: str = field(repr=False)

    def __str__(self) -> str:
        return "********"


Scalar: TypeAlias = str | int | float | bool | bytes | Secret | None
ParameterValue: TypeAlias = (
    Scalar | Switch | Sequence["ParameterValue"] | Mapping[str, "ParameterValue"]
)


@dataclass(frozen=True)
class Parameter:
    """One named parameter of a command, in the order it was given."""

    name: str
    value: ParameterValue

    def __post_init__(self) -> None:
        if not _PARAMETER_NAME.match(self.name):
            raise ValueError(
                f"invalid parameter name {self.name!r}: expected letters and digits, "
                "starting with a letter"
            )


@dataclass(frozen=True)
class Command:
    """A cmdlet invocation with typed parameters.

    Example:
        >>> Command("Set-ReceiveConnector", {"Identity": "EX01\\Default Frontend EX01",
        ...     "PermissionGroups": ["AnonymousUsers", "ExchangeUsers"]}).render()
        "Set-ReceiveConnector -Identity 'EX01\\Default Frontend EX01' -PermissionGroups \
'AnonymousUsers','ExchangeUsers'"
    """

    name: str
    parameters: tuple[Parameter, ...] = ()

    def __init__(
        self,
        name: str,
        parameters: Mapping[str, ParameterValue] | Sequence[Parameter] = (),
    ) -> None:
        if not _CMDLET_NAME.match(name):
            raise ValueError(f"invalid cmdlet name {name!r}: expected Verb-Noun")
        if isinstance(parameters, Mapping):
            items = tuple(Parameter(key, value) for key, value in parameters.items())
        else:
            items = tuple(parameters)
        names = [parameter.name.lower() for parameter in items]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"parameter given twice for {name}: {', '.join(duplicates)}")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "parameters", items)

    def __iter__(self) -> Iterator[Parameter]:
        return iter(self.parameters)

    def __or__(self, other: Command | Pipeline) -> Pipeline:
        tail = other.commands if isinstance(other, Pipeline) else (other,)
        return Pipeline((self, *tail))

    def get(self, name: str, default: ParameterValue = None) -> ParameterValue:
        """Return the value of parameter ``name`` (case-insensitive), or ``default``."""
        for parameter in self.parameters:
            if parameter.name.lower() == name.lower():
                return parameter.value
        return default

    def with_parameters(self, **parameters: ParameterValue) -> Command:
        """Return a copy with ``parameters`` appended (or replaced, keeping their position)."""
        merged = {parameter.name: parameter.value for parameter in self.parameters}
        merged.update(parameters)
        return Command(self.name, merged)

    @property
    def verb(self) -> str:
        """The cmdlet's verb, such as ``Set``."""
        return self.name.split("-", 1)[0]

    def render(self) -> str:
        """Render as PowerShell text for people to read; sessions never send this text."""
        parts = [self.name]
        for parameter in self.parameters:
            parts.append(_render_parameter(parameter))
        return " ".join(parts)

    def __str__(self) -> str:
        return self.render()


@dataclass(frozen=True)
class Pipeline:
    """Commands piped into each other, such as ``Get-ReceiveConnector | Add-ADPermission``."""

    commands: tuple[Command, ...]

    def __post_init__(self) -> None:
        if not self.commands:
            raise ValueError("a pipeline needs at least one command")

    def __or__(self, other: Command | Pipeline) -> Pipeline:
        tail = other.commands if isinstance(other, Pipeline) else (other,)
        return Pipeline((*self.commands, *tail))

    def render(self) -> str:
        """Render as PowerShell text for people to read."""
        return " | ".join(command.render() for command in self.commands)

    def __str__(self) -> str:
        return self.render()


Statement: TypeAlias = Command | Pipeline


def as_pipeline(statement: Statement) -> Pipeline:
    """Return ``statement`` as a pipeline of one or more commands."""
    return statement if isinstance(statement, Pipeline) else Pipeline((statement,))


def quote(text: str) -> str:
    """Quote ``text`` as a PowerShell single-quoted string literal."""
    escaped = "".join(ch * 2 if ch in _SINGLE_QUOTES else ch for ch in text)
    return f"'{escaped}'"


def render_value(value: ParameterValue) -> str:
    """Render one parameter value as a PowerShell expression."""
    if isinstance(value, Switch):
        return "$true" if value.on else "$false"
    if value is None:
        return "$null"
    if isinstance(value, bool):
        return "$true" if value else "$false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Secret):
        return quote(str(value))
    if isinstance(value, bytes):
        # The bytes themselves are sent, and the rendering shows only their count, because
        # [byte[]]::new(n) would read as n zero bytes.
        return f"<{len(value)} bytes>"
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, Mapping):
        pairs = "; ".join(f"{key}={render_value(item)}" for key, item in value.items())
        return f"@{{{pairs}}}"
    items = list(value)
    if not items:
        return "@()"
    rendered = ",".join(render_value(item) for item in items)
    return f"@({rendered})" if len(items) == 1 else rendered


def _render_parameter(parameter: Parameter) -> str:
    value = parameter.value
    if isinstance(value, Switch):
        return f"-{parameter.name}" if value.on else f"-{parameter.name}:$false"
    return f"-{parameter.name} {render_value(value)}"
