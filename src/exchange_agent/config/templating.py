"""Variables in task arguments: ``{{ name }}`` rendered with Jinja2, undefined is an error.

A value that is exactly one expression keeps the expression's type, so
``remote_ip_ranges: '{{ printer_subnets }}'`` stays a list; text around an expression makes a
string. Rendering runs in Jinja2's sandbox: playbooks cannot reach Python internals.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from typing import Any

from jinja2 import StrictUndefined, TemplateError, Undefined, UndefinedError
from jinja2.nativetypes import NativeCodeGenerator, NativeTemplate
from jinja2.sandbox import ImmutableSandboxedEnvironment

from exchange_agent.errors import ConfigError, SourceLocation

_ONE_EXPRESSION = re.compile(r"^\s*\{\{(?:(?!\}\}).)*\}\}\s*$", re.DOTALL)
_UNDEFINED_NAME = re.compile(r"'([^']+)' is undefined")


class _NativeSandbox(ImmutableSandboxedEnvironment):
    code_generator_class = NativeCodeGenerator
    concat = staticmethod(lambda values: _native_concat(list(values)))


def _native_concat(values: list[Any]) -> Any:
    # Jinja2's own native concat parses a string result as a Python literal, so the text "007"
    # would become 7 and "None" would become None. Here a variable's value is kept as it is.
    if len(values) == 1:
        return values[0]
    return "".join(str(value) for value in values)


class _NativeSandboxTemplate(NativeTemplate):
    def render(self, *args: Any, **kwargs: Any) -> Any:
        # NativeTemplate.render would call NativeEnvironment.concat, not the sandbox's.
        context = self.new_context(dict(*args, **kwargs))
        try:
            return _native_concat(list(self.root_render_func(context)))
        except Exception:
            # Jinja2 rewrites the traceback to point at the template line, then raises.
            return self.environment.handle_exception()


_NATIVE = _NativeSandbox(undefined=StrictUndefined, autoescape=False)
_NATIVE.template_class = _NativeSandboxTemplate
_TEXT = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


def render(
    value: Any,
    variables: Mapping[str, Any],
    locate: Callable[[tuple[Any, ...]], SourceLocation],
    path: tuple[Any, ...] = (),
) -> Any:
    """Render every template string inside ``value``.

    Raises:
        ConfigError: A variable is undefined or a template is invalid, located by ``locate``.
    """
    if isinstance(value, str):
        location = locate(path)
        result = _render_text(value, variables, location)
        # Variables may themselves hold templates ("{{ exchange_server }}" in a play
        # variable); render what came out again, a bounded number of times.
        for _ in range(_MAX_DEPTH):
            if not _has_template(result):
                return result
            result = _render_nested(result, variables, location)
        raise ConfigError(
            f"{value!r} still contains a template after {_MAX_DEPTH} rounds of rendering; "
            "a variable probably refers to itself",
            location,
        )
    if isinstance(value, dict):
        return {key: render(item, variables, locate, (*path, key)) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item, variables, locate, (*path, i)) for i, item in enumerate(value)]
    return value


_MAX_DEPTH = 5


def _render_nested(value: Any, variables: Mapping[str, Any], location: SourceLocation) -> Any:
    if isinstance(value, str):
        return _render_text(value, variables, location)
    if isinstance(value, dict):
        return {key: _render_nested(item, variables, location) for key, item in value.items()}
    if isinstance(value, list):
        return [_render_nested(item, variables, location) for item in value]
    return value


def _has_template(value: Any) -> bool:
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, dict):
        return any(_has_template(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_template(item) for item in value)
    return False


def _render_text(text: str, variables: Mapping[str, Any], location: SourceLocation) -> Any:
    if "{{" not in text and "{%" not in text:
        return text
    try:
        if _ONE_EXPRESSION.match(text):
            value: Any = _NATIVE.from_string(text.strip()).render(variables)
            if isinstance(value, Undefined):
                # A lone undefined name comes back as an Undefined object instead of raising.
                value._fail_with_undefined_error()
            return value
        return _TEXT.from_string(text).render(variables)
    except UndefinedError as error:
        raise ConfigError(_undefined_message(str(error), text, variables), location) from None
    except TemplateError as error:
        raise ConfigError(f"invalid template {text!r}: {error}", location) from None
    except (ArithmeticError, LookupError, TypeError, ValueError) as error:
        raise ConfigError(
            f"template {text!r} failed: {type(error).__name__}: {error}", location
        ) from None


def _undefined_message(message: str, text: str, variables: Mapping[str, Any]) -> str:
    match = _UNDEFINED_NAME.search(message)
    if not match:
        return f"{message} in {text!r}"
    name = match.group(1)
    close = difflib.get_close_matches(name, [str(key) for key in variables], n=1)
    if close:
        hint = f"; did you mean {close[0]}?"
    else:
        hint = f"; set it in the play's vars, in the inventory, or with -e {name}=VALUE"
    return f"variable {name} is undefined in {text!r}{hint}"
