"""Fault injection and request counters for the lab server, safe to change from any thread."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass

from exchange_agent.lab.server._wsman import FAULT_THROTTLED

__all__ = ["Injection", "Knobs", "throttled_message"]

_MAX_SECONDS = 60.0
_MAX_COUNT = 1000
_ACTIONS = frozenset({"Create", "Command", "Send", "Receive", "Signal", "Delete"})


@dataclass
class Injection:
    """One pending fault: what happens to the next ``remaining`` matching requests."""

    kind: str  # "drop", "status", "fault" or "hang"
    remaining: int
    action: str | None = None
    skip: int = 0
    status: int = 0
    code: int = 0
    message: str = ""
    seconds: float = 0.0


def _bounded_count(count: int, name: str) -> int:
    if not 1 <= count <= _MAX_COUNT:
        raise ValueError(f"expected {name} between 1 and {_MAX_COUNT}, found {count}")
    return count


def _bounded_seconds(seconds: float, name: str) -> float:
    if not 0.0 <= seconds <= _MAX_SECONDS:
        raise ValueError(f"expected {name} between 0 and {_MAX_SECONDS} seconds, found {seconds}")
    return seconds


def _checked_action(action: str | None) -> str | None:
    if action is not None and action not in _ACTIONS:
        raise ValueError(
            f"expected action to be one of {', '.join(sorted(_ACTIONS))} or None, found {action!r}"
        )
    return action


class Knobs:
    """Latency, dropped connections, HTTP errors, WSMan faults and hung Receives on demand.

    Each ``*_next`` method queues an injection for the next ``count`` requests, optionally only
    requests of one WS-Management ``action`` (``"Create"``, ``"Command"``, ``"Send"``,
    ``"Receive"``, ``"Signal"``, ``"Delete"``). Values are bounded so that a test typo cannot
    hang the suite: at most 60 seconds and 1,000 requests.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latency = 0.0
        self._injections: list[Injection] = []
        self._counters: Counter[str] = Counter()

    @property
    def latency(self) -> float:
        """Seconds added before every response."""
        with self._lock:
            return self._latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        with self._lock:
            self._latency = _bounded_seconds(seconds, "latency")

    def drop_next(self, count: int = 1, *, action: str | None = None, skip: int = 0) -> None:
        """Close the connection without a response on matching requests, after ``skip`` pass."""
        self._add(Injection("drop", _bounded_count(count, "count"), _checked_action(action), skip))

    def status_next(self, status: int, count: int = 1, *, action: str | None = None) -> None:
        """Respond to matching requests with HTTP ``status`` (such as 500 or 503) and no body."""
        if not 400 <= status <= 599:
            raise ValueError(f"expected an HTTP error status 400-599, found {status}")
        injection = Injection("status", _bounded_count(count, "count"), _checked_action(action))
        injection.status = status
        self._add(injection)

    def fault_next(
        self, code: int, message: str, count: int = 1, *, action: str | None = None
    ) -> None:
        """Respond to matching requests with HTTP 500 and a WSMan fault of ``code``."""
        injection = Injection("fault", _bounded_count(count, "count"), _checked_action(action))
        injection.code = code
        injection.message = message
        self._add(injection)

    def throttle_next(self, count: int = 1, *, action: str | None = "Create") -> None:
        """Respond to matching requests with the per-user shell quota fault WinRM sends."""
        self.fault_next(FAULT_THROTTLED, throttled_message(18), count, action=action)

    def hang_next(self, seconds: float, count: int = 1) -> None:
        """Hold the next ``count`` Receive requests for ``seconds`` before they are served."""
        injection = Injection("hang", _bounded_count(count, "count"), "Receive")
        injection.seconds = _bounded_seconds(seconds, "seconds")
        self._add(injection)

    def reset(self) -> None:
        """Remove latency and every pending injection; keep the counters."""
        with self._lock:
            self._latency = 0.0
            self._injections.clear()

    def counters(self) -> dict[str, int]:
        """Return a copy of the counters: ``requests``, one per action, and one per injection."""
        with self._lock:
            return dict(self._counters)

    def _add(self, injection: Injection) -> None:
        with self._lock:
            self._injections.append(injection)

    def count(self, name: str) -> None:
        """Increment counter ``name``."""
        with self._lock:
            self._counters[name] += 1

    def take(self, action: str | None) -> Injection | None:
        """Consume and return the first injection matching a request of ``action``."""
        with self._lock:
            for injection in self._injections:
                if injection.action is not None and injection.action != action:
                    continue
                if injection.skip > 0:
                    injection.skip -= 1
                    return None
                injection.remaining -= 1
                if injection.remaining <= 0:
                    self._injections.remove(injection)
                self._counters[f"injected_{injection.kind}"] += 1
                return injection
            return None


def throttled_message(limit: int) -> str:
    """Return WinRM's message for a user over the per-user shell quota."""
    return (
        f"This user is allowed a maximum number of {limit} concurrent shells, which has been "
        "exceeded. Close existing shells or raise the quota for this user."
    )
