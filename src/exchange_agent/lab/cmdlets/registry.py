"""Declare lab cmdlets and bind their parameters the way PowerShell does.

How to add a cmdlet: write a function that takes a :class:`CmdletContext` and the bound
parameters as keyword arguments, and decorate it with :func:`cmdlet`. Only parameters the
caller gave (or that the pipeline bound) are passed, so ``"Enabled" in bound``
distinguishes "not given" from ``$null``. The function emits output, warnings and
non-terminating errors through the context (or yields them), and stops the pipeline with
:meth:`CmdletContext.terminate`::

    from exchange_agent.lab.cmdlets import errors
    from exchange_agent.lab.cmdlets.registry import CmdletContext, Param, cmdlet

    @cmdlet(
        "Get-AcceptedDomain",
        endpoint="exchange",
        namespace="SystemConfigurationTasks",
        params=[Param("Identity", "identity", position=0, pipeline_by_property="Identity")],
    )
    def get_accepted_domain(ctx: CmdletContext, **bound: Any) -> None:
        identity = bound.get("Identity")
        domains = [d for d in ctx.org.accepted_domains if identity in (None, d.name)]
        if identity is not None and not domains:
            ctx.error(errors.not_found(ctx, identity))  # non-terminating, as Exchange does
        for domain in domains:
            ctx.output(render(domain))

A module defining cmdlets must be imported for them to register. The engine imports every
module in ``exchange_agent.lab.cmdlets.core.CMDLET_MODULES``, which already lists
``recipients``, ``policies`` and ``relay`` (each skipped while it does not exist).

Binding follows PowerShell: names are case-insensitive and a unique prefix selects a
parameter. A missing mandatory parameter fails at once, because remoting has no host to
prompt. A switch takes ``None`` (present) or a bool. Conversion failures are terminating
``ParameterArgumentTransformationError`` records.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar
from uuid import UUID

from exchange_agent.lab.contract import (
    EndpointName,
    LabErrorRecord,
    LabEvent,
    LabObject,
    LabTerminatingError,
    LabWarning,
    SecureText,
)

if TYPE_CHECKING:
    from exchange_agent.lab.clock import Clock
    from exchange_agent.lab.org import Organization

__all__ = [
    "CmdletContext",
    "CmdletFunction",
    "CmdletSpec",
    "Param",
    "bind",
    "binding_error",
    "cmdlet",
    "cmdlets",
    "lookup",
]

Converter = Callable[[Any], Any]


# A cmdlet implementation: ``(ctx, **bound) -> Iterable[LabEvent] | None``.
CmdletFunction = Callable[..., Iterable[LabEvent] | None]
_F = TypeVar("_F", bound=CmdletFunction)


@dataclass(frozen=True)
class Param:
    """One parameter of a cmdlet.

    Attributes:
        name: The parameter name as Exchange spells it.
        type: ``string``, ``string[]``, ``int``, ``bool``, ``switch``, ``identity``,
            ``identity[]``, ``hashtable``, ``guid`` or ``object`` (no conversion).
        mandatory: Binding fails when neither the caller nor the pipeline supplies it.
        position: Position for positional binding; kept for documentation and ordering,
            because remoting sends named parameters.
        pipeline_by_property: Property of the piped object that binds to this parameter.
        pipeline_by_value: The piped object itself binds to this parameter.
        aliases: Other names that select this parameter.
        allow_null: ``$null`` is accepted even when the parameter is mandatory.
        convert: Converter run after the type conversion; a ``ValueError`` or ``TypeError``
            from it becomes a ``ParameterArgumentTransformationError``.
        dotnet_type: The .NET type named in conversion errors; derived from ``type`` if empty.
    """

    name: str
    type: str = "string"
    mandatory: bool = False
    position: int | None = None
    pipeline_by_property: str | None = None
    pipeline_by_value: bool = False
    aliases: tuple[str, ...] = ()
    allow_null: bool = False
    convert: Converter | None = None
    dotnet_type: str = ""


@dataclass(frozen=True)
class CmdletSpec:
    """A registered cmdlet: name, endpoint, parameters and implementation."""

    name: str
    endpoint: EndpointName
    params: tuple[Param, ...]
    function: CmdletFunction
    namespace: str = "SystemConfigurationTasks"

    @property
    def class_name(self) -> str:
        """The .NET class name, ``Set-ReceiveConnector`` -> ``SetReceiveConnector``."""
        return self.name.replace("-", "")

    @property
    def task_id(self) -> str:
        """The class name Exchange puts after the comma of its error ids."""
        if self.endpoint == "windows":
            return f"Microsoft.PowerShell.Commands.{self.class_name}Command"
        return f"Microsoft.Exchange.Management.{self.namespace}.{self.class_name}"


@dataclass
class CmdletContext:
    """The state one cmdlet invocation runs with: organization, session facts and events.

    Attributes:
        org: The organization; the engine holds its lock for the whole statement.
        server: Short name of the server the session is connected to.
        user: The session's user, such as ``CONTOSO\\admin``.
        clock: The lab clock; services use it to take simulated time.
        spec: The cmdlet being run.
        input: The pipeline input object of this invocation, or None.
        events: Events emitted so far, in order.
    """

    org: Organization
    server: str
    user: str
    clock: Clock
    spec: CmdletSpec
    input: LabObject | None = None
    events: list[LabEvent] = field(default_factory=list)

    def output(self, obj: LabObject) -> None:
        """Write an object to the output stream."""
        self.events.append(obj)

    def warn(self, message: str) -> None:
        """Write a warning record."""
        self.events.append(LabWarning(message))

    def error(self, record: LabErrorRecord) -> None:
        """Write a non-terminating error record; the pipeline continues."""
        self.events.append(record)

    def terminate(self, record: LabErrorRecord) -> NoReturn:
        """Stop the whole statement with a terminating error."""
        raise LabTerminatingError(record)


_lock = threading.Lock()
_registry: dict[tuple[EndpointName, str], CmdletSpec] = {}


def cmdlet(
    name: str,
    *,
    endpoint: EndpointName,
    params: Iterable[Param] = (),
    namespace: str = "SystemConfigurationTasks",
) -> Callable[[_F], _F]:
    """Register the decorated function as cmdlet ``name`` on ``endpoint``.

    ``namespace`` is the part of ``Microsoft.Exchange.Management.<namespace>`` that Exchange
    error ids name, such as ``RecipientTasks`` or ``SystemConfigurationTasks``.

    Raises:
        ValueError: The cmdlet is already registered on that endpoint by another function.
    """

    def decorate(function: _F) -> _F:
        spec = CmdletSpec(name, endpoint, tuple(params), function, namespace)
        key = (endpoint, name.casefold())
        with _lock:
            existing = _registry.get(key)
            same = existing is not None and _same_function(existing.function, function)
            if existing is not None and not same:
                raise ValueError(f"cmdlet {name!r} is already registered on endpoint {endpoint!r}")
            _registry[key] = spec
        return function

    return decorate


def _same_function(a: CmdletFunction, b: CmdletFunction) -> bool:
    # A module imported twice (tests reloading it) re-registers the same qualified name.
    return (getattr(a, "__module__", None), getattr(a, "__qualname__", None)) == (
        getattr(b, "__module__", None),
        getattr(b, "__qualname__", None),
    )


def lookup(name: str, endpoint: EndpointName) -> CmdletSpec | None:
    """Return the cmdlet registered as ``name`` (case-insensitive) on ``endpoint``."""
    with _lock:
        return _registry.get((endpoint, name.casefold()))


def cmdlets(endpoint: EndpointName) -> list[CmdletSpec]:
    """Return the cmdlets registered on ``endpoint``, sorted by name."""
    with _lock:
        specs = [spec for (ep, _), spec in _registry.items() if ep == endpoint]
    return sorted(specs, key=lambda spec: spec.name)


def bind(
    spec: CmdletSpec, parameters: dict[str, Any], pipeline_input: LabObject | None = None
) -> dict[str, Any]:
    """Bind named parameters and the pipeline input object to ``spec``'s parameters.

    Returns:
        The converted values keyed by the parameters' canonical names.

    Raises:
        LabTerminatingError: PowerShell's parameter binding errors: ``NamedParameterNotFound``,
            ``AmbiguousParameter``, ``ParameterAlreadyBound``, ``MissingMandatoryParameter``,
            ``ParameterArgumentTransformationError`` and the
            ``ParameterArgumentValidationError*`` family.
    """
    bound: dict[str, Any] = {}
    for given, value in parameters.items():
        param = _resolve_name(spec, given)
        if param.name in bound:
            raise binding_error(
                spec,
                "ParameterAlreadyBound",
                f"Cannot bind parameter because parameter '{param.name}' is specified more "
                "than once. To provide multiple values to parameters that can accept multiple "
                'values, use the array syntax. For example, "-parameter value1,value2,value3".',
            )
        bound[param.name] = _convert(spec, param, value)

    if pipeline_input is not None:
        _bind_pipeline(spec, bound, pipeline_input)

    missing = [p.name for p in spec.params if p.mandatory and p.name not in bound]
    if missing:
        raise binding_error(
            spec,
            "MissingMandatoryParameter",
            "Cannot process command because of one or more missing mandatory parameters: "
            f"{' '.join(missing)}.",
        )
    return bound


def _bind_pipeline(spec: CmdletSpec, bound: dict[str, Any], obj: LabObject) -> None:
    properties = {key.casefold(): value for key, value in obj.properties.items()}
    consumed = False
    for param in spec.params:
        if param.name in bound:
            continue
        if param.pipeline_by_value:
            bound[param.name] = _convert(spec, param, obj)
            consumed = True
        elif param.pipeline_by_property is not None:
            value = properties.get(param.pipeline_by_property.casefold(), _MISSING)
            if value is not _MISSING:
                bound[param.name] = _convert(spec, param, value)
                consumed = True
    if not consumed:
        raise binding_error(
            spec,
            "InputObjectNotBound",
            "The input object cannot be bound to any parameters for the command either because "
            "the command does not take pipeline input or the input and its properties do not "
            "match any of the parameters that take pipeline input.",
            target=obj.to_string,
        )


_MISSING = object()


def _resolve_name(spec: CmdletSpec, given: str) -> Param:
    wanted = given.lstrip("-").casefold()
    exact = [p for p in spec.params if wanted in (n.casefold() for n in (p.name, *p.aliases))]
    if exact:
        return exact[0]
    prefixed = [
        p for p in spec.params if any(n.casefold().startswith(wanted) for n in (p.name, *p.aliases))
    ]
    if len(prefixed) == 1 and wanted:
        return prefixed[0]
    if len(prefixed) > 1 and wanted:
        matches = " ".join(f"-{p.name}" for p in prefixed)
        raise binding_error(
            spec,
            "AmbiguousParameter",
            f"Parameter cannot be processed because the parameter name '{given}' is ambiguous. "
            f"Possible matches include: {matches}.",
        )
    raise binding_error(
        spec,
        "NamedParameterNotFound",
        f"A parameter cannot be found that matches parameter name '{given}'.",
    )


_DOTNET = {
    "string": "System.String",
    "string[]": "System.String[]",
    "int": "System.Int32",
    "bool": "System.Boolean",
    "switch": "System.Management.Automation.SwitchParameter",
    "identity": "System.String",
    "identity[]": "System.String[]",
    "hashtable": "System.Collections.Hashtable",
    "guid": "System.Guid",
    "object": "System.Object",
    "securestring": "System.Security.SecureString",
}


def _convert(spec: CmdletSpec, param: Param, value: Any) -> Any:
    if value is None and param.type == "switch":
        return True
    if value is None:
        if param.mandatory and not param.allow_null:
            raise binding_error(
                spec,
                "ParameterArgumentValidationErrorNullNotAllowed",
                f"Cannot bind argument to parameter '{param.name}' because it is null.",
                category="InvalidData",
            )
        return None
    try:
        converted = _CONVERTERS[param.type](value)
        if isinstance(converted, list) and not converted and param.mandatory:
            raise binding_error(
                spec,
                "ParameterArgumentValidationErrorEmptyArrayNotAllowed",
                f"Cannot bind argument to parameter '{param.name}' because it is an empty array.",
                category="InvalidData",
            )
        if param.convert is not None:
            converted = param.convert(converted)
    except _NotSecure:
        # PowerShell has no conversion from String to SecureString. The value is not echoed:
        # it was meant to be secret.
        raise binding_error(
            spec,
            "ParameterArgumentTransformationError",
            f"Cannot process argument transformation on parameter '{param.name}'. Cannot "
            f'convert the value of type "{type(value).__name__}" to type '
            '"System.Security.SecureString".',
            category="InvalidData",
        ) from None
    except (ValueError, TypeError) as error:
        dotnet = param.dotnet_type or _DOTNET.get(param.type, "System.Object")
        raise binding_error(
            spec,
            "ParameterArgumentTransformationError",
            f"Cannot process argument transformation on parameter '{param.name}'. Cannot "
            f'convert value "{_display(value)}" to type "{dotnet}". Error: "{error}"',
            category="InvalidData",
        ) from None
    return converted


def _display(value: Any) -> str:
    if isinstance(value, LabObject):
        return value.to_string or value.type_names[0]
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, list):
        return "System.Object[]"
    if isinstance(value, dict):
        return "System.Collections.Hashtable"
    return str(value)


def _to_string(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, (str, int, float, UUID)):
        return str(value)
    if isinstance(value, LabObject) and value.to_string is not None:
        return value.to_string
    raise TypeError(f"a {_display(value)} cannot be converted to a string")


def _to_list(item: Callable[[Any], Any]) -> Converter:
    def convert(value: Any) -> list[Any]:
        values = value if isinstance(value, (list, tuple)) else [value]
        return [item(v) for v in values]

    return convert


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        return int(value)
    raise ValueError("Input string was not in a correct format.")


def _to_bool(value: Any) -> bool:
    # PowerShell binds [bool] parameters only from booleans and numbers, never from strings.
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    raise ValueError(
        "Boolean parameters accept only Boolean values and numbers, such as $True, $False, 1 or 0."
    )


def _to_switch(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError("Switch parameters accept only Boolean values, such as $True or $False.")


def _to_identity(value: Any) -> str:
    if isinstance(value, LabObject):
        identity = value.properties.get("Identity")
        if identity is not None:
            return _to_identity(identity)
    return _to_string(value)


def _to_hashtable(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return {str(key): item for key, item in value.items()}
    raise ValueError(f"Cannot convert the {_display(value)!r} value to a Hashtable.")


def _to_guid(value: Any) -> UUID:
    if isinstance(value, UUID):
        return value
    if isinstance(value, str):
        return UUID(value)
    raise ValueError("Guid should contain 32 digits with 4 dashes (xxxxxxxx-xxxx-xxxx-xxxx-xxxx).")


class _NotSecure(Exception):
    pass


def _to_secure(value: Any) -> SecureText:
    if isinstance(value, SecureText):
        return value
    raise _NotSecure


_CONVERTERS: dict[str, Converter] = {
    "string": _to_string,
    "string[]": _to_list(_to_string),
    "int": _to_int,
    "bool": _to_bool,
    "switch": _to_switch,
    "identity": _to_identity,
    "identity[]": _to_list(_to_identity),
    "hashtable": _to_hashtable,
    "guid": _to_guid,
    "object": lambda value: value,
    "securestring": _to_secure,
}


def binding_error(
    spec: CmdletSpec,
    error_id: str,
    message: str,
    *,
    category: str = "InvalidArgument",
    target: str | None = None,
) -> LabTerminatingError:
    """Build PowerShell's terminating parameter binding error ``<error_id>,<cmdlet class>``.

    Cmdlets use it for binding rules the declarations cannot express, such as two parameters
    from different parameter sets (``AmbiguousParameterSet``).
    """
    return LabTerminatingError(
        LabErrorRecord(
            message=message,
            fully_qualified_error_id=f"{error_id},{spec.task_id}",
            category=category,
            reason="ParameterBindingException",
            target=target,
            exception_type="System.Management.Automation.ParameterBindingException",
            command=spec.name,
        )
    )
