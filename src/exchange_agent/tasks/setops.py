"""Set arguments shared by tasks: add to, remove from, or exactly match a multi-valued property.

A playbook may write ``permission_groups: [A, B]`` (exact) or
``permission_groups: {add: [A], remove: [B]}``; both forms become a :class:`SetSpec`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, model_validator

T = TypeVar("T")


class SetSpec(BaseModel, Generic[T]):
    """Desired members of a multi-valued property: ``exact``, or ``add`` and ``remove``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    add: tuple[T, ...] = ()
    remove: tuple[T, ...] = ()
    exact: tuple[T, ...] | None = None

    @model_validator(mode="before")
    @classmethod
    def _accept_plain_list(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return {"exact": list(value)}
        return value

    @model_validator(mode="after")
    def _check_combination(self) -> SetSpec[T]:
        if self.exact is not None and (self.add or self.remove):
            raise ValueError("use either exact, or add and remove, not both")
        if self.exact is None and not self.add and not self.remove:
            raise ValueError("give exact, add or remove")
        both = set(self.add) & set(self.remove)
        if both:
            raise ValueError(f"listed in both add and remove: {', '.join(map(str, both))}")
        return self

    def apply(self, current: Iterable[T], key: Callable[[T], Any] = lambda item: item) -> list[T]:
        """Return the desired members given the ``current`` ones, keeping current order.

        ``key`` maps members to what makes two of them equal (for example a case-folded name).
        """
        current_list = list(current)
        if self.exact is not None:
            return _unique(self.exact, key)
        removed = {key(item) for item in self.remove}
        kept = [item for item in current_list if key(item) not in removed]
        present = {key(item) for item in kept}
        return kept + [item for item in _unique(self.add, key) if key(item) not in present]


def _unique(items: Iterable[T], key: Callable[[T], Any]) -> list[T]:
    seen: set[Any] = set()
    result = []
    for item in items:
        if key(item) not in seen:
            seen.add(key(item))
            result.append(item)
    return result


def same_members(left: Iterable[T], right: Iterable[T], key: Callable[[T], Any]) -> bool:
    """True when both have the same members under ``key``, ignoring order and repeats."""
    return {key(item) for item in left} == {key(item) for item in right}
