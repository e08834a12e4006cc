"""Evaluate the subset of Exchange OPATH filters the agent sends to ``-Filter``.

Supported: ``-eq``, ``-ne``, ``-like``, ``-notlike``, ``-and``, ``-or``, ``-not``, brackets,
single- or double-quoted strings and ``$true``/``$false``/``$null``. A multi-valued property
such as ``EmailAddresses`` matches when any of its values matches, and comparisons are
case-insensitive, as Active Directory compares proxyAddresses (Microsoft Learn,
"Filterable properties for the Filter parameter").

On-premises Exchange accepts ``*`` only at the start or end of a ``-like`` value and rejects
``'Sa*les'``, so a ``*`` elsewhere raises :class:`OpathError` here too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["OpathError", "Predicate", "compile_filter"]

Predicate = Callable[[Mapping[str, Any]], bool]

_TOKEN_RE = re.compile(
    r"""\s*(?:
        (?P<lparen>\()|(?P<rparen>\))
        |(?P<op>-[A-Za-z]+)
        |'(?P<squote>(?:[^']|'')*)'
        |"(?P<dquote>(?:[^"]|"")*)"
        |(?P<variable>\$[A-Za-z]+)
        |(?P<word>[A-Za-z_][A-Za-z0-9_.]*)
    )""",
    re.VERBOSE,
)
_COMPARISONS = frozenset({"-eq", "-ne", "-like", "-notlike"})
_VARIABLES: dict[str, Any] = {"$true": True, "$false": False, "$null": None}


class OpathError(ValueError):
    """A filter is not valid OPATH, or uses what the lab does not evaluate."""

    def __init__(self, text: str, position: int, reason: str) -> None:
        self.text = text
        self.position = position
        self.reason = reason
        super().__init__(
            f"Cannot bind parameter 'Filter' to the target. Exception setting \"Filter\": "
            f'"Invalid filter syntax. {reason} at position {position + 1} in "{text}"."'
        )


@dataclass(frozen=True)
class _Token:
    kind: str
    value: Any
    position: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        if text[position:].isspace():
            break
        match = _TOKEN_RE.match(text, position)
        if match is None or match.end() == position:
            raise OpathError(text, position, "Unexpected character")
        kind = match.lastgroup or ""
        value: Any = match.group(kind)
        start = match.start(kind)
        if kind == "squote":
            kind, value = "string", value.replace("''", "'")
        elif kind == "dquote":
            kind, value = "string", value.replace('""', '"')
        elif kind == "op":
            value = value.lower()
        elif kind == "variable":
            if value.lower() not in _VARIABLES:
                raise OpathError(text, start, f"Unknown variable {value}")
            kind, value = "literal", _VARIABLES[value.lower()]
        tokens.append(_Token(kind, value, start))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            raise OpathError(self.text, len(self.text), "Unexpected end of filter")
        self.index += 1
        return token

    def parse(self) -> Predicate:
        predicate = self.parse_or()
        token = self.peek()
        if token is not None:
            raise OpathError(self.text, token.position, f"Unexpected token {token.value!r}")
        return predicate

    def parse_or(self) -> Predicate:
        left = self.parse_and()
        while (token := self.peek()) is not None and token.value == "-or":
            self.take()
            left = _either(left, self.parse_and())
        return left

    def parse_and(self) -> Predicate:
        left = self.parse_not()
        while (token := self.peek()) is not None and token.value == "-and":
            self.take()
            left = _both(left, self.parse_not())
        return left

    def parse_not(self) -> Predicate:
        token = self.peek()
        if token is not None and token.value == "-not":
            self.take()
            inner = self.parse_not()
            return lambda values: not inner(values)
        return self.parse_primary()

    def parse_primary(self) -> Predicate:
        token = self.take()
        if token.kind == "lparen":
            inner = self.parse_or()
            closing = self.take()
            if closing.kind != "rparen":
                raise OpathError(self.text, closing.position, "Expected ')'")
            return inner
        if token.kind != "word":
            raise OpathError(self.text, token.position, "Expected a property name")
        operator = self.take()
        if operator.kind != "op" or operator.value not in _COMPARISONS:
            raise OpathError(
                self.text, operator.position, f"Unsupported operator {operator.value!r}"
            )
        operand = self.take()
        if operand.kind not in ("string", "literal", "word"):
            raise OpathError(self.text, operand.position, "Expected a value")
        return self.comparison(token.value, operator, operand)

    def comparison(self, name: str, operator: _Token, operand: _Token) -> Predicate:
        value = operand.value
        if operator.value in ("-like", "-notlike"):
            if not isinstance(value, str):
                raise OpathError(self.text, operand.position, "-like needs a string value")
            if "*" in value.strip("*"):
                raise OpathError(
                    self.text, operand.position, "Wildcards are allowed only at the start or end"
                )
            match = _like(value)
        else:
            match = _equals(value)
        negate = operator.value in ("-ne", "-notlike")

        def predicate(values: Mapping[str, Any]) -> bool:
            found = any(match(item) for item in _items(_lookup(values, name)))
            return found != negate

        return predicate


def _lookup(values: Mapping[str, Any], name: str) -> Any:
    if name in values:
        return values[name]
    wanted = name.casefold()
    for key, value in values.items():
        if key.casefold() == wanted:
            return value
    return None


def _items(value: Any) -> list[Any]:
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def _like(pattern: str) -> Callable[[Any], bool]:
    core = pattern.strip("*").casefold()
    leading = pattern.startswith("*")
    trailing = pattern.endswith("*") and len(pattern) > 1

    def match(item: Any) -> bool:
        if item is None:
            return False
        text = str(item).casefold()
        if leading and trailing:
            return core in text
        if leading:
            return text.endswith(core)
        if trailing:
            return text.startswith(core)
        return text == core

    return match


def _equals(expected: Any) -> Callable[[Any], bool]:
    def match(item: Any) -> bool:
        if isinstance(expected, str) and item is not None and not isinstance(item, bool):
            return str(item).casefold() == expected.casefold()
        return bool(item == expected)

    return match


def _either(left: Predicate, right: Predicate) -> Predicate:
    return lambda values: left(values) or right(values)


def _both(left: Predicate, right: Predicate) -> Predicate:
    return lambda values: left(values) and right(values)


def compile_filter(text: str) -> Predicate:
    """Compile an OPATH filter into a predicate over a property mapping.

    Raises:
        OpathError: The filter is malformed or uses an operator the lab does not support.
    """
    return _Parser(text).parse()
