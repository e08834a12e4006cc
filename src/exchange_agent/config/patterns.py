"""Host patterns as Ansible users write them: names, groups, globs, ``!`` and ``&``."""

from __future__ import annotations

import fnmatch
import re

from exchange_agent.config.inventory import Inventory
from exchange_agent.errors import ConfigError


def select_hosts(inventory: Inventory, pattern: str, limit: str | None = None) -> list[str]:
    """Return the host names that ``pattern`` (and ``limit``, if given) select, in file order.

    Terms are separated by ``,`` or ``:``. A term is ``all``, a host or group name, or a
    glob. ``!term`` removes hosts, and ``&term`` keeps only hosts also in the term.

    Raises:
        ConfigError: A term matches no host.
    """
    selected = _apply(inventory, pattern)
    if limit:
        allowed = set(_apply(inventory, limit))
        selected = [name for name in selected if name in allowed]
    return selected


def _apply(inventory: Inventory, pattern: str) -> list[str]:
    order = list(inventory.hosts)
    chosen: set[str] = set()
    terms = [term.strip() for term in re.split(r"[,:]", pattern) if term.strip()]
    if not terms:
        raise ConfigError(f"empty host pattern {pattern!r}")
    positive = [term for term in terms if term[0] not in "!&"]
    if not positive:
        chosen = set(order)
    for term in positive:
        chosen |= _match(inventory, term)
    for term in terms:
        if term.startswith("&"):
            chosen &= _match(inventory, term[1:])
        elif term.startswith("!"):
            chosen -= _match(inventory, term[1:])
    return [name for name in order if name in chosen]


def _match(inventory: Inventory, term: str) -> set[str]:
    if term in {"all", "*"}:
        return set(inventory.hosts)
    if term in inventory.groups:
        return set(inventory.groups[term])
    if term in inventory.hosts:
        return {term}
    matched = {name for name in inventory.hosts if fnmatch.fnmatchcase(name, term)}
    for group, members in inventory.groups.items():
        if fnmatch.fnmatchcase(group, term):
            matched |= set(members)
    if not matched:
        known = ", ".join([*inventory.groups, *inventory.hosts])
        raise ConfigError(f"host pattern {term!r} matches no host or group; known: {known}")
    return matched
